//! The captured output in docs/lessons/ cannot drift silently: `flotilla lab capture --check`
//! re-runs every lesson's commands on a real swarm (initialised and left by the command) and on
//! a real Flotilla cluster, and fails when a block's shape — its commands, table headers and
//! line counts — differs from the page.

use std::path::Path;
use std::time::Duration;

use flotilla_cli::up::image::docker_available;
use flotilla_tests::bins::workspace_bins;

const RUN_TIMEOUT: Duration = Duration::from_secs(420);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lessons_output_matches_a_fresh_capture() {
    if !docker_available() {
        println!("SKIP: `docker info` failed: no Docker engine");
        return;
    }
    let bins = workspace_bins().await.expect("workspace binaries");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/lessons");
    let child = tokio::process::Command::new(bins.join("flotilla"))
        .args(["lab", "capture", "--check", "--docs"])
        .arg(&docs)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_TIMEOUT, child)
        .await
        .expect("the capture within its bound")
        .expect("flotilla lab capture runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the pages drifted (run `flotilla lab capture` and review):\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("blocks match the pages' shape"), "{stdout}");
}
