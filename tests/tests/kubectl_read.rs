//! Reading with real kubectl (1.27 and 1.33) from the real api-server over real etcd:
//! discovery, `get` as a Swarm-like table, `-o yaml`, selectors, `-A`, describe, explain.

use flotilla_tests::apiserver::TestApiServer;
use flotilla_tests::fixtures::{web, KUBECTL_VERSIONS};
use flotilla_tests::kubectl::installed_versions;
use flotilla_tests::kubectl::Kubectl;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread")]
async fn api_resources_lists_swarm_kinds_with_short_names() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).expect("kubectl installed");
        let out = blocking(move || k.run(&["api-resources"]).ok()).await;
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("swarmservices"))
            .unwrap_or_default()
            .to_string();
        assert!(
            line.contains("ssvc")
                && line.contains("flotilla.dev/v1alpha1")
                && line.contains("SwarmService"),
            "1.{minor}: {}",
            out.stdout
        );
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("swarmnodes") && l.contains("false")),
            "swarmnodes are cluster-scoped: {}",
            out.stdout
        );
        assert!(out.stdout.contains("leases"), "{}", out.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_reads_like_docker_service_ls() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("web{minor}");
        let out = blocking(move || {
            k.run_stdin(&["apply", "-f", "-"], &web(&name, 3)).ok();
            let table = k.run(&["get", "ssvc"]).ok();
            let yaml = k.run(&["get", "ssvc", &name, "-o", "yaml"]).ok();
            let by_label = k
                .run(&[
                    "get",
                    "swarmservices",
                    "-l",
                    &format!("app={name}"),
                    "-o",
                    "name",
                ])
                .ok();
            let all = k.run(&["get", "ssvc", "-A"]).ok();
            (table, yaml, by_label, all, name)
        })
        .await;
        let (table, yaml, by_label, all, name) = out;
        let header = table.stdout.lines().next().unwrap_or_default();
        for col in ["NAME", "MODE", "REPLICAS", "IMAGE", "PORTS", "AGE"] {
            assert!(header.contains(col), "1.{minor} header {header:?}");
        }
        let row = table
            .stdout
            .lines()
            .find(|l| l.starts_with(&name))
            .unwrap_or_default();
        assert!(
            row.contains("replicated")
                && row.contains("0/3")
                && row.contains("flotilla/web:latest")
                && row.contains("*:8080->80/tcp"),
            "1.{minor} row {row:?}"
        );
        assert!(
            yaml.stdout.contains("kind: SwarmService") && yaml.stdout.contains("resourceVersion:"),
            "{}",
            yaml.stdout
        );
        // Swarm defaults were applied by the server.
        assert!(
            yaml.stdout.contains("parallelism: 1") && yaml.stdout.contains("condition: any"),
            "{}",
            yaml.stdout
        );
        assert_eq!(
            by_label.stdout.trim(),
            format!("swarmservice.flotilla.dev/{name}")
        );
        assert!(
            all.stdout
                .lines()
                .next()
                .unwrap_or_default()
                .starts_with("NAMESPACE"),
            "{}",
            all.stdout
        );
        assert!(all.stdout.contains("default"), "{}", all.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_and_explain() {
    let server = TestApiServer::with_etcd().await.unwrap();
    for minor in installed_versions(&KUBECTL_VERSIONS) {
        let k = Kubectl::new(minor, &server.kubeconfig).unwrap();
        let name = format!("d{minor}");
        let (describe, explain) = blocking(move || {
            k.run_stdin(&["apply", "-f", "-"], &web(&name, 2)).ok();
            (
                k.run(&["describe", "ssvc", &name]).ok(),
                k.run(&["explain", "ssvc.spec.taskTemplate"]).ok(),
            )
        })
        .await;
        assert!(
            describe.stdout.contains("Name:") && describe.stdout.contains("flotilla/web:latest"),
            "{}",
            describe.stdout
        );
        assert!(
            explain.stdout.contains("containerSpec"),
            "1.{minor}: {}",
            explain.stdout
        );
    }
}
