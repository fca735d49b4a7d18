//! The example image `flotilla/web:latest`, built locally (no registry is reachable): a
//! `FROM scratch` image with Debian's static busybox serving a page with `httpd`. For CRI nodes
//! the same image, and the pod sandbox's pause image (busybox sleeping), are written as OCI
//! archives without Docker ([`export_cri_images`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::containerd::PAUSE_IMAGE;
use crate::oci::{full_reference, write_archive, ImageConfig};

pub const WEB_IMAGE: &str = "flotilla/web:latest";
const BUSYBOX: &str = "/bin/busybox";
const INDEX_HTML: &str = "<h1>Hello from a Flotilla task</h1>\n";
const WEB_CMD: [&str; 7] = ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"];

/// True when a Docker engine answers.
pub fn docker_available() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds the web image unless it exists.
pub fn ensure_web_image(work: &Path) -> anyhow::Result<()> {
    let exists = Command::new("docker")
        .args(["image", "inspect", WEB_IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success();
    if exists {
        return Ok(());
    }
    anyhow::ensure!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install busybox-static"
    );
    let dir = work.join("web-image");
    std::fs::create_dir_all(dir.join("www"))?;
    std::fs::copy(BUSYBOX, dir.join("busybox"))?;
    std::fs::write(dir.join("www/index.html"), INDEX_HTML)?;
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\nCMD {}\n",
            serde_json::to_string(&WEB_CMD)?
        ),
    )?;
    let out = Command::new("docker")
        .args(["build", "-q", "-t", WEB_IMAGE])
        .arg(&dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker build of {WEB_IMAGE} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("  built image {WEB_IMAGE}");
    Ok(())
}

/// Writes the pause image and the example web image as OCI archives into `out`
/// (`pause.tar`, `web.tar`), ready for `ctr -n k8s.io images import`; returns their paths.
pub fn export_cri_images(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install busybox-static"
    );
    std::fs::create_dir_all(out)?;
    let work = tempfile::Builder::new().prefix("flotilla-oci").tempdir()?;
    let pause = work.path().join("pause");
    std::fs::create_dir_all(pause.join("bin"))?;
    std::fs::copy(BUSYBOX, pause.join("bin/busybox"))?;
    let web = work.path().join("web");
    std::fs::create_dir_all(web.join("bin"))?;
    std::fs::create_dir_all(web.join("www"))?;
    std::fs::copy(BUSYBOX, web.join("bin/busybox"))?;
    std::fs::write(web.join("www/index.html"), INDEX_HTML)?;
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let images = [
        (
            &pause,
            ImageConfig {
                name: PAUSE_IMAGE.to_string(),
                // The sandbox's only process holds its namespaces; it never exits by itself.
                entrypoint: strings(&["/bin/busybox", "sleep", "inf"]),
                cmd: vec![],
            },
            "pause.tar",
        ),
        (
            &web,
            ImageConfig {
                name: full_reference(WEB_IMAGE),
                entrypoint: vec![],
                cmd: strings(&WEB_CMD),
            },
            "web.tar",
        ),
    ];
    let mut written = Vec::new();
    for (rootfs, config, file) in images {
        let path = out.join(file);
        write_archive(rootfs, &config, &path)?;
        written.push(path);
    }
    Ok(written)
}
