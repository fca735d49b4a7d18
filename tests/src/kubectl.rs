//! The machine's real kubectl binaries (1.27 … 1.33), run against a test server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where Debian's google-cloud-sdk puts versioned kubectl binaries.
const SDK_BIN: &str = "/usr/lib/google-cloud-sdk/bin";

/// Path of kubectl `1.<minor>`, or `None` when it is not installed here: the google-cloud-sdk's
/// versioned binary, else a plain `kubectl` of that minor version in the repository's `.tools/bin`
/// (where `scripts/prereqs.sh` puts one on a machine without the SDK) or on `PATH`.
pub fn kubectl_path(minor: u32) -> Option<PathBuf> {
    let p = Path::new(SDK_BIN).join(format!("kubectl.1.{minor}"));
    if p.exists() {
        return Some(p);
    }
    let tools = crate::tools::tools_bin().join("kubectl");
    [tools, PathBuf::from("kubectl")]
        .into_iter()
        .find(|bin| client_minor(bin) == Some(minor))
}

/// The client minor version a kubectl binary reports, if it runs.
fn client_minor(bin: &Path) -> Option<u32> {
    let out = Command::new(bin)
        .args(["version", "--client", "-o", "json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["clientVersion"]["minor"]
        .as_str()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

/// The versions of `wanted` installed here; each missing one is named on stderr, and at least
/// one must exist (`scripts/prereqs.sh` installs kubectl 1.33 where none does).
pub fn installed_versions(wanted: &[u32]) -> Vec<u32> {
    let found: Vec<u32> = wanted
        .iter()
        .copied()
        .filter(|&minor| {
            let ok = kubectl_path(minor).is_some();
            if !ok {
                eprintln!("kubectl 1.{minor} is not installed here: skipped");
            }
            ok
        })
        .collect();
    assert!(
        !found.is_empty(),
        "none of kubectl {wanted:?} is installed: run scripts/prereqs.sh"
    );
    found
}

/// The result of one kubectl run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless kubectl exited 0.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "kubectl failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// kubectl of one version with one kubeconfig and its own discovery cache.
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(minor: u32, kubeconfig: &Path) -> Option<Kubectl> {
        Some(Kubectl {
            bin: kubectl_path(minor)?,
            kubeconfig: kubeconfig.to_path_buf(),
            cache: tempfile::tempdir().ok()?,
        })
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!("--cache-dir={}", self.cache.path().display()))
            .arg("--request-timeout=20s")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs kubectl (blocking; call from `spawn_blocking` in async tests).
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("kubectl runs"))
    }

    /// Runs kubectl with `input` on stdin (for `apply -f -`).
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        Run::from(child.wait_with_output().expect("kubectl finishes"))
    }
}
