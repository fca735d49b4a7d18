//! Who may do what, seen from stock kubectl 1.27 and 1.33: non-resource paths are authorized
//! like resources (`kubectl auth can-i get /metrics` agrees with what `/metrics` answers), health
//! and version are public as in Kubernetes (`system:public-info-viewer`), and the
//! controller-manager cannot read SwarmSecrets.

use std::path::Path;

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::KUBECTL_VERSIONS;
use flotilla_tests::kubectl::{installed_versions, Kubectl, Run};

async fn kubectl(minor: u32, kubeconfig: &Path, args: &[&str]) -> Run {
    let k = Kubectl::new(minor, kubeconfig).expect("kubectl installed");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        k.run(&args)
    })
    .await
    .expect("blocking task")
}

/// The status code and body of an anonymous GET (curl, trusting the server's CA, no
/// credentials: kubectl prompts for a user name when a kubeconfig has none).
fn anonymous_get(server: &TestApiServer, path: &str) -> (String, String) {
    let ca = server.dir.path().join("ca-anonymous.crt");
    std::fs::write(&ca, server.pki.client_ca_pem().expect("bootstrapped CA")).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&ca)
        .args(["-w", "\n%{http_code}"])
        .arg(format!("{}{path}", server.url))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn can_i_agrees_with_what_non_resource_paths_answer() {
    let server = TestApiServer::embedded().await.unwrap();
    let alice = server.kubeconfig_for("alice", &[]).unwrap();
    let monitor = server
        .kubeconfig_for("prometheus", &["system:monitoring"])
        .unwrap();
    let node = server
        .kubeconfig_for("system:node:n1", &["system:nodes"])
        .unwrap();
    let who: [(&str, &Path, &[&str]); 4] = [
        (
            "admin",
            &server.kubeconfig,
            &["/metrics", "/healthz/etcd", "/apis"],
        ),
        ("alice", &alice, &["/apis", "/version", "/healthz"]),
        (
            "prometheus",
            &monitor,
            &["/metrics", "/readyz/etcd", "/livez"],
        ),
        ("node", &node, &["/openapi/v3", "/readyz"]),
    ];
    let denied: [(&str, &Path, &[&str]); 3] = [
        ("alice", &alice, &["/metrics", "/healthz/etcd", "/nonsense"]),
        ("prometheus", &monitor, &["/nonsense"]),
        ("node", &node, &["/metrics"]),
    ];
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        // Denials first: on a server that never authorized paths, alice's GET /metrics
        // answered 200 while `can-i` said no.
        for (name, kubeconfig, paths) in denied {
            for path in paths {
                let can = kubectl(minor, kubeconfig, &["auth", "can-i", "get", path]).await;
                assert!(
                    can.stdout.starts_with("no"),
                    "1.{minor} {name} can-i {path}: {can:?}"
                );
                let got = kubectl(minor, kubeconfig, &["get", "--raw", path]).await;
                assert_ne!(got.code, 0, "1.{minor} {name} GET {path}: {got:?}");
                let message = format!(
                    "forbidden: User \"{}\" cannot get path \"{path}\"",
                    got_user(name)
                );
                assert!(
                    got.stderr.contains(&message),
                    "1.{minor} {name} GET {path}: {got:?}"
                );
            }
        }
        for (name, kubeconfig, paths) in who {
            for path in paths {
                let can = kubectl(minor, kubeconfig, &["auth", "can-i", "get", path]).await;
                assert_eq!(
                    can.stdout.trim(),
                    "yes",
                    "1.{minor} {name} can-i {path}: {can:?}"
                );
                let got = kubectl(minor, kubeconfig, &["get", "--raw", path]).await;
                assert_eq!(got.code, 0, "1.{minor} {name} GET {path}: {got:?}");
            }
        }
    }
}

fn got_user(name: &str) -> &str {
    match name {
        "node" => "system:node:n1",
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_version_are_public_and_nothing_else_is() {
    let server = TestApiServer::embedded().await.unwrap();
    for path in [
        "/version",
        "/healthz",
        "/livez",
        "/readyz",
        "/readyz?verbose",
    ] {
        let (code, body) = anonymous_get(&server, path);
        assert_eq!(code, "200", "anonymous GET {path}: {body}");
    }
    let (_, version) = anonymous_get(&server, "/version");
    assert!(version.contains("gitVersion"), "{version}");
    for path in [
        "/metrics",
        "/apis",
        "/openapi/v3",
        "/healthz/etcd",
        "/nonsense",
        "/apis/flotilla.dev/v1alpha1/swarmsecrets",
    ] {
        let (code, body) = anonymous_get(&server, path);
        assert_eq!(code, "401", "anonymous GET {path}: {body}");
        assert!(
            body.contains("Unauthorized"),
            "anonymous GET {path}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_manager_cannot_read_secrets() {
    let server = TestApiServer::embedded().await.unwrap();
    let cm = server
        .kubeconfig_for("system:flotilla-controller-manager", &[])
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        for args in [
            &["get", "swarmsecrets", "-A"][..],
            &["get", "swarmsecret", "db-pass", "-n", "default"],
            &["get", "swarmconfigs", "-A"],
            &["delete", "namespace", "default"],
        ] {
            let got = kubectl(minor, &cm, args).await;
            assert_ne!(got.code, 0, "1.{minor} {args:?}: {got:?}");
            assert!(
                got.stderr.contains("forbidden"),
                "1.{minor} {args:?}: {got:?}"
            );
            let verb = args[0];
            let can = kubectl(minor, &cm, &["auth", "can-i", verb, args[1]]).await;
            assert!(
                can.stdout.starts_with("no"),
                "1.{minor} can-i {args:?}: {can:?}"
            );
        }
        // What it needs still works.
        let tasks = kubectl(minor, &cm, &["auth", "can-i", "delete", "tasks"]).await;
        assert_eq!(tasks.stdout.trim(), "yes", "1.{minor}: {tasks:?}");
        let list = kubectl(minor, &cm, &["get", "swarmservices", "-A"]).await;
        assert_eq!(list.code, 0, "1.{minor}: {list:?}");
    }
}
