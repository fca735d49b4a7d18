//! Child processes of a cluster: started with their logs in the data dir, checked for early
//! exits, stopped in reverse order (SIGTERM, then a kill after a grace period). Whatever is
//! still running when the set is dropped (an error path, a failed test) is killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The exit code a component binary uses while it is not built yet (EX_UNAVAILABLE).
pub const NOT_IMPLEMENTED: i32 = 69;

pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    /// How it was started, so [`Procs::respawn`] can start it again.
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// A process [`Procs::kill`] ended, as it was started.
pub struct Stopped {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

#[derive(Default)]
pub struct Procs {
    running: Vec<Proc>,
}

impl Procs {
    /// Starts `program` with `args`, stdout and stderr to `<log_dir>/<name>.log` (appended, so
    /// a restarted process keeps the earlier log).
    pub fn spawn(
        &mut self,
        name: &str,
        program: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> anyhow::Result<()> {
        self.spawn_with_env(name, program, args, &[], log_dir)
    }

    /// [`Procs::spawn`] with extra environment variables (secrets stay out of `ps`).
    pub fn spawn_with_env(
        &mut self,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log_dir: &Path,
    ) -> anyhow::Result<()> {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {name} ({}): {e}", program.display()))?;
        println!(
            "  started {name:<22} pid {:<7} log {}",
            child.id(),
            log.display()
        );
        self.running.push(Proc {
            name: name.to_string(),
            child,
            log,
            program: program.to_path_buf(),
            args: args.to_vec(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        Ok(())
    }

    /// Process ids of the running processes, by name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.running
            .iter()
            .map(|p| (p.name.clone(), p.child.id()))
            .collect()
    }

    /// Kills the process called `name` at once (SIGKILL, a crash) and returns how to start it
    /// again with [`Procs::respawn`]; `None` if there is none.
    pub fn kill(&mut self, name: &str) -> Option<Stopped> {
        let i = self.running.iter().position(|p| p.name == name)?;
        let mut p = self.running.remove(i);
        let _ = p.child.kill();
        let _ = p.child.wait();
        println!("  killed {name}");
        Some(Stopped {
            name: p.name,
            program: p.program,
            args: p.args,
            env: p.env,
        })
    }

    /// Starts a killed process again, with the same program, flags and environment.
    pub fn respawn(&mut self, stopped: &Stopped, log_dir: &Path) -> anyhow::Result<()> {
        let env: Vec<(&str, &str)> = stopped
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.spawn_with_env(
            &stopped.name,
            &stopped.program,
            &stopped.args,
            &env,
            log_dir,
        )
    }

    /// Processes that have exited, with their exit code, removed from the set.
    pub fn exited(&mut self) -> Vec<(Proc, i32)> {
        let mut gone = Vec::new();
        let mut i = 0;
        while i < self.running.len() {
            match self.running[i].child.try_wait() {
                Ok(Some(status)) => {
                    let p = self.running.remove(i);
                    gone.push((p, status.code().unwrap_or(-1)));
                }
                _ => i += 1,
            }
        }
        gone
    }

    /// Stops the process called `name` (SIGTERM, kill after `grace`); false if there is none.
    pub async fn stop(&mut self, name: &str, grace: Duration) -> bool {
        let Some(i) = self.running.iter().position(|p| p.name == name) else {
            return false;
        };
        let p = self.running.remove(i);
        terminate(p, grace).await;
        true
    }

    /// Stops everything, newest first: SIGTERM, then kill after `grace`.
    pub async fn stop_all(&mut self, grace: Duration) {
        while let Some(p) = self.running.pop() {
            terminate(p, grace).await;
        }
    }

    /// Kills everything at once (SIGKILL), for error paths.
    pub fn kill_all(&mut self) {
        while let Some(mut p) = self.running.pop() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.kill_all();
    }
}

async fn terminate(mut p: Proc, grace: Duration) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status();
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(_)) = p.child.try_wait() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Ok(None) = p.child.try_wait() {
        let _ = p.child.kill();
    }
    let _ = p.child.wait();
    println!("  stopped {}", p.name);
}

/// Last lines of a log, for error messages.
pub fn tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
