//! The Docker side of the node-agent tests: the `docker` CLI, and the `FROM scratch` image holding
//! the host's static busybox (tests skip, with the reason printed, when Docker or busybox is missing).

use std::process::Command;

pub const IMAGE: &str = "flotilla/busybox:test";

/// Runs `docker args…`; its trimmed stdout, or None when it fails.
pub fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds `FROM scratch` + the host's static busybox; None (with the reason printed) to skip.
pub fn busybox_image() -> Option<()> {
    if docker(&["info"]).is_none() {
        println!("SKIP: `docker info` failed: no Docker engine to run containers on");
        return None;
    }
    if !std::path::Path::new("/bin/busybox").exists() {
        println!("SKIP: /bin/busybox missing (scripts/prereqs.sh installs busybox-static)");
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    std::fs::copy("/bin/busybox", dir.path().join("busybox")).ok()?;
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    )
    .ok()?;
    let built = docker(&["build", "-q", "-t", IMAGE, &dir.path().to_string_lossy()]);
    assert!(built.is_some(), "docker build of {IMAGE} failed");
    Some(())
}

/// Ids of every container (any state) labelled with `node`.
pub fn node_containers(node: &str) -> Vec<String> {
    let filter = format!("label=flotilla.dev/node={node}");
    let out = docker(&["ps", "-aq", "--no-trunc", "--filter", &filter]).unwrap_or_default();
    let mut ids: Vec<String> = out.lines().map(str::to_string).collect();
    ids.sort();
    ids
}

/// Removes a node's containers when dropped, so a failing test leaves none behind.
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for id in node_containers(&self.0) {
            let _ = docker(&["rm", "-f", &id]);
        }
    }
}
