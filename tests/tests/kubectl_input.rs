//! Input the server used to accept or mishandle (issue 22, item 6), through stock kubectl: each
//! is a 4xx Status naming the field, and nothing is stored.

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::{web, KUBECTL_VERSIONS};
use flotilla_tests::kubectl::{Kubectl, Run};

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

fn failed_with(out: &Run, needles: &[&str]) {
    assert_ne!(out.code, 0, "should fail: {out:?}");
    for n in needles {
        assert!(out.stderr.contains(n), "{n:?} not in: {}", out.stderr);
    }
}

fn not_stored(k: &Kubectl, args: &[&str]) {
    let out = k.run(args);
    assert!(out.stderr.contains("NotFound"), "stored: {out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_labels_and_annotations_are_invalid() {
    let server = TestApiServer::embedded().await.unwrap();
    let k = Kubectl::new(33, &server.kubeconfig).unwrap();
    blocking(move || {
        let bad_key = web("lk", 1).replace("    app: lk", "    \"bad key\": x");
        let out = k.run_stdin(&["create", "-f", "-"], &bad_key);
        failed_with(
            &out,
            &["is invalid", "metadata.labels", "name part must consist"],
        );
        not_stored(&k, &["get", "ssvc", "lk"]);

        let long = web("lv", 1).replace("    app: lv", &format!("    app: {}", "v".repeat(64)));
        let out = k.run_stdin(&["create", "-f", "-"], &long);
        failed_with(
            &out,
            &["metadata.labels", "must be no more than 63 characters"],
        );
        not_stored(&k, &["get", "ssvc", "lv"]);

        let big = web("an", 1).replace(
            "  labels:",
            &format!(
                "  annotations:\n    note: {}\n  labels:",
                "a".repeat(300 * 1024)
            ),
        );
        let out = k.run_stdin(&["create", "-f", "-"], &big);
        failed_with(
            &out,
            &["metadata.annotations: Too long: must have at most 262144 bytes"],
        );
        not_stored(&k, &["get", "ssvc", "an"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_and_missing_namespaces_store_nothing() {
    let server = TestApiServer::embedded().await.unwrap();
    let k = Kubectl::new(33, &server.kubeconfig).unwrap();
    blocking(move || {
        let out = k.run_stdin(&["create", "-n", "team-x", "-f", "-"], &web("w", 1));
        failed_with(&out, &["NotFound", "namespaces \"team-x\" not found"]);

        let out = k.run_stdin(&["create", "-n", "Bad_NS", "-f", "-"], &web("w", 1));
        failed_with(
            &out,
            &["is invalid", "metadata.namespace", "RFC 1123 label"],
        );

        let dots = "/apis/flotilla.dev/v1alpha1/namespaces/%2e%2e/swarmservices";
        let out = k.run(&["get", "--raw", dots]);
        failed_with(&out, &["BadRequest"]);
        let out = k.run_stdin(&["create", "--raw", dots, "-f", "-"], &web("w", 1));
        failed_with(&out, &["BadRequest"]);

        let all = k.run(&["get", "ssvc", "-A", "-o", "name"]).ok();
        assert_eq!(all.stdout.trim(), "", "nothing stored anywhere");

        // The system namespaces exist from the start; a created one may be used.
        let ns = k.run(&["get", "ns", "-o", "name"]).ok();
        for system in [
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "flotilla-node-lease",
        ] {
            assert!(ns.stdout.contains(&format!("namespace/{system}")), "{ns:?}");
        }
        // (`kubectl create namespace` sends protobuf, which this server does not read.)
        let team_x = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-x\n";
        k.run_stdin(&["create", "-f", "-"], team_x).ok();
        k.run_stdin(&["create", "-n", "team-x", "-f", "-"], &web("w", 1))
            .ok();
        let out = k.run(&["delete", "namespace", "default"]);
        failed_with(&out, &["Forbidden", "may not be deleted"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unparseable_resource_version_is_refused_not_ignored() {
    let server = TestApiServer::embedded().await.unwrap();
    for minor in KUBECTL_VERSIONS {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("rv{minor}");
        blocking(move || {
            k.run_stdin(&["create", "-f", "-"], &web(&name, 1)).ok();
            let abc = web(&name, 5).replace(
                &format!("name: {name}\n"),
                &format!("name: {name}\n  resourceVersion: \"abc\"\n"),
            );
            let out = k.run_stdin(&["replace", "-f", "-"], &abc);
            failed_with(&out, &["is invalid", "metadata.resourceVersion", "\"abc\""]);
            let patch = r#"{"metadata":{"resourceVersion":"abc"},"spec":{"mode":{"replicated":{"replicas":7}}}}"#;
            let out = k.run(&["patch", "ssvc", &name, "--type=merge", "-p", patch]);
            failed_with(&out, &["metadata.resourceVersion"]);
            let replicas = k
                .run(&[
                    "get",
                    "ssvc",
                    &name,
                    "-o",
                    "jsonpath={.spec.mode.replicated.replicas}",
                ])
                .ok();
            assert_eq!(replicas.stdout, "1", "the update was not applied");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_json_keys_under_field_validation() {
    let server = TestApiServer::embedded().await.unwrap();
    let k = Kubectl::new(33, &server.kubeconfig).unwrap();
    blocking(move || {
        let dup = |name: &str| {
            format!(
                r#"{{"apiVersion":"flotilla.dev/v1alpha1","kind":"SwarmService","metadata":{{"name":"{name}"}},
                "spec":{{"mode":{{"replicated":{{"replicas":1,"replicas":100}}}},
                "taskTemplate":{{"containerSpec":{{"image":"busybox"}}}}}}}}"#
            )
        };
        let uri = "/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices";
        let strict = format!("{uri}?fieldValidation=Strict");
        let out = k.run_stdin(&["create", "--raw", &strict, "-f", "-"], &dup("strict"));
        failed_with(
            &out,
            &["strict decoding error: duplicate field \"spec.mode.replicated.replicas\""],
        );
        not_stored(&k, &["get", "ssvc", "strict"]);
        let warn = format!("{uri}?fieldValidation=Warn");
        let out = k
            .run_stdin(&["create", "--raw", &warn, "-f", "-"], &dup("warned"))
            .ok();
        assert!(
            out.stderr
                .contains("duplicate field \"spec.mode.replicated.replicas\""),
            "{out:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_swarmsecret_shows_the_size_not_the_data() {
    let server = TestApiServer::embedded().await.unwrap();
    let secret = "apiVersion: flotilla.dev/v1alpha1\nkind: SwarmSecret\nmetadata:\n  name: db\nspec:\n  data: czNjcjN0LXBhc3N3b3Jk\n";
    for minor in KUBECTL_VERSIONS {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        blocking(move || {
            k.run_stdin(&["apply", "-f", "-"], secret).ok();
            let out = k.run(&["describe", "swarmsecret", "db"]).ok();
            assert!(
                !out.stdout.contains("czNjcjN0LXBhc3N3b3Jk") && !out.stdout.contains("s3cr3t"),
                "1.{minor} shows the data:\n{}",
                out.stdout
            );
            assert!(
                out.stdout.contains("<15 bytes>"),
                "1.{minor}:\n{}",
                out.stdout
            );
            // The owner still reads the data.
            let yaml = k.run(&["get", "swarmsecret", "db", "-o", "yaml"]).ok();
            assert!(
                yaml.stdout.contains("data: czNjcjN0LXBhc3N3b3Jk"),
                "{}",
                yaml.stdout
            );
        })
        .await;
    }
}
