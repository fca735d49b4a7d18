//! The `flotilla-api-server` binary as a user starts it: flags in, an admin kubeconfig out
//! (`--write-kubeconfig`, written once serving), its log in a file. Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct ApiServerProcess {
    child: Child,
    pub kubeconfig: PathBuf,
    pub log: PathBuf,
}

impl ApiServerProcess {
    /// Starts the binary with `args` plus a loopback port and `--write-kubeconfig` under `dir`
    /// (its log replaces `dir/api-server.log`), and waits until it serves; `Err` with
    /// the log when it exits first.
    pub async fn start(dir: &Path, args: &[String]) -> Result<ApiServerProcess, String> {
        let kubeconfig = dir.join("kubeconfig");
        let _ = std::fs::remove_file(&kubeconfig);
        let log = dir.join("api-server.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_flotilla-api-server"))
            .args(args)
            .arg("--bind-address=127.0.0.1")
            .arg("--secure-port=0")
            .arg(format!("--write-kubeconfig={}", kubeconfig.display()))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("the api-server binary starts");
        let mut server = ApiServerProcess {
            child,
            kubeconfig,
            log,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !server.kubeconfig.exists() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("exited with {status}:\n{}", server.log_text()));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("no kubeconfig after 30s:\n{}", server.log_text()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL and wait: the restart a crash would cause.
    #[allow(dead_code)] // not every test binary including this module restarts a server
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ApiServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
