//! Events expire (kube-apiserver's `--event-ttl`, default 1 hour). kube-apiserver writes each
//! Event under an etcd lease of that length, renewed by every write; the `Store` trait has no
//! leases, so a sweep does the same from the Event's own times: an Event whose last
//! occurrence (or, without one, its creation) is older than the TTL is deleted. Without it
//! Events are never removed, and every watch cache keeps them all.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{CasOutcome, Store};

/// The default `--event-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Keys read per page while sweeping.
const PAGE: i64 = 500;

/// When an Event (as stored, either API group's form) last happened: the latest of its times.
pub fn last_seen(event: &Value) -> Option<DateTime<Utc>> {
    let paths: [&[&str]; 6] = [
        &["lastTimestamp"],
        &["eventTime"],
        &["series", "lastObservedTime"],
        &["deprecatedLastTimestamp"],
        &["firstTimestamp"],
        &["metadata", "creationTimestamp"],
    ];
    paths
        .iter()
        .filter_map(|path| {
            let field = path.iter().try_fold(event, |v, k| v.get(k))?;
            DateTime::parse_from_rfc3339(field.as_str()?).ok()
        })
        .map(|t| t.with_timezone(&Utc))
        .max()
}

/// Whether the stored Event `value` has outlived `ttl` at `now`. An Event without any time is
/// kept (nothing says how old it is).
pub fn expired(value: &[u8], now: DateTime<Utc>, ttl: Duration) -> bool {
    let Ok(event) = serde_json::from_slice::<Value>(value) else {
        return false;
    };
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    last_seen(&event).is_some_and(|seen| now - seen > ttl)
}

/// Deletes the expired Events under `prefix` (`/registry/events/`) once; the number deleted.
/// An Event written again since it was read is left for the next sweep.
pub async fn sweep(
    store: &dyn Store,
    prefix: &str,
    ttl: Duration,
) -> Result<usize, super::StoreError> {
    let now = Utc::now();
    let (mut start, mut deleted) = (String::new(), 0);
    loop {
        let page = store.list(prefix, &start, 0, PAGE).await?;
        for kv in page.items.iter().filter(|kv| expired(&kv.value, now, ttl)) {
            if let CasOutcome::Done { .. } = store.delete(&kv.key, kv.mod_revision).await? {
                deleted += 1;
            }
        }
        match (page.more, page.items.last()) {
            (true, Some(last)) => start = format!("{}\0", last.key),
            _ => return Ok(deleted),
        }
    }
}

/// Sweeps every `ttl / 10` (at most every minute), forever; spawn it and abort the task to
/// stop. A zero TTL keeps Events for good.
pub async fn run(store: Arc<dyn Store>, prefix: String, ttl: Duration) {
    if ttl.is_zero() {
        return;
    }
    let mut ticker = tokio::time::interval((ttl / 10).min(Duration::from_secs(60)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match sweep(store.as_ref(), &prefix, ttl).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired events deleted"),
            Err(e) => tracing::warn!(error = %e, "event expiry failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::storage::MemoryStore;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_event_is_as_old_as_its_latest_occurrence() {
        let core = json!({"metadata": {"creationTimestamp": "2026-12-06T10:00:00Z"},
            "firstTimestamp": "2026-12-06T10:00:00Z", "lastTimestamp": "2026-12-06T11:30:00Z"});
        assert_eq!(last_seen(&core), Some(at("2026-12-06T11:30:00Z")));
        let series = json!({"eventTime": "2026-12-06T10:00:00.000000Z",
            "series": {"count": 3, "lastObservedTime": "2026-12-06T10:45:00.000000Z"}});
        assert_eq!(last_seen(&series), Some(at("2026-12-06T10:45:00Z")));
        assert_eq!(last_seen(&json!({"reason": "x"})), None);
    }

    #[test]
    fn only_events_past_the_ttl_expire() {
        let now = at("2026-12-06T12:00:00Z");
        let hour = Duration::from_secs(3600);
        let old = br#"{"lastTimestamp": "2026-12-06T10:59:59Z"}"#;
        let recent = br#"{"lastTimestamp": "2026-12-06T11:00:01Z"}"#;
        assert!(expired(old, now, hour));
        assert!(!expired(recent, now, hour));
        assert!(!expired(b"{}", now, hour), "no time: kept");
        assert!(!expired(b"not json", now, hour));
    }

    /// Over more than one page: every expired Event goes, the others and other resources stay.
    #[tokio::test]
    async fn a_sweep_deletes_expired_events_only() {
        let store = MemoryStore::new();
        let old = (Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
        let new = Utc::now().to_rfc3339();
        for i in 0..(PAGE + 20) {
            let t = if i % 2 == 0 { &old } else { &new };
            let value = json!({"metadata": {"name": format!("e{i}")}, "lastTimestamp": t});
            let key = format!("/registry/events/default/e{i:04}");
            store
                .create(&key, Bytes::from(value.to_string()))
                .await
                .unwrap();
        }
        let lease = json!({"metadata": {"creationTimestamp": old}});
        store
            .create("/registry/leases/default/l", Bytes::from(lease.to_string()))
            .await
            .unwrap();
        let deleted = sweep(&store, "/registry/events/", DEFAULT_TTL)
            .await
            .unwrap();
        assert_eq!(deleted, 260);
        let left = store.list("/registry/events/", "", 0, 0).await.unwrap();
        assert_eq!(left.items.len(), 260);
        assert!(store
            .get("/registry/leases/default/l")
            .await
            .unwrap()
            .is_some());
    }
}
