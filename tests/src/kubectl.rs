//! The machine's real kubectl binaries (1.27 … 1.33), run against a test server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where Debian's google-cloud-sdk puts versioned kubectl binaries.
const SDK_BIN: &str = "/usr/lib/google-cloud-sdk/bin";

/// Path of kubectl `1.<minor>`, or `None` when it is not installed here.
pub fn kubectl_path(minor: u32) -> Option<PathBuf> {
    let p = Path::new(SDK_BIN).join(format!("kubectl.1.{minor}"));
    p.exists().then_some(p)
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
