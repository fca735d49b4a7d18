//! `flotilla images`: one container image per binary, built locally. No registry is reachable and
//! no musl target exists, so each image is `FROM scratch` with the glibc-linked binary plus exactly
//! the shared libraries `ldd` lists (the loader included), copied to the same absolute paths so the
//! binary's interpreter and the loader's search path find them unchanged. The component images
//! run as an unprivileged user ([`RUN_AS`]) that owns the directories their volumes mount on.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where every binary sits inside its image.
pub const BIN_PATH: &str = "/usr/local/bin";
/// Debian's etcd (package `etcd-server`), dynamically linked against glibc.
pub const DEBIAN_ETCD: &str = "/usr/bin/etcd";
/// `UID:GID` of the component images (distroless' `nonroot`): no name, no shell, no rights
/// beyond its own directories. `flotilla certs --run-as` hands it the credentials it reads.
pub const RUN_AS: &str = "65532:65532";
/// Directories owned by [`RUN_AS`] (mode 0700): a fresh named volume mounted on one starts
/// with that owner and mode, so etcd can write its data, and a node agent the certificate it
/// joined with (`--cert-dir`'s default), as that user.
const OWNED_DIRS: [&str; 3] = ["var/lib/flotilla", "var/lib/etcd", "var/lib/flotilla-agent"];

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
    /// `USER` of the image; `None` runs as root (the `flotilla` command: `certs` hands each
    /// component's directory to [`RUN_AS`]).
    pub user: Option<&'static str>,
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
            user: (*name != "flotilla").then_some(RUN_AS),
        })
        .collect();
    specs.push(ImageSpec {
        name: "etcd",
        binary: etcd.to_path_buf(),
        user: Some(RUN_AS),
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

/// Writes the build context of `spec` into `dir`: `rootfs/` (binary, libraries, a
/// world-writable `/tmp`), `owned/` (the empty directories volumes mount on) and a `Dockerfile`.
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
    let tmp = rootfs.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777))?;
    for owned in OWNED_DIRS {
        let path = dir.join("owned").join(owned);
        std::fs::create_dir_all(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::write(dir.join("Dockerfile"), dockerfile(spec, &in_image))?;
    Ok(())
}

/// `FROM scratch`, the files, the volume directories owned by the image's user (root when it
/// has none), that user, the binary.
pub fn dockerfile(spec: &ImageSpec, binary: &Path) -> String {
    let owner = spec.user.unwrap_or("0:0");
    let mut lines = vec!["FROM scratch".to_string(), "COPY rootfs/ /".to_string()];
    for owned in OWNED_DIRS {
        lines.push(format!("COPY --chown={owner} owned/{owned} /{owned}"));
    }
    if let Some(user) = spec.user {
        lines.push(format!("USER {user}"));
    }
    lines.push(format!("ENTRYPOINT [\"{}\"]", binary.display()));
    lines.join("\n") + "\n"
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
    // The example service's image, which a cluster elsewhere (kind) must be given too.
    let work = tempfile::Builder::new().prefix("flotilla-web").tempdir()?;
    crate::up::image::ensure_web_image(work.path())?;
    println!("built {}", crate::up::image::WEB_IMAGE);
    Ok(())
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
