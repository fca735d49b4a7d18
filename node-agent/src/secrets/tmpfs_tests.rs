use super::*;
use std::os::unix::fs::symlink;

fn file(data: &str, mode: u32) -> FileData {
    FileData {
        target: "/run/secrets/x".into(),
        data: data.as_bytes().to_vec(),
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        mode,
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn directories_are_0700_and_files_take_their_mode() {
    let root = tempfile::tempdir().unwrap();
    let shm = root.path().join("flotilla");
    let dirs = SecretDirs::open(&shm, "node-1").unwrap();
    let secret = file("s3cret", 0o440);
    let paths = dirs
        .materialize("web.1.abc", &[("secret", &secret)])
        .unwrap();
    assert_eq!(paths, vec![shm.join("node-1/web.1.abc/secret-0")]);
    assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), "s3cret");
    assert_eq!(mode_of(&paths[0]), 0o440);
    for dir in [&shm, &shm.join("node-1"), &shm.join("node-1/web.1.abc")] {
        assert_eq!(mode_of(dir), 0o700, "{}", dir.display());
    }
}

#[test]
fn loose_modes_of_existing_directories_are_tightened() {
    let root = tempfile::tempdir().unwrap();
    let node_dir = root.path().join("node-1");
    std::fs::create_dir(&node_dir).unwrap();
    std::fs::set_permissions(&node_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    SecretDirs::open(root.path(), "node-1").unwrap();
    assert_eq!(mode_of(&node_dir), 0o700);
}

#[test]
fn a_symlinked_node_directory_is_refused_and_not_followed() {
    let root = tempfile::tempdir().unwrap();
    let victim = tempfile::tempdir().unwrap();
    symlink(victim.path(), root.path().join("node-1")).unwrap();
    let err = SecretDirs::open(root.path(), "node-1").unwrap_err();
    assert!(err.to_string().contains("is a symlink"), "{err}");
    assert_ne!(
        mode_of(victim.path()),
        0o700,
        "the target's mode is untouched"
    );
    assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 0);
}

#[test]
fn a_symlink_planted_at_a_container_directory_or_file_is_not_followed() {
    let root = tempfile::tempdir().unwrap();
    let victim = tempfile::tempdir().unwrap();
    let victim_file = victim.path().join("passwd");
    std::fs::write(&victim_file, "untouched").unwrap();
    let dirs = SecretDirs::open(root.path(), "n").unwrap();
    // A leftover directory holding a symlink where the secret goes...
    let leftover = dirs.node_dir().join("web.1.abc");
    std::fs::create_dir(&leftover).unwrap();
    symlink(&victim_file, leftover.join("secret-0")).unwrap();
    // ...and a symlink in place of another container's directory.
    symlink(victim.path(), dirs.node_dir().join("web.2.def")).unwrap();
    let secret = file("s3cret", 0o444);
    let a = dirs
        .materialize("web.1.abc", &[("secret", &secret)])
        .unwrap();
    let b = dirs
        .materialize("web.2.def", &[("secret", &secret)])
        .unwrap();
    assert_eq!(std::fs::read_to_string(&victim_file).unwrap(), "untouched");
    assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 1);
    for path in a.iter().chain(&b) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.is_file(), "{} is a regular file", path.display());
        assert!(std::fs::symlink_metadata(path.parent().unwrap())
            .unwrap()
            .is_dir());
    }
}

#[test]
fn writing_refuses_an_existing_path_even_a_dangling_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret-0");
    symlink(dir.path().join("elsewhere"), &path).unwrap();
    assert!(write_file(&path, &file("x", 0o444)).is_err());
    assert!(!dir.path().join("elsewhere").exists());
}

#[test]
fn sweep_removes_what_no_container_owns_without_following_links() {
    let root = tempfile::tempdir().unwrap();
    let victim = tempfile::tempdir().unwrap();
    std::fs::write(victim.path().join("keep-me"), "x").unwrap();
    let dirs = SecretDirs::open(root.path(), "n").unwrap();
    let secret = file("s", 0o444);
    dirs.materialize("live.1.abc", &[("secret", &secret)])
        .unwrap();
    dirs.materialize("gone.1.def", &[("secret", &secret)])
        .unwrap();
    symlink(victim.path(), dirs.node_dir().join("link")).unwrap();
    let keep: BTreeSet<String> = ["live.1.abc".to_string()].into();
    let removed = dirs.sweep(&keep).unwrap();
    assert_eq!(removed, vec!["gone.1.def", "link"]);
    assert!(dirs.node_dir().join("live.1.abc/secret-0").exists());
    assert!(
        victim.path().join("keep-me").exists(),
        "a link's target stays"
    );
}

#[test]
fn names_that_are_not_one_path_component_are_refused() {
    let root = tempfile::tempdir().unwrap();
    assert!(SecretDirs::open(root.path(), "..").is_err());
    let dirs = SecretDirs::open(root.path(), "n").unwrap();
    assert!(dirs.remove("../n").is_err());
    assert!(dirs.materialize("a/b", &[]).is_err());
}

#[test]
fn a_node_directory_removed_while_running_is_made_again() {
    let root = tempfile::tempdir().unwrap();
    let dirs = SecretDirs::open(root.path(), "n").unwrap();
    std::fs::remove_dir_all(root.path()).unwrap();
    let secret = file("s", 0o444);
    let paths = dirs
        .materialize("web.1.abc", &[("secret", &secret)])
        .unwrap();
    assert_eq!(std::fs::read_to_string(&paths[0]).unwrap(), "s");
    assert_eq!(mode_of(dirs.node_dir()), 0o700);
}
