//! `kubectl auth can-i` and `kubectl auth whoami` with kubectl 1.27 (JSON reviews) and 1.33
//! (protobuf reviews) against the real api-server: admin may create services, a node may not.

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::KUBECTL_VERSIONS;
use flotilla_tests::kubectl::installed_versions;
use flotilla_tests::kubectl::{Kubectl, Run};

async fn kubectl(minor: u32, kubeconfig: &std::path::Path, args: &[&str]) -> Run {
    let k = Kubectl::new(minor, kubeconfig).expect("kubectl installed");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        k.run(&args)
    })
    .await
    .expect("blocking task")
}

#[tokio::test(flavor = "multi_thread")]
async fn can_i_answers_yes_for_admin_and_no_for_a_node() {
    let server = TestApiServer::embedded().await.unwrap();
    let node = server
        .kubeconfig_for("system:node:n1", &["system:nodes"])
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let admin = kubectl(
            minor,
            &server.kubeconfig,
            &["auth", "can-i", "create", "swarmservices"],
        )
        .await;
        assert_eq!(
            (admin.code, admin.stdout.trim()),
            (0, "yes"),
            "1.{minor} admin: {admin:?}"
        );

        let denied = kubectl(minor, &node, &["auth", "can-i", "create", "swarmservices"]).await;
        assert_eq!(
            (denied.code, denied.stdout.trim()),
            (1, "no"),
            "1.{minor} node: {denied:?}"
        );

        // A node may update its own SwarmNode but not another's.
        let own = ["auth", "can-i", "update", "swarmnodes/n1"];
        let own = kubectl(minor, &node, &own).await;
        assert_eq!(own.stdout.trim(), "yes", "1.{minor} own node: {own:?}");
        let other = ["auth", "can-i", "update", "swarmnodes/n2"];
        let other = kubectl(minor, &node, &other).await;
        assert!(
            other.stdout.starts_with("no"),
            "1.{minor} other node: {other:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_shows_the_certificate_identity() {
    let server = TestApiServer::embedded().await.unwrap();
    let node = server
        .kubeconfig_for("system:node:n1", &["system:nodes"])
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let me = kubectl(minor, &node, &["auth", "whoami"]).await.ok();
        assert!(
            me.stdout.contains("system:node:n1") && me.stdout.contains("system:nodes"),
            "1.{minor}: {me:?}"
        );
        let admin = kubectl(minor, &server.kubeconfig, &["auth", "whoami", "-o", "json"])
            .await
            .ok();
        let v: serde_json::Value = serde_json::from_str(&admin.stdout).unwrap();
        assert_eq!(
            v["status"]["userInfo"]["username"], "flotilla:admin",
            "1.{minor}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn can_i_list_shows_the_rules_of_the_caller() {
    let server = TestApiServer::embedded().await.unwrap();
    let scheduler = server
        .kubeconfig_for("system:flotilla-scheduler", &[])
        .unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let admin = kubectl(minor, &server.kubeconfig, &["auth", "can-i", "--list"])
            .await
            .ok();
        let wildcard = admin.stdout.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&"*.*") && cols.last() == Some(&"[*]")
        });
        assert!(wildcard, "1.{minor} admin: {admin:?}");

        let sched = ["auth", "can-i", "--list", "-n", "default"];
        let sched = kubectl(minor, &scheduler, &sched).await.ok();
        let row = |resource: &str| {
            sched
                .stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(resource))
                .map(str::to_string)
        };
        let tasks = row("tasks.flotilla.dev").expect("a tasks row");
        assert!(tasks.ends_with("[get list watch]"), "1.{minor}: {tasks}");
        let binding = row("tasks.flotilla.dev/binding").expect("a binding row");
        assert!(binding.contains("create"), "1.{minor}: {binding}");
        assert_eq!(
            row("swarmsecrets.flotilla.dev"),
            None,
            "1.{minor}: {sched:?}"
        );
        assert!(sched.stdout.contains("/version"), "1.{minor}: {sched:?}");
    }
}
