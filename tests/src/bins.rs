//! The workspace's binaries for end-to-end tests. Cargo only hands a test the binaries of its
//! own package (`CARGO_BIN_EXE_*`), so [`workspace_bins`] runs `cargo build --workspace --bins`
//! (what scripts/up.sh runs; a quick no-op when they are fresh) into the target directory the
//! test itself was built in, and returns the directory holding `flotilla`,
//! `flotilla-api-server`, … `FLOTILLA_BIN_DIR` names a directory to use instead (no build).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::OnceCell;

/// Bound on the build (a cold build of every binary on a small machine included).
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Why the binaries are not available.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("cannot tell the target directory from the test's path {0}")]
    TargetDir(String),
    #[error("`cargo build --workspace --bins` failed:\n{0}")]
    Build(String),
    #[error("`cargo build --workspace --bins` took longer than {0:?}")]
    Timeout(Duration),
    #[error("{0} is missing after the build")]
    Missing(String),
}

static BIN_DIR: OnceCell<Result<PathBuf, Error>> = OnceCell::const_new();

/// Builds (once per process) and returns the directory holding the workspace's binaries.
pub async fn workspace_bins() -> Result<PathBuf, Error> {
    BIN_DIR.get_or_init(build).await.clone()
}

async fn build() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("FLOTILLA_BIN_DIR") {
        return check(PathBuf::from(dir));
    }
    // <target>/<profile>/deps/<test binary>
    let exe = std::env::current_exe().map_err(|e| Error::TargetDir(e.to_string()))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| Error::TargetDir(exe.display().to_string()))?;
    let target = profile_dir
        .parent()
        .ok_or_else(|| Error::TargetDir(exe.display().to_string()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let child = tokio::process::Command::new(cargo)
        .args(["build", "--workspace", "--bins", "--profile", profile])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target)
        .kill_on_drop(true)
        .output();
    println!("building the workspace binaries into {}", target.display());
    let out = tokio::time::timeout(BUILD_TIMEOUT, child)
        .await
        .map_err(|_| Error::Timeout(BUILD_TIMEOUT))?
        .map_err(|e| Error::Build(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::Build(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    check(profile_dir.to_path_buf())
}

fn check(dir: PathBuf) -> Result<PathBuf, Error> {
    for bin in [
        "flotilla",
        "flotilla-api-server",
        "flotilla-scheduler",
        "flotilla-controller-manager",
        "flotilla-node-agent",
    ] {
        if !dir.join(bin).is_file() {
            return Err(Error::Missing(dir.join(bin).display().to_string()));
        }
    }
    Ok(dir)
}
