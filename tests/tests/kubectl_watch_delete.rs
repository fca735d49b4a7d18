//! Watching, waiting and deleting with real kubectl against the real api-server over etcd.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::{web, KUBECTL_VERSIONS};
use flotilla_tests::kubectl::installed_versions;
use flotilla_tests::kubectl::Kubectl;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// Reads lines from `child`'s stdout until one contains `needle` (bounded by `patience`).
fn read_until(child: &mut std::process::Child, needle: &str, patience: Duration) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + patience;
    while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_prints_new_rows_as_the_object_changes() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("w{minor}");
        let lines = blocking(move || {
            k.run_stdin(&["apply", "-f", "-"], &web(&name, 1)).ok();
            let mut child = k
                .command(&["get", "ssvc", &name, "-w"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            k.run(&["scale", &format!("ssvc/{name}"), "--replicas=5"])
                .ok();
            let lines = read_until(&mut child, "0/5", Duration::from_secs(15));
            let _ = child.kill();
            lines
        })
        .await;
        assert!(
            lines.iter().any(|l| l.contains("0/1")),
            "1.{minor}: {lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("0/5")),
            "1.{minor}: {lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("NAME")).count(),
            1,
            "one header only: {lines:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_a_condition_set_through_the_status_subresource() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("cw{minor}");
        blocking(move || {
            k.run_stdin(&["apply", "-f", "-"], &web(&name, 1)).ok();
            let waiter = k
                .command(&["wait", "--for=condition=Ready", &format!("ssvc/{name}"), "--timeout=30s"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            let status = r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Converged","message":"3/3","lastTransitionTime":"2026-11-25T00:00:00Z"}]}}"#;
            k.run(&["patch", "ssvc", &name, "--subresource=status", "--type=merge", "-p", status]).ok();
            let out = waiter.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "1.{minor}: {} {}", stdout, String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains("condition met"), "{stdout}");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_waits_for_finalizers() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("f{minor}");
        blocking(move || {
            k.run_stdin(&["apply", "-f", "-"], &web(&name, 1)).ok();
            k.run(&[
                "patch",
                "ssvc",
                &name,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":["flotilla.dev/test"]}}"#,
            ])
            .ok();
            k.run(&["delete", "ssvc", &name, "--wait=false"]).ok();
            let ts = k
                .run(&[
                    "get",
                    "ssvc",
                    &name,
                    "-o",
                    "jsonpath={.metadata.deletionTimestamp}",
                ])
                .ok();
            assert!(
                !ts.stdout.is_empty(),
                "deletionTimestamp set while a finalizer remains"
            );
            let deleter = k
                .command(&["delete", "ssvc", &name, "--timeout=30s"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(1000));
            k.run(&[
                "patch",
                "ssvc",
                &name,
                "--type=json",
                "-p",
                r#"[{"op":"remove","path":"/metadata/finalizers/0"}]"#,
            ])
            .ok();
            let out = deleter.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "1.{minor}: delete --wait ended after the finalizer went"
            );
            let gone = k.run(&["get", "ssvc", &name]);
            assert!(gone.stderr.contains("NotFound"), "{}", gone.stderr);
        })
        .await;
    }
}
