//! Command-line tools the tests run that no Debian package ships (helm, and kubectl where the
//! google-cloud-sdk's versioned binaries are absent): `scripts/prereqs.sh` installs them into the
//! repository's `.tools/bin`, and they may also be on `PATH`.

use std::path::{Path, PathBuf};

/// The repository's `.tools/bin`.
pub fn tools_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin")
}

/// `name` from `.tools/bin` when there, else from `PATH`; `None` when neither has it.
pub fn find(name: &str) -> Option<PathBuf> {
    let local = tools_bin().join(name);
    if local.is_file() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Like [`find`], but panics naming the script that installs it: a test that needs a tool must
/// not pass silently without it.
pub fn require(name: &str) -> PathBuf {
    find(name).unwrap_or_else(|| panic!("{name} is not installed: run scripts/prereqs.sh"))
}
