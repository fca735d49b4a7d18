//! The example image `flotilla/web:latest`, built locally (no registry is reachable): a
//! `FROM scratch` image with Debian's static busybox serving a page with `httpd`.

use std::path::Path;
use std::process::{Command, Stdio};

pub const WEB_IMAGE: &str = "flotilla/web:latest";
const BUSYBOX: &str = "/bin/busybox";

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
    std::fs::write(
        dir.join("www/index.html"),
        "<h1>Hello from a Flotilla task</h1>\n",
    )?;
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\n\
         CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
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
