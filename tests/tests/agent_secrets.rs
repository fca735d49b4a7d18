//! Secret files on the node, through the Docker runtime: `/dev/shm/flotilla/<node>` is the agent's
//! own 0700 directory; the files of containers removed while no agent ran are removed when the
//! runtime starts; and a symlink planted at the node's secrets directory makes the runtime refuse
//! to start instead of writing secrets wherever the link points.

mod agent_common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use agent_common::docker::{busybox_image, RemoveOnDrop, IMAGE};
use agent_common::*;
use flotilla_node_agent::runtime::docker::Docker;
use flotilla_node_agent::runtime::files::SECRETS_ROOT;
use flotilla_node_agent::runtime::{FileData, Runtime, TaskKey, TaskRun};

/// The node's secrets directory, removed (without following a link) when dropped.
struct NodeDir(PathBuf);

impl NodeDir {
    fn new(prefix: &str) -> (String, NodeDir) {
        let node = format!("{prefix}-{}", std::process::id());
        std::fs::create_dir_all(SECRETS_ROOT).unwrap();
        let dir = Path::new(SECRETS_ROOT).join(&node);
        (node, NodeDir(dir))
    }
}

impl Drop for NodeDir {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.0) {
            Ok(m) if m.is_dir() => drop(std::fs::remove_dir_all(&self.0)),
            Ok(_) => drop(std::fs::remove_file(&self.0)),
            Err(_) => {}
        }
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

#[tokio::test]
async fn orphaned_secret_files_are_removed_and_the_node_directory_is_private() -> anyhow::Result<()>
{
    if busybox_image().is_none() {
        return Ok(());
    }
    let (node, dir) = NodeDir::new("orphan");
    // Left by a container that was removed while no agent ran.
    let orphan = dir.0.join("web.1.0123456789ab");
    std::fs::create_dir_all(&orphan)?;
    std::fs::write(orphan.join("secret-0"), "s3cret")?;
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755))?;

    Docker::connect(&node).await?;
    assert!(!orphan.exists(), "{} is still there", orphan.display());
    assert_eq!(mode_of(&dir.0), 0o700, "{}", dir.0.display());
    assert_eq!(mode_of(Path::new(SECRETS_ROOT)), 0o700, "{SECRETS_ROOT}");
    let meta = std::fs::symlink_metadata(&dir.0)?;
    let mine = tempfile::tempfile()?.metadata()?.uid();
    assert_eq!(meta.uid(), mine, "owned by the agent's user");
    Ok(())
}

#[tokio::test]
async fn a_symlink_planted_at_the_node_secrets_directory_is_not_followed() -> anyhow::Result<()> {
    if busybox_image().is_none() {
        return Ok(());
    }
    let (node, dir) = NodeDir::new("planted");
    let _containers = RemoveOnDrop(node.clone());
    let victim = tempfile::tempdir()?;
    std::os::unix::fs::symlink(victim.path(), &dir.0)?;

    let runtime = Docker::connect(&node).await;
    if let Ok(runtime) = &runtime {
        // A runtime that accepted the directory prepares a task with a secret through it.
        let mut task = bound_task("web.1", "web", &node, template(IMAGE));
        task.metadata.uid = Some("0123456789abcdef".into());
        let run = TaskRun {
            key: TaskKey::of(&task),
            node: node.clone(),
            task,
            secrets: vec![FileData {
                target: "/run/secrets/db".into(),
                data: b"s3cret".to_vec(),
                uid: 0,
                gid: 0,
                mode: 0o444,
            }],
            configs: vec![],
            networks: vec![],
        };
        let _ = runtime.prepare(&run).await;
    }
    let written: Vec<_> = walk(victim.path());
    assert!(
        written.is_empty(),
        "written through the symlink: {written:?}"
    );
    let err = runtime
        .err()
        .expect("the runtime refuses the planted directory");
    assert!(err.to_string().contains("is a symlink"), "{err}");
    Ok(())
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(entry.path());
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.extend(walk(&entry.path()));
        }
    }
    out
}
