//! `flotilla images`: one container image per binary, built locally. No registry is reachable and
//! no musl target exists, so each image is `FROM scratch` with the glibc-linked binary plus exactly
//! the shared libraries `ldd` lists (the loader included), copied to the same absolute paths so the
//! binary's interpreter and the loader's search path find them unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where every binary sits inside its image.
pub const BIN_PATH: &str = "/usr/local/bin";
/// Debian's etcd (package `etcd-server`), dynamically linked against glibc.
pub const DEBIAN_ETCD: &str = "/usr/bin/etcd";

#[derive(Debug, Clone, clap::Args)]
pub struct ImagesOptions {
    /// Directory holding the workspace binaries (default: the one this `flotilla` runs from).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Tag of every image (`flotilla/<name>:<tag>`).
    #[arg(long, default_value = "dev")]
    pub tag: String,
    /// The etcd binary packed into `flotilla/etcd`.
    #[arg(long, default_value = DEBIAN_ETCD)]
    pub etcd: PathBuf,
    /// Instead of building with Docker, write the images a CRI node needs (the pause image and
    /// the example `flotilla/web:latest`) as OCI archives into this directory, for
    /// `ctr -n k8s.io images import`.
    #[arg(long)]
    pub oci_dir: Option<PathBuf>,
}

/// One image: `flotilla/<name>:<tag>` running `binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: &'static str,
    pub binary: PathBuf,
}

impl ImageSpec {
    pub fn reference(&self, tag: &str) -> String {
        format!("flotilla/{}:{tag}", self.name)
    }
}

/// The images of the container topology: the four components, the `flotilla` command (it
/// provisions certificates and kubeconfigs) and etcd.
pub fn image_specs(bin_dir: &Path, etcd: &Path) -> Vec<ImageSpec> {
    let ours = [
        ("api-server", "flotilla-api-server"),
        ("scheduler", "flotilla-scheduler"),
        ("controller-manager", "flotilla-controller-manager"),
        ("node-agent", "flotilla-node-agent"),
        ("flotilla", "flotilla"),
    ];
    let mut specs: Vec<ImageSpec> = ours
        .iter()
        .map(|(name, bin)| ImageSpec {
            name,
            binary: bin_dir.join(bin),
        })
        .collect();
    specs.push(ImageSpec {
        name: "etcd",
        binary: etcd.to_path_buf(),
    });
    specs
}

/// The files `ldd` output names: `name => /path (0x…)` and the loader's `/path (0x…)`; the
/// kernel's vDSO (no file) is skipped. A library `ldd` cannot find is an error, since the
/// image would not start.
pub fn parse_ldd(output: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for line in output.lines().map(str::trim) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                anyhow::ensure!(
                    !rest.starts_with("not found"),
                    "shared library {} not found",
                    name.trim()
                );
                rest
            }
            None => line,
        };
        if let Some(path) = target
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            files.push(PathBuf::from(path));
        }
    }
    Ok(files)
}

/// The shared libraries `binary` loads (empty for a static binary).
pub fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd").arg(binary).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // ldd exits 1 on a static binary ("not a dynamic executable"): nothing to copy.
        let stderr = String::from_utf8_lossy(&out.stderr);
        anyhow::ensure!(
            stdout.contains("statically linked") || stderr.contains("not a dynamic executable"),
            "ldd {} failed: {stderr}",
            binary.display()
        );
        return Ok(vec![]);
    }
    parse_ldd(&stdout)
}

/// Writes the build context of `spec` into `dir`: `rootfs/` (binary, libraries, empty `/tmp`
/// and `/var/lib/flotilla` for volumes) and a `Dockerfile`.
pub fn write_context(spec: &ImageSpec, dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        spec.binary.is_file(),
        "{} is missing (build the workspace binaries first: cargo build --workspace --bins)",
        spec.binary.display()
    );
    let rootfs = dir.join("rootfs");
    let file_name = spec
        .binary
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} has no file name", spec.binary.display()))?;
    let in_image = Path::new(BIN_PATH).join(file_name);
    let mut files = vec![(spec.binary.clone(), in_image.clone())];
    for lib in shared_libraries(&spec.binary)? {
        files.push((lib.clone(), lib));
    }
    for (from, to) in files {
        let dest = rootfs.join(to.strip_prefix("/")?);
        std::fs::create_dir_all(dest.parent().expect("an absolute path has a parent"))?;
        // fs::copy follows symlinks (the loader is one), so the image holds regular files.
        std::fs::copy(&from, &dest)
            .map_err(|e| anyhow::anyhow!("copying {}: {e}", from.display()))?;
    }
    for empty in ["tmp", "var/lib/flotilla"] {
        std::fs::create_dir_all(rootfs.join(empty))?;
    }
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"{}\"]\n",
        in_image.display()
    );
    std::fs::write(dir.join("Dockerfile"), dockerfile)?;
    Ok(())
}

/// Builds one image with the Docker CLI (as `up::image` builds the example image).
pub fn build_image(spec: &ImageSpec, tag: &str, work: &Path) -> anyhow::Result<String> {
    let dir = work.join(spec.name);
    let _ = std::fs::remove_dir_all(&dir);
    write_context(spec, &dir)?;
    let reference = spec.reference(tag);
    let out = Command::new("docker")
        .args(["build", "-q", "-t", &reference])
        .arg(&dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker build of {reference} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(reference)
}

/// Builds every image of [`image_specs`]; returns their references.
pub fn build_images(bin_dir: &Path, etcd: &Path, tag: &str) -> anyhow::Result<Vec<String>> {
    let work = tempfile::Builder::new()
        .prefix("flotilla-images")
        .tempdir()?;
    image_specs(bin_dir, etcd)
        .iter()
        .map(|spec| build_image(spec, tag, work.path()))
        .collect()
}

pub fn images(opts: ImagesOptions) -> anyhow::Result<()> {
    if let Some(dir) = &opts.oci_dir {
        for path in crate::up::image::export_cri_images(dir)? {
            println!("wrote {}", path.display());
        }
        return Ok(());
    }
    let bin_dir = match opts.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    for reference in build_images(&bin_dir, &opts.etcd, &opts.tag)? {
        println!("built {reference}");
    }
    let node = crate::node_image::build_node_image(&bin_dir, &opts.tag)?;
    println!("built {node}");
    Ok(())
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
