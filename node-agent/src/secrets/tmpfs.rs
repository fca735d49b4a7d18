//! Secret and config files on the node: `<root>/<node>/<container>/<kind>-<i>` on a tmpfs (never
//! regular disk), for the runtime to bind-mount read-only into the container.
//!
//! The root is usually under `/dev/shm`, which every local user may write to, so nothing there is
//! taken on trust: `<root>` and `<root>/<node>` must be real directories (not symlinks) owned by
//! this agent's user, mode 0700 (tightened if looser); a container's directory is created afresh
//! and exclusively, 0700; each file is created exclusively without following a symlink, and its
//! mode and owner are set on the open file, never through the path. At start the agent removes the
//! directories of containers that no longer exist (removed while it was down).

use std::collections::BTreeSet;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::runtime::FileData;

#[derive(Debug, thiserror::Error)]
pub enum TmpfsError {
    #[error("{path}: {why}; refusing to keep secrets there")]
    Unsafe { path: PathBuf, why: String },
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TmpfsError {
    let path = path.to_path_buf();
    move |source| TmpfsError::Io {
        context,
        path,
        source,
    }
}

/// One node's directory of secret files.
#[derive(Clone, Debug)]
pub struct SecretDirs {
    root: PathBuf,
    node_dir: PathBuf,
}

/// Makes `path` a private directory of this user, or says why it cannot be trusted.
fn private_dir(path: &Path) -> Result<(), TmpfsError> {
    match DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(io("creating", path)(e))
        }
        _ => {}
    }
    let meta = std::fs::symlink_metadata(path).map_err(io("inspecting", path))?;
    let unsafe_because = |why: String| TmpfsError::Unsafe {
        path: path.to_path_buf(),
        why,
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_because("is a symlink".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_because("is not a directory".into()));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_because(format!(
            "is owned by uid {}, not by this agent (uid {me})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(io("securing", path))?;
    }
    Ok(())
}

/// A container name is one path component.
fn component(name: &str) -> Result<&str, TmpfsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(TmpfsError::Unsafe {
            path: PathBuf::from(name),
            why: "is not a plain directory name".into(),
        });
    }
    Ok(name)
}

/// Removes `path` (a directory tree or anything else) without following symlinks.
fn remove_any(path: &Path) -> Result<(), TmpfsError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("inspecting", path)(e)),
    };
    let removed = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("removing", path)(e)),
        _ => Ok(()),
    }
}

fn write_file(path: &Path, file: &FileData) -> Result<(), TmpfsError> {
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nofollow)
        .open(path)
        .map_err(io("creating", path))?;
    f.write_all(&file.data).map_err(io("writing", path))?;
    if let Err(e) = std::os::unix::fs::fchown(&f, Some(file.uid), Some(file.gid)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot chown secret file");
    }
    f.set_permissions(std::fs::Permissions::from_mode(file.mode))
        .map_err(io("chmod", path))
}

impl SecretDirs {
    /// Checks (creating if needed) `<root>` and `<root>/<node>`.
    pub fn open(root: &Path, node: &str) -> Result<SecretDirs, TmpfsError> {
        let dirs = SecretDirs {
            root: root.to_path_buf(),
            node_dir: root.join(component(node)?),
        };
        dirs.check()?;
        Ok(dirs)
    }

    /// The checks of [`open`](Self::open), again before each write: a tmpfs may have been
    /// emptied (or tampered with) since.
    fn check(&self) -> Result<(), TmpfsError> {
        private_dir(&self.root)?;
        private_dir(&self.node_dir)
    }

    pub fn node_dir(&self) -> &Path {
        &self.node_dir
    }

    /// Writes `files` (kind, data) into a fresh directory for `container`, replacing whatever a
    /// prepare that did not finish left there; returns each file's path.
    pub fn materialize(
        &self,
        container: &str,
        files: &[(&str, &FileData)],
    ) -> Result<Vec<PathBuf>, TmpfsError> {
        let dir = self.node_dir.join(component(container)?);
        self.check()?;
        remove_any(&dir)?;
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(io("creating", &dir))?;
        // The mode given to mkdir is narrowed by the umask; 0700 is what it must be.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("securing", &dir))?;
        let mut paths = Vec::new();
        for (i, (kind, file)) in files.iter().enumerate() {
            let path = dir.join(format!("{kind}-{i}"));
            write_file(&path, file)?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// Removes `container`'s files.
    pub fn remove(&self, container: &str) -> Result<(), TmpfsError> {
        remove_any(&self.node_dir.join(component(container)?))
    }

    /// Removes everything in the node's directory but the directories of `keep` (the containers
    /// that still exist); returns what it removed, by name.
    pub fn sweep(&self, keep: &BTreeSet<String>) -> Result<Vec<String>, TmpfsError> {
        let entries = std::fs::read_dir(&self.node_dir).map_err(io("listing", &self.node_dir))?;
        let mut removed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("listing", &self.node_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.contains(&name) {
                continue;
            }
            remove_any(&entry.path())?;
            removed.push(name);
        }
        removed.sort();
        Ok(removed)
    }
}

#[cfg(test)]
#[path = "tmpfs_tests.rs"]
mod tests;
