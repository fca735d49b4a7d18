//! An object's JSON kept compressed against a sample of its kind. Objects of one resource are
//! nearly alike (a task differs from its siblings in its name, uids, node and times), so zstd
//! with another object as a raw-content dictionary keeps a ~1.9 KB task in ~150 bytes, where
//! alone it would take ~770. The watch cache packs the objects nobody has written for a while
//! ([`super::cold`]); readers unpack them per use (docs/benchmark.md, "Cold objects").

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use zstd::zstd_safe::{compress_bound, CCtx, CDict, DCtx, DDict};

/// zstd's default level: on objects this small, higher levels gain little.
const LEVEL: i32 = 3;

/// A sample whose objects packed to more than this share of their size is replaced by a newer
/// object at the next sweep (the resource's objects changed shape).
const RENEW_ABOVE: f64 = 0.15;

thread_local! {
    /// One decompression context per thread (~100 KB each): unpacking a list makes no context
    /// per object.
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// The object packed JSON was compressed against, prepared for decompression.
pub struct Sample {
    ddict: DDict<'static>,
}

/// One object's packed JSON.
pub struct Packed {
    data: Box<[u8]>,
    len: u32,
    sample: Arc<Sample>,
}

impl Packed {
    /// The JSON again, in a buffer of its length.
    pub fn unpack(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.len as usize);
        let written = DCTX.with(|d| {
            d.borrow_mut()
                .decompress_using_ddict(&mut out, &self.data, &self.sample.ddict)
        });
        assert_eq!(
            written,
            Ok(self.len as usize),
            "a packed object unpacks with its sample"
        );
        Bytes::from(out)
    }

    /// Bytes held (the sample not counted: many objects share it).
    #[cfg(test)]
    pub fn size(&self) -> usize {
        self.data.len()
    }
}

/// Packs objects against one sample, and says when the sample stopped fitting.
pub struct Packer {
    cctx: CCtx<'static>,
    cdict: CDict<'static>,
    sample: Arc<Sample>,
    plain: usize,
    packed: usize,
}

impl Packer {
    pub fn new(sample: &[u8]) -> Packer {
        Packer {
            cctx: CCtx::create(),
            cdict: CDict::create(sample, LEVEL),
            sample: Arc::new(Sample {
                ddict: DDict::create(sample),
            }),
            plain: 0,
            packed: 0,
        }
    }

    /// `json` packed, or `None` when that would not make it smaller.
    pub fn pack(&mut self, json: &[u8]) -> Option<Packed> {
        let len = u32::try_from(json.len()).ok()?;
        let mut out = Vec::with_capacity(compress_bound(json.len()));
        let n = self
            .cctx
            .compress_using_cdict(&mut out, json, &self.cdict)
            .ok()?;
        self.plain += json.len();
        self.packed += n.min(json.len());
        (n < json.len()).then(|| Packed {
            data: out.into_boxed_slice(),
            len,
            sample: self.sample.clone(),
        })
    }

    /// Bytes given and bytes kept since the last [`Packer::fits`].
    pub fn totals(&self) -> (usize, usize) {
        (self.plain, self.packed)
    }

    /// Whether what was packed since the last call shrank well enough to keep this sample.
    pub fn fits(&mut self) -> bool {
        let ratio = self.packed as f64 / self.plain.max(1) as f64;
        (self.plain, self.packed) = (0, 0);
        ratio <= RENEW_ABOVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, node: &str) -> Vec<u8> {
        format!(
            r#"{{"apiVersion":"flotilla.dev/v1alpha1","kind":"Task","metadata":{{"name":"{name}","namespace":"default","labels":{{"flotilla.dev/service":"web"}}}},"spec":{{"nodeName":"{node}","serviceName":"web","template":{{"containerSpec":{{"image":"nginx:1","stopGracePeriod":"10s"}}}}}},"status":{{"state":"Running","message":"started"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn an_object_unpacks_to_its_json() {
        let mut packer = Packer::new(&task("web.1.a", "n1"));
        let json = task("web.2.b", "n7");
        let packed = packer.pack(&json).expect("alike objects pack");
        assert!(
            packed.size() * 4 < json.len(),
            "{} of {}",
            packed.size(),
            json.len()
        );
        assert_eq!(&packed.unpack()[..], &json[..]);
        assert!(packer.fits());
    }

    #[test]
    fn what_would_not_shrink_stays_plain_and_the_sample_is_renewed() {
        let mut packer = Packer::new(&task("web.1.a", "n1"));
        assert!(packer.pack(b"{}").is_none());
        let unlike: Vec<u8> = (0..600u32).flat_map(|i| i.to_le_bytes()).collect();
        let _ = packer.pack(&unlike);
        assert!(
            !packer.fits(),
            "objects unlike the sample call for a new one"
        );
    }
}
