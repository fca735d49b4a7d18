//! Flotilla's revisions over etcd. Concurrent writes are group-committed into one etcd Txn
//! ([`super::etcd_batch`]), so several keys can share one etcd revision. Kubernetes clients resume
//! watches from the last object's resourceVersion, so two objects must never share one: a client
//! cut off between them would skip the second. The store's revision is therefore
//!
//! `etcd revision × 1000 + the write's position in its Txn` (0 for a write alone),
//!
//! e.g. resourceVersion `5123002` is the third write of etcd revision 5123. A write at position
//! `p > 0` keeps `p` in its stored value as a two-byte frame (`0x00, p`) that [`unframe`] strips:
//! no JSON object, `k8s:enc:` envelope or protobuf `k8s\0` value starts with a zero byte. A write
//! alone (position 0, every write of an idle server) is stored exactly as kube-apiserver stores it.

/// Store revisions per etcd revision (an etcd Txn holds at most `--max-txn-ops`, 128 by default).
pub const PER_ETCD_REVISION: i64 = 1000;

/// The store revision of the write at `position` of etcd revision `etcd`.
pub fn store_revision(etcd: i64, position: i64) -> i64 {
    etcd * PER_ETCD_REVISION + position
}

/// The etcd revision a store revision belongs to.
pub fn etcd_revision(store: i64) -> i64 {
    store.div_euclid(PER_ETCD_REVISION)
}

/// The last store revision of etcd revision `etcd`: what "everything up to `etcd`" reads as.
pub fn end_of(etcd: i64) -> i64 {
    store_revision(etcd, PER_ETCD_REVISION - 1)
}

/// The first etcd revision a watch for events after store revision `after` must start from:
/// the same etcd revision when `after` is inside it (later positions are still to come).
pub fn watch_start(after: i64) -> i64 {
    let etcd = etcd_revision(after);
    let start = if after == end_of(etcd) {
        etcd + 1
    } else {
        etcd
    };
    start.max(1)
}

/// The value to store for the write at `position` of a Txn.
pub fn frame(position: usize, value: &[u8]) -> Vec<u8> {
    if position == 0 {
        return value.to_vec();
    }
    let mut framed = Vec::with_capacity(value.len() + 2);
    framed.push(0);
    framed.push(u8::try_from(position).expect("a Txn holds at most 255 writes"));
    framed.extend_from_slice(value);
    framed
}

/// A stored value and the position of its write, frame removed.
pub fn unframe(stored: &[u8]) -> (&[u8], i64) {
    match stored {
        [0, position, rest @ ..] => (rest, i64::from(*position)),
        _ => (stored, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_keep_etcd_order_and_position() {
        assert_eq!(store_revision(5123, 2), 5_123_002);
        assert_eq!(etcd_revision(5_123_002), 5123);
        assert!(store_revision(7, 999) < store_revision(8, 0));
        assert_eq!(end_of(7), 7_999);
    }

    #[test]
    fn watches_resume_inside_a_txn_or_after_it() {
        // After the second write of revision 7, revision 7 may still hold later positions.
        assert_eq!(watch_start(7_001), 7);
        assert_eq!(watch_start(7_000), 7);
        // After all of revision 7 (a list's revision), the next one.
        assert_eq!(watch_start(end_of(7)), 8);
        // From the beginning: etcd's first revision (0 would mean "from now").
        assert_eq!(watch_start(0), 1);
    }

    #[test]
    fn only_later_positions_are_framed() {
        assert_eq!(frame(0, b"{}"), b"{}".to_vec());
        assert_eq!(unframe(b"{}"), (&b"{}"[..], 0));
        let framed = frame(3, b"k8s:enc:aesgcm:v1:key1:x");
        assert_eq!(&framed[..2], &[0, 3]);
        assert_eq!(unframe(&framed), (&b"k8s:enc:aesgcm:v1:key1:x"[..], 3));
        assert_eq!(unframe(b""), (&b""[..], 0));
    }
}
