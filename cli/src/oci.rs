//! OCI image archives written without Docker: a directory becomes one uncompressed layer, and the
//! archive (OCI image layout in a tar: `oci-layout`, `index.json`, `blobs/sha256/…`) imports into
//! containerd with `ctr -n k8s.io images import`, which is how images reach a CRI node here (no
//! registry can be reached). The index names the image with containerd's
//! `io.containerd.image.name` annotation, so it is stored under its full reference.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What runs in the image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// The full reference, e.g. `docker.io/flotilla/web:latest`.
    pub name: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// `flotilla/web:latest` → `docker.io/flotilla/web:latest` (how CRI names what it looks up);
/// a reference with a registry host (`localhost/…`, `host:5000/…`) is kept.
pub fn full_reference(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or_default();
    let has_host = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    let named = if has_host {
        reference.to_string()
    } else if reference.contains('/') {
        format!("docker.io/{reference}")
    } else {
        format!("docker.io/library/{reference}")
    };
    let last = named.rsplit('/').next().unwrap_or_default();
    if last.contains(':') || last.contains('@') {
        named
    } else {
        format!("{named}:latest")
    }
}

fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The layer: `rootfs` as a tar with fixed owners and times (the same tree, the same digest).
pub fn layer(rootfs: &Path) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(true);
    tar.append_dir_all(".", rootfs)
        .map_err(|e| anyhow::anyhow!("packing {}: {e}", rootfs.display()))?;
    Ok(tar.into_inner()?)
}

/// The image config blob for one layer.
pub fn config_json(image: &ImageConfig, diff_id: &str) -> serde_json::Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    json!({
        "architecture": arch,
        "os": "linux",
        "config": {
            "Entrypoint": image.entrypoint,
            "Cmd": image.cmd,
            "Env": [PATH_ENV],
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    })
}

fn append(tar: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, path, data)?;
    Ok(())
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// Writes the OCI archive of `rootfs` run as `image` to `out`.
pub fn write_archive(rootfs: &Path, image: &ImageConfig, out: &Path) -> anyhow::Result<()> {
    let layer = layer(rootfs)?;
    let layer_digest = digest(&layer);
    let config = serde_json::to_vec(&config_json(image, &layer_digest))?;
    let config_digest = digest(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": { "mediaType": CONFIG, "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": LAYER, "digest": layer_digest, "size": layer.len() }],
    }))?;
    let manifest_digest = digest(&manifest);
    let tag = image.name.rsplit(':').next().unwrap_or("latest");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {
                "io.containerd.image.name": image.name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    }))?;
    let file = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", out.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    append(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append(&mut tar, "index.json", &index)?;
    append(&mut tar, &blob_path(&manifest_digest), &manifest)?;
    append(&mut tar, &blob_path(&config_digest), &config)?;
    append(&mut tar, &blob_path(&layer_digest), &layer)?;
    tar.into_inner()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_completed_as_cri_names_them() {
        assert_eq!(
            full_reference("flotilla/web:latest"),
            "docker.io/flotilla/web:latest"
        );
        assert_eq!(
            full_reference("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full_reference("localhost/pause:1"), "localhost/pause:1");
        assert_eq!(
            full_reference("registry.local:5000/a/b"),
            "registry.local:5000/a/b:latest"
        );
    }

    #[test]
    fn archive_holds_a_layout_whose_blobs_match_their_digests() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::write(rootfs.join("bin/hello"), b"hi").unwrap();
        let image = ImageConfig {
            name: "docker.io/flotilla/t:1".into(),
            entrypoint: vec!["/bin/hello".into()],
            cmd: vec![],
        };
        let out = dir.path().join("t.tar");
        write_archive(&rootfs, &image, &out).unwrap();
        let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
        let mut names = Vec::new();
        let mut index = serde_json::Value::Null;
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                assert_eq!(digest(&data), format!("sha256:{hex}"), "{name}");
            }
            if name == "index.json" {
                index = serde_json::from_slice(&data).unwrap();
            }
            names.push(name);
        }
        assert_eq!(&names[..2], ["oci-layout", "index.json"]);
        assert_eq!(names.len(), 5);
        let m = &index["manifests"][0];
        assert_eq!(
            m["annotations"]["io.containerd.image.name"],
            "docker.io/flotilla/t:1"
        );
        // The same tree gives the same layer digest (fixed owners and times).
        assert_eq!(
            digest(&layer(&rootfs).unwrap()),
            digest(&layer(&rootfs).unwrap())
        );
    }
}
