//! The `flotilla` binary: crdgen output matches the committed CRDs; all-in-one takes the
//! components' flags.

use std::process::Command;

fn flotilla(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .output()
        .expect("flotilla runs")
}

#[test]
fn crdgen_prints_every_crd() {
    let out = flotilla(&["crdgen"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout, flotilla_api::crds_yaml());
    for name in [
        "swarmservices",
        "tasks",
        "swarmnodes",
        "swarmsecrets",
        "swarmconfigs",
        "swarmnetworks",
    ] {
        assert!(
            stdout.contains(&format!("name: {name}.flotilla.dev")),
            "{name}"
        );
    }
}

#[test]
fn crdgen_out_dir_writes_the_committed_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = flotilla(&["crdgen", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6);
    for name in names {
        let generated = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let on_disk = std::fs::read_to_string(committed.join(&name)).unwrap_or_default();
        assert!(
            generated == on_disk,
            "deploy/crds/{name} is out of date: run \
             `cargo run -p flotilla-cli -- crdgen --out-dir deploy/crds`"
        );
    }
}

#[test]
fn all_in_one_takes_the_components_own_flags() {
    let out = flotilla(&["all-in-one", "--help"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for flag in [
        "--simulate-nodes",
        "--simulated-latency",
        "--concurrency",
        "--watch-list",
        "--controllers",
        "--task-history-limit",
        "--node-monitor-grace-period",
    ] {
        assert!(stdout.contains(flag), "{flag} missing:\n{stdout}");
    }
}
