//! One private containerd (CRI) for every CRI test: nextest runs each test in its own process, so
//! the processes share it through a directory under /tmp named after this checkout. Under an
//! exclusive flock(2) a test registers its pid in `users/`; the first starts containerd (with
//! [`flotilla_cli::containerd`]) and imports the pause and web images written by
//! `flotilla images --oci-dir`; the last to leave removes every pod, stops containerd and deletes
//! its directory and bridge (the lock file stays). Users that died without leaving are pruned by pid.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flotilla_cli::containerd::{self, Containerd, ContainerdSpec};

/// The busybox image every CRI test runs (busybox at /bin/busybox, httpd's page in /www).
pub const IMAGE: &str = flotilla_cli::up::image::WEB_IMAGE;

/// A lease on the shared containerd; dropping it leaves (and stops containerd if last).
pub struct SharedContainerd {
    pub spec: ContainerdSpec,
    base: PathBuf,
}

fn base_dir() -> (PathBuf, u64) {
    let mut h = DefaultHasher::new();
    env!("CARGO_MANIFEST_DIR").hash(&mut h);
    let tag = h.finish();
    (
        PathBuf::from(format!("/tmp/flotilla-cri-{:08x}", tag as u32)),
        tag,
    )
}

fn spec_for(base: &Path, tag: u64) -> ContainerdSpec {
    ContainerdSpec {
        dir: base.join("containerd"),
        bridge: format!("flcri{:04x}", tag as u16),
        subnet: format!("10.{}.{}.0/24", 200 + (tag >> 16) % 50, (tag >> 24) % 256),
    }
}

fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
}

/// Holds the flock until dropped.
struct Locked(#[allow(dead_code)] std::fs::File);

fn lock(base: &Path) -> anyhow::Result<Locked> {
    std::fs::create_dir_all(base.join("users"))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(base.join("lock"))?;
    rustix::fs::flock(file.as_fd(), rustix::fs::FlockOperation::LockExclusive)?;
    Ok(Locked(file))
}

/// Pids of the live users (dead ones' files removed).
fn users(base: &Path) -> Vec<String> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir(base.join("users")).into_iter().flatten() {
        let Ok(entry) = entry else { continue };
        let pid = entry.file_name().to_string_lossy().into_owned();
        if alive(&pid) {
            live.push(pid);
        } else {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    live
}

fn running_pid(base: &Path) -> Option<String> {
    let pid = std::fs::read_to_string(base.join("containerd.pid")).ok()?;
    let pid = pid.trim().to_string();
    alive(&pid).then_some(pid)
}

/// The shared containerd, started if needed; None (reason printed) where containerd cannot run.
pub async fn shared() -> Option<SharedContainerd> {
    if let Some(why) = containerd::unavailable() {
        println!("SKIP: {why}: the CRI runtime cannot be tested here");
        return None;
    }
    let (base, tag) = base_dir();
    let spec = spec_for(&base, tag);
    let held = lock(&base).expect("locking the shared containerd's directory");
    // A containerd started by an older build of this harness (another config) is replaced.
    let current = std::fs::read_to_string(spec.dir.join("config.toml"))
        .is_ok_and(|c| c == containerd::config_toml(&spec));
    let healthy = current
        && running_pid(&base).is_some()
        && containerd::ctr(&spec.socket(), &["version"]).is_ok();
    if !healthy {
        if let Some(pid) = running_pid(&base) {
            kill(&pid).await;
        }
        containerd::cleanup(&spec);
        let pid = start(&base, spec.clone())
            .await
            .expect("starting the shared containerd");
        std::fs::write(base.join("containerd.pid"), pid.to_string()).expect("writing its pid");
    }
    let me = std::process::id().to_string();
    std::fs::write(base.join("users").join(&me), "").expect("registering");
    drop(held);
    Some(SharedContainerd { spec, base })
}

async fn start(base: &Path, spec: ContainerdSpec) -> anyhow::Result<u32> {
    let c = Containerd::start(spec).await?;
    let images = base.join("images");
    for archive in flotilla_cli::up::image::export_cri_images(&images)? {
        c.import(&archive)?;
    }
    c.detach()
        .ok_or_else(|| anyhow::anyhow!("containerd has no pid"))
}

async fn kill(pid: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if alive(pid) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", pid])
            .status();
    }
}

impl SharedContainerd {
    pub fn endpoint(&self) -> String {
        self.spec.endpoint()
    }

    /// `ctr -n k8s.io args…` against it.
    pub fn ctr(&self, args: &[&str]) -> Option<String> {
        containerd::ctr(&self.spec.socket(), args).ok()
    }

    /// Ids of the pod sandboxes labelled with `node` (any state).
    pub async fn sandboxes_of(&self, node: &str) -> Vec<String> {
        let labels = [("flotilla.dev/node".to_string(), node.to_string())].into();
        let mut ids = flotilla_node_agent::runtime::cri::sandbox_ids(&self.endpoint(), labels)
            .await
            .expect("listing sandboxes");
        ids.sort();
        ids
    }

    /// Removes the pods and tmpfs files of `node` (what a test leaves behind).
    pub async fn remove_node(&self, node: &str) {
        let labels = [("flotilla.dev/node".to_string(), node.to_string())].into();
        let _ = flotilla_node_agent::runtime::cri::remove_sandboxes(&self.endpoint(), labels).await;
        let files = Path::new(flotilla_node_agent::runtime::files::SECRETS_ROOT).join(node);
        let _ = std::fs::remove_dir_all(files);
    }
}

impl Drop for SharedContainerd {
    fn drop(&mut self) {
        let base = self.base.clone();
        let spec = self.spec.clone();
        // Drop may run inside the test's runtime: leave on a thread with a runtime of its own.
        let leave = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(leave(&base, &spec));
        });
        let _ = leave.join();
    }
}

async fn leave(base: &Path, spec: &ContainerdSpec) {
    let Ok(held) = lock(base) else { return };
    let _ = std::fs::remove_file(base.join("users").join(std::process::id().to_string()));
    if !users(base).is_empty() {
        return;
    }
    let labels = Default::default();
    let _ = flotilla_node_agent::runtime::cri::remove_sandboxes(&spec.endpoint(), labels).await;
    if let Some(pid) = running_pid(base) {
        kill(&pid).await;
    }
    containerd::cleanup(spec);
    // The lock file stays: a process waiting on it must lock the file the next one opens.
    let _ = std::fs::remove_file(base.join("containerd.pid"));
    let _ = std::fs::remove_dir_all(base.join("images"));
    drop(held);
}

/// Deletes a node's tmpfs files when dropped, so a failing test leaves none behind (its pods
/// go when the last user of the shared containerd leaves).
pub struct NodeFiles(pub String);

impl Drop for NodeFiles {
    fn drop(&mut self) {
        let dir = Path::new(flotilla_node_agent::runtime::files::SECRETS_ROOT).join(&self.0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
