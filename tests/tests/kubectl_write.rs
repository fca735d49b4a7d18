//! Writing with real kubectl (1.27 and 1.33) to the real api-server over real etcd: apply
//! (client- and server-side), create, edit, patch, scale, label, diff.

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::{web, KUBECTL_VERSIONS};
use flotilla_tests::kubectl::installed_versions;
use flotilla_tests::kubectl::Kubectl;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn replicas(k: &Kubectl, name: &str) -> String {
    k.run(&[
        "get",
        "ssvc",
        name,
        "-o",
        "jsonpath={.spec.mode.replicated.replicas}",
    ])
    .ok()
    .stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_create_change_and_server_side() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("a{minor}");
        blocking(move || {
            let created = k.run_stdin(&["apply", "-f", "-"], &web(&name, 2)).ok();
            assert!(
                created.stdout.contains("created"),
                "1.{minor}: {}",
                created.stdout
            );
            let changed = k.run_stdin(&["apply", "-f", "-"], &web(&name, 4)).ok();
            assert!(
                changed.stdout.contains("configured"),
                "1.{minor}: {}",
                changed.stdout
            );
            assert_eq!(replicas(&k, &name), "4");
            let ssa = k
                .run_stdin(
                    &["apply", "--server-side", "--force-conflicts", "-f", "-"],
                    &web(&name, 6),
                )
                .ok();
            assert!(
                ssa.stdout.contains("serverside-applied"),
                "1.{minor}: {}",
                ssa.stdout
            );
            assert_eq!(replicas(&k, &name), "6");
            let mf = k
                .run(&[
                    "get",
                    "ssvc",
                    &name,
                    "--show-managed-fields",
                    "-o",
                    "jsonpath={.metadata.managedFields[*].manager}",
                ])
                .ok();
            assert!(mf.stdout.contains("kubectl"), "managers: {}", mf.stdout);
            // Server-side apply of a new object creates it.
            let other = format!("{name}-ssa");
            let created = k
                .run_stdin(&["apply", "--server-side", "-f", "-"], &web(&other, 1))
                .ok();
            assert!(
                created.stdout.contains("serverside-applied"),
                "{}",
                created.stdout
            );
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn create_edit_patch_scale_label() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let editor_dir = tempfile::tempdir().unwrap();
    let editor = editor_dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/replicas: 2/replicas: 5/' \"$1\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&editor)
        .status()
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("c{minor}");
        let editor = editor.clone();
        blocking(move || {
            k.run_stdin(&["create", "-f", "-"], &web(&name, 2)).ok();
            let edited = k
                .command(&["edit", "ssvc", &name])
                .env("EDITOR", &editor)
                .output()
                .unwrap();
            assert!(
                edited.status.success(),
                "edit: {}",
                String::from_utf8_lossy(&edited.stderr)
            );
            assert_eq!(replicas(&k, &name), "5");
            k.run(&[
                "patch",
                "ssvc",
                &name,
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"mode":{"replicated":{"replicas":7}}}}"#,
            ])
            .ok();
            assert_eq!(replicas(&k, &name), "7");
            k.run(&[
                "patch",
                "ssvc",
                &name,
                "--type",
                "json",
                "-p",
                r#"[{"op":"replace","path":"/spec/mode/replicated/replicas","value":8}]"#,
            ])
            .ok();
            assert_eq!(replicas(&k, &name), "8");
            // Without --type kubectl sends a strategic merge patch, which custom resources refuse.
            let smp = k.run(&["patch", "ssvc", &name, "-p", r#"{"spec":{}}"#]);
            assert_ne!(smp.code, 0);
            assert!(
                smp.stderr.contains("strategic-merge-patch")
                    || smp.stderr.contains("UnsupportedMediaType"),
                "{}",
                smp.stderr
            );
            let scaled = k
                .run(&["scale", &format!("ssvc/{name}"), "--replicas=3"])
                .ok();
            assert!(scaled.stdout.contains("scaled"), "{}", scaled.stdout);
            assert_eq!(replicas(&k, &name), "3");
            let cur = k
                .run(&[
                    "scale",
                    &format!("ssvc/{name}"),
                    "--current-replicas=3",
                    "--replicas=4",
                ])
                .ok();
            assert!(cur.stdout.contains("scaled"), "{}", cur.stdout);
            assert_eq!(replicas(&k, &name), "4");
            k.run(&["label", "ssvc", &name, "tier=frontend"]).ok();
            let labelled = k
                .run(&["get", "ssvc", "-l", "tier=frontend", "-o", "name"])
                .ok();
            assert!(labelled.stdout.contains(&name), "{}", labelled.stdout);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_reports_changes_without_writing() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("df{minor}");
        blocking(move || {
            k.run_stdin(&["apply", "-f", "-"], &web(&name, 2)).ok();
            let same = k.run_stdin(&["diff", "-f", "-"], &web(&name, 2));
            assert_eq!(
                same.code, 0,
                "no diff expected: {} {}",
                same.stdout, same.stderr
            );
            let changed = k.run_stdin(&["diff", "-f", "-"], &web(&name, 9));
            assert_eq!(
                changed.code, 1,
                "diff expected: {} {}",
                changed.stdout, changed.stderr
            );
            assert!(changed.stdout.contains("replicas: 9"), "{}", changed.stdout);
            assert_eq!(replicas(&k, &name), "2", "diff must not write");
        })
        .await;
    }
}
