//! What a runtime materializes on the node for a task: its secrets and configs, written only under
//! `<root>/<node>/<container>/` on a tmpfs (never regular disk; [`SecretDirs`] creates the
//! directories private and never follows a symlink) and bind-mounted read-only at their targets;
//! the directory is deleted with the container, and those of vanished containers when the
//! runtime starts. Shared by the Docker and CRI runtimes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flotilla_api::mounts::MountType;

use super::{RuntimeError, TaskKey, TaskRun};
use crate::secrets::tmpfs::{SecretDirs, TmpfsError};

/// Where secrets are materialized by default: a tmpfs on every Linux host.
pub const SECRETS_ROOT: &str = "/dev/shm/flotilla";

/// A file on the node and where it appears in the container (read-only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMount {
    pub host_path: PathBuf,
    pub target: String,
}

pub(crate) fn io(context: String) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |source| RuntimeError::Io { context, source }
}

fn tmpfs_error(e: TmpfsError) -> RuntimeError {
    RuntimeError::Task(e.to_string())
}

/// Checks (creating if needed) the node's private directory under [`SECRETS_ROOT`].
pub fn open(node: &str) -> Result<SecretDirs, RuntimeError> {
    SecretDirs::open(Path::new(SECRETS_ROOT), node).map_err(tmpfs_error)
}

/// Removes the files of every container whose name is not in `live` (containers removed while
/// no agent ran).
pub fn sweep(dirs: &SecretDirs, node: &str, live: &BTreeSet<String>) -> Result<(), RuntimeError> {
    let swept = dirs.sweep(live).map_err(tmpfs_error)?;
    if !swept.is_empty() {
        tracing::info!(
            node,
            ?swept,
            "removed secret files of containers that are gone"
        );
    }
    Ok(())
}

/// The tmpfs directory of one task's files.
pub fn task_dir(dirs: &SecretDirs, key: &TaskKey) -> PathBuf {
    dirs.node_dir().join(key.container_name())
}

/// Writes the task's secrets and configs into a fresh private directory and returns where each
/// is to be mounted.
pub fn materialize(dirs: &SecretDirs, run: &TaskRun) -> Result<Vec<FileMount>, RuntimeError> {
    let files = run.secrets.iter().map(|f| ("secret", f));
    let files: Vec<_> = files
        .chain(run.configs.iter().map(|f| ("config", f)))
        .collect();
    let paths = dirs
        .materialize(&run.key.container_name(), &files)
        .map_err(tmpfs_error)?;
    Ok(paths
        .into_iter()
        .zip(&files)
        .map(|(host_path, (_, file))| FileMount {
            host_path,
            target: file.target.clone(),
        })
        .collect())
}

/// Deletes a task's directory (if any).
pub fn remove(dirs: &SecretDirs, key: &TaskKey) -> Result<(), RuntimeError> {
    dirs.remove(&key.container_name()).map_err(tmpfs_error)
}

/// Docker's own message for a missing bind source, so users recognise it on either runtime.
pub fn check_bind_sources(run: &TaskRun) -> Result<(), RuntimeError> {
    for m in &run.task.spec.template.container_spec.mounts {
        if m.type_ != Some(MountType::Bind) {
            continue;
        }
        let source = m.source.as_deref().unwrap_or_default();
        if !Path::new(source).exists() {
            return Err(RuntimeError::Task(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {source}"
            )));
        }
    }
    Ok(())
}
