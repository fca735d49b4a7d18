//! The host side of a CRI task's mounts: directories for volumes and tmpfs mounts, and the
//! tmpfs files (secrets, configs, `/etc/hosts`) the container mounts read-only.

use std::path::Path;

use k8s_cri::v1::Mount;

use super::cri_spec::{file_mount, hosts_file, mount_sources};
use super::files::{self, io};
use super::{RuntimeError, TaskRun};
use crate::secrets::tmpfs::SecretDirs;

/// Volumes, binds, tmpfs scratch directories, secrets, configs and `/etc/hosts`.
pub fn task_mounts(
    run: &TaskRun,
    secrets: &SecretDirs,
    volumes: &Path,
) -> Result<Vec<Mount>, RuntimeError> {
    let spec = &run.task.spec.template.container_spec;
    // First: it makes the task's private directory afresh, where the rest below goes too.
    let files = files::materialize(secrets, run)?;
    let dir = files::task_dir(secrets, &run.key);
    let mut mounts = mount_sources(
        spec,
        |name| volumes.join(name).to_string_lossy().into_owned(),
        |i| {
            dir.join(format!("mount-{i}"))
                .to_string_lossy()
                .into_owned()
        },
    );
    for m in &mounts {
        let path = Path::new(&m.host_path);
        if !path.exists() {
            std::fs::create_dir_all(path).map_err(io(format!("creating {}", m.host_path)))?;
        }
    }
    mounts.extend(files.iter().map(file_mount));
    if let Some(hosts) = hosts_file(spec) {
        let path = dir.join("hosts");
        std::fs::write(&path, hosts).map_err(io(format!("writing {}", path.display())))?;
        mounts.push(file_mount(&files::FileMount {
            host_path: path,
            target: "/etc/hosts".into(),
        }));
    }
    Ok(mounts)
}
