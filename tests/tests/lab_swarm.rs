//! `flotilla lab converge 10` and `flotilla lab replace` on real Docker Swarm (this engine in
//! swarm mode, initialised and left by the lab itself) and on Flotilla's split control plane:
//! both systems reach 10/10, both replace a killed container, and swarm mode is inactive
//! afterwards as it was before.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flotilla_cli::up::image::docker_available;
use flotilla_tests::bins::workspace_bins;
use serde_json::Value;

/// Bound on one `flotilla lab` run (both systems, one repeat).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn swarm_state() -> String {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .output()
        .expect("docker info");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `flotilla lab <args> --repeat 1 --json <file>` and returns the JSON reports.
async fn lab(bin_dir: &Path, args: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("lab.json");
    let child = tokio::process::Command::new(bin_dir.join("flotilla"))
        .arg("lab")
        .args(args)
        .args(["--repeat", "1", "--json"])
        .arg(&json)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_TIMEOUT, child)
        .await
        .expect("flotilla lab within its bound")
        .expect("flotilla lab runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "flotilla lab {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("min") && stdout.contains("median"),
        "the table is printed"
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// The single value of `metric` for `system`.
fn value(reports: &[Value], system: &str, metric: &str) -> f64 {
    let m = reports
        .iter()
        .flat_map(|r| r["measurements"].as_array().unwrap())
        .find(|m| m["system"] == system && m["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric:?} for {system} in {reports:?}"));
    let values = m["values"].as_array().unwrap();
    assert_eq!(values.len(), 1, "one repeat: {m}");
    values[0].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_and_replace_on_swarm_and_flotilla() {
    if !docker_available() {
        println!("SKIP: `docker info` failed: no Docker engine");
        return;
    }
    assert_eq!(
        swarm_state(),
        "inactive",
        "the lab needs swarm mode inactive to start"
    );
    let bins = workspace_bins().await.expect("workspace binaries");

    let converge = lab(&bins, &["converge", "10"]).await;
    assert_eq!(swarm_state(), "inactive", "the lab left its swarm");
    for system in ["swarm", "flotilla"] {
        let t = value(&converge, system, "10/10 running");
        assert!(t > 0.0 && t < 120.0, "{system} reached 10/10 in {t}s");
        let first = value(&converge, system, "first task running");
        assert!(first <= t, "{system}: the first task ran before all ten");
    }

    let replace = lab(&bins, &["replace"]).await;
    assert_eq!(swarm_state(), "inactive", "the lab left its swarm");
    for system in ["swarm", "flotilla"] {
        let default = value(&replace, system, "replacement running, default delay (5s)");
        let zero = value(&replace, system, "replacement running, delay 0");
        // The default restart delay is 5 s in both: the replacement cannot run sooner.
        assert!(
            (4.5..60.0).contains(&default),
            "{system}: default delay took {default}s"
        );
        assert!(
            zero < default,
            "{system}: delay 0 ({zero}s) beats 5s ({default}s)"
        );
    }
}
