//! What kubectl users see when something is wrong: every error is a Kubernetes Status naming
//! the field or object at fault, and nothing stored is lost.

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::{web, KUBECTL_VERSIONS};
use flotilla_tests::kubectl::installed_versions;
use flotilla_tests::kubectl::Kubectl;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_unknown_conflict_missing_duplicate() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("e{minor}");
        blocking(move || {
            let bad = web(&name, 1).replace("publishedPort: 8080", "publishedPort: 70000");
            let out = k.run_stdin(&["apply", "-f", "-"], &bad);
            assert_ne!(out.code, 0);
            assert!(
                out.stderr
                    .contains(&format!("The SwarmService \"{name}\" is invalid")),
                "1.{minor}: {}",
                out.stderr
            );
            assert!(
                out.stderr.contains("spec.endpoint.ports[0].publishedPort"),
                "{}",
                out.stderr
            );
            assert!(
                k.run(&["get", "ssvc", &name]).stderr.contains("NotFound"),
                "nothing stored"
            );

            let unknown = web(&name, 1).replace("  taskTemplate:", "  bogus: 1\n  taskTemplate:");
            let out = k.run_stdin(&["create", "-f", "-"], &unknown);
            assert_ne!(out.code, 0);
            assert!(
                out.stderr.contains("unknown field \"spec.bogus\""),
                "1.{minor}: {}",
                out.stderr
            );

            k.run_stdin(&["create", "-f", "-"], &web(&name, 1)).ok();
            let dup = k.run_stdin(&["create", "-f", "-"], &web(&name, 1));
            assert!(dup.stderr.contains("AlreadyExists"), "{}", dup.stderr);

            let stale = web(&name, 3).replace(
                &format!("name: {name}\n"),
                &format!("name: {name}\n  resourceVersion: \"1\"\n"),
            );
            let out = k.run_stdin(&["replace", "-f", "-"], &stale);
            assert!(
                out.stderr.contains("Conflict")
                    && out.stderr.contains("the object has been modified"),
                "{}",
                out.stderr
            );

            let missing = k.run(&["get", "ssvc", "nope"]);
            assert!(
                missing
                    .stderr
                    .contains("swarmservices.flotilla.dev \"nope\" not found"),
                "{}",
                missing.stderr
            );

            // An invalid update keeps what was stored.
            let out = k.run(&[
                "patch",
                "ssvc",
                &name,
                "--type=merge",
                "-p",
                r#"{"spec":{"mode":{"replicated":{"replicas":-1}}}}"#,
            ]);
            assert!(
                out.stderr.contains("spec.mode.replicated.replicas"),
                "{}",
                out.stderr
            );
            let kept = k
                .run(&[
                    "get",
                    "ssvc",
                    &name,
                    "-o",
                    "jsonpath={.spec.mode.replicated.replicas}",
                ])
                .ok();
            assert_eq!(kept.stdout, "1");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_and_forbidden() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let anonymous = server.dir.path().join("anonymous");
    let ca = server.pki.client_ca_pem().unwrap().to_string();
    std::fs::write(server.dir.path().join("ca.crt"), &ca).unwrap();
    std::fs::write(
        &anonymous,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    token: not-a-real-token\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
            server.url,
            server.dir.path().join("ca.crt").display()
        ),
    )
    .unwrap();
    let node = server
        .kubeconfig_for("system:node:node-1", &["system:nodes"])
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let (anon, node) = (anonymous.clone(), node.clone());
        blocking(move || {
            let k = Kubectl::new(minor, &anon).unwrap();
            let out = k.run(&["get", "ssvc"]);
            assert_ne!(out.code, 0);
            assert!(
                out.stderr.contains("You must be logged in to the server"),
                "1.{minor}: {}",
                out.stderr
            );
            let k = Kubectl::new(minor, &node).unwrap();
            let out = k.run_stdin(
                &["create", "--validate=false", "-f", "-"],
                &web("node-made", 1),
            );
            assert!(
                out.stderr.contains("Forbidden")
                    && out.stderr.contains(
                        "User \"system:node:node-1\" cannot create resource \"swarmservices\""
                    ),
                "1.{minor}: {}",
                out.stderr
            );
        })
        .await;
    }
}
