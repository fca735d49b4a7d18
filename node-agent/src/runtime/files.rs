//! What a runtime materializes on the node for a task: its secrets and configs, written only under
//! `/dev/shm/flotilla/<node>/<container>/` (a tmpfs: never regular disk) and bind-mounted
//! read-only at their targets; the directory is deleted with the container. Shared by the Docker
//! and CRI runtimes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flotilla_api::mounts::MountType;

use super::{FileData, RuntimeError, TaskKey, TaskRun};

/// Where secrets are materialized: a tmpfs on every Linux host.
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

/// The tmpfs directory of one task's files on `node`.
pub fn task_dir(node: &str, key: &TaskKey) -> PathBuf {
    Path::new(SECRETS_ROOT)
        .join(node)
        .join(key.container_name())
}

/// Writes secrets/configs into `dir` (mode 0700) and returns where each is to be mounted.
pub fn materialize(dir: &Path, run: &TaskRun) -> Result<Vec<FileMount>, RuntimeError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("securing {}", dir.display())))?;
    let files = run.secrets.iter().map(|f| ("secret", f));
    let files = files.chain(run.configs.iter().map(|f| ("config", f)));
    let mut mounts = Vec::new();
    for (i, (kind, file)) in files.enumerate() {
        let path = dir.join(format!("{kind}-{i}"));
        write_file(&path, file)?;
        mounts.push(FileMount {
            host_path: path,
            target: file.target.clone(),
        });
    }
    Ok(mounts)
}

fn write_file(path: &Path, file: &FileData) -> Result<(), RuntimeError> {
    std::fs::write(path, &file.data).map_err(io(format!("writing {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(file.mode))
        .map_err(io(format!("chmod {}", path.display())))?;
    if let Err(e) = std::os::unix::fs::chown(path, Some(file.uid), Some(file.gid)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot chown secret file");
    }
    Ok(())
}

/// Deletes a task's directory (if any).
pub fn remove_dir(dir: &Path) -> Result<(), RuntimeError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(format!("removing {}", dir.display())))?;
    }
    Ok(())
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
