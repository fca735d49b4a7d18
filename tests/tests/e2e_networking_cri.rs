//! Service networking on the CRI runtime (docs/networking.md): the real binaries with one agent
//! driving the shared private containerd; tasks join their SwarmNetworks through the CNI bridge
//! plugin beside containerd's default network. From a web task on `backend`: `api` resolves to
//! the VIP, `tasks.api` to both task addresses, a request through the VIP is answered; each task
//! records the address it got; a task on another network cannot resolve `api`; a task whose
//! only network is `internal` has no default route and the routing mesh still reaches it. Skips with a
//! printed reason where containerd cannot run.

mod e2e_support;

use std::collections::HashMap;
use std::time::Duration;

use e2e_support::*;
use flotilla_api::{SwarmNetwork, SwarmService, Task};
use flotilla_cli::up::image::WEB_IMAGE;
use flotilla_cli::up::{AgentSpec, Runtime};
use flotilla_node_agent::runtime::cni::bridge_name;
use flotilla_node_agent::runtime::cri::remove_sandboxes;
use flotilla_tests::containerd::{shared, SharedContainerd};
use kube::api::PostParams;
use kube::Api;
use serde_json::json;

const CONVERGE: Duration = Duration::from_secs(120);
const WHOLE_TEST: Duration = Duration::from_secs(360);
const API: &str = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www";
const IDLE: &str = "exec sleep 100000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_tasks_find_each_other_by_name_and_vip_on_their_swarm_network() {
    let Some(cri) = shared().await else { return };
    flotilla_tests::bins::workspace_bins()
        .await
        .expect("the workspace binaries");
    let pid = std::process::id();
    let node = format!("cnet{pid}");
    let outcome = tokio::time::timeout(WHOLE_TEST, scenario(&cri, &node)).await;
    let labels = HashMap::from([("flotilla.dev/node".to_string(), node.clone())]);
    let _ = remove_sandboxes(&cri.endpoint(), labels).await;
    // The networks outlive the cluster: remove their host bridges (and the VIPs on them).
    for net in [format!("cb{pid}"), format!("co{pid}")] {
        let bridge = bridge_name("default", &net);
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &bridge])
            .output();
    }
    outcome.expect("the scenario finishes in time");
}

fn network(name: &str, subnet: &str, internal: bool) -> SwarmNetwork {
    serde_json::from_value(
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNetwork",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"subnet": subnet, "internal": internal}}),
    )
    .expect("a valid SwarmNetwork")
}

/// A `vip` service on `network` running `script`; port 80 is the VIP's (and on the mesh at `port`).
fn service(name: &str, network: &str, replicas: i64, script: &str, port: u16) -> SwarmService {
    serde_json::from_value(
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"mode": {"replicated": {"replicas": replicas}},
            "taskTemplate": {
                "containerSpec": {"image": WEB_IMAGE, "stopGracePeriod": "1s",
                    "command": ["/bin/busybox", "sh", "-c"], "args": [script]},
                "networks": [{"target": network}]},
            "endpoint": {"mode": "vip", "ports": [{"targetPort": 80, "publishedPort": port}]}}}),
    )
    .expect("a valid SwarmService")
}

/// Runs a busybox script in the task's container (`ctr tasks exec`): stdout, or "" on failure.
fn exec(cri: &SharedContainerd, task: &Task, script: &str) -> String {
    let id = container_of(task).expect("a container");
    let exec_id = format!("n{}", std::process::id());
    let args = ["tasks", "exec", "--exec-id", &exec_id, &id];
    let mut args: Vec<&str> = args.to_vec();
    args.extend(["/bin/busybox", "sh", "-c", script]);
    cri.ctr(&args).unwrap_or_default()
}

fn bare(cidr: &str) -> String {
    cidr.split('/').next().unwrap_or_default().to_string()
}

async fn scenario(cri: &SharedContainerd, node: &str) {
    let pid = std::process::id();
    let third = 2 * (pid % 100) + 20;
    let (backend, other) = (format!("cb{pid}"), format!("co{pid}"));
    let agent = AgentSpec {
        name: node.to_string(),
        address: "127.0.0.2".into(),
        runtime: Runtime::Cri,
        simulate_nodes: None,
        extra_args: vec!["--cri-endpoint".into(), cri.endpoint()],
    };
    let mut e2e = E2e::start(vec![agent], &[]).await.expect("cluster starts");
    let client = e2e.cluster.client();
    let networks: Api<SwarmNetwork> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    for (name, n, internal) in [(&backend, third, false), (&other, third + 1, true)] {
        let net = network(name, &format!("10.215.{n}.0/24"), internal);
        networks.create(&pp, &net).await.expect("network created");
    }
    let services = e2e.services();
    let ports: Vec<u16> = (0..3).map(|_| free_port_on_nodes(1)).collect();
    for svc in [
        service("api", &backend, 2, API, ports[0]),
        service("web", &backend, 1, IDLE, ports[1]),
        service("outsider", &other, 1, API, ports[2]),
    ] {
        services.create(&pp, &svc).await.expect("service created");
    }
    let api = e2e.wait_running("api", 2, CONVERGE).await;
    let web = e2e.wait_running("web", 1, CONVERGE).await.remove(0);
    let outsider = e2e.wait_running("outsider", 1, CONVERGE).await.remove(0);

    // Each task has its allocated address on an interface of its own, and records it.
    let mut task_ips = Vec::new();
    for t in &api {
        let assigned = &t.spec.networks[0].addresses;
        let got = &t.status.as_ref().expect("a status").networks;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((&got[0].network, &got[0].addresses), (&backend, assigned));
        let ip = bare(&assigned[0]);
        let inside = exec(cri, t, "ip -o addr show eth1 || cat /proc/net/fib_trie");
        assert!(inside.contains(&ip), "{ip} inside the api task: {inside}");
        task_ips.push(ip);
    }
    let svc = services.get("api").await.expect("api");
    let vip = svc.status.unwrap().endpoint.unwrap().virtual_ips[0]
        .addr
        .clone();
    let vip = bare(&vip);

    let lookup = wait_for("api to resolve to its VIP from web", CONVERGE, || async {
        let out = exec(cri, &web, "nslookup api");
        out.contains(&vip).then_some(out)
    })
    .await;
    assert!(lookup.contains(&vip), "{lookup}");
    let tasks = wait_for("tasks.api to list both tasks", CONVERGE, || async {
        let out = exec(cri, &web, "nslookup tasks.api");
        task_ips.iter().all(|ip| out.contains(ip)).then_some(out)
    })
    .await;
    assert!(!tasks.contains(&vip), "{tasks}");
    let hostnames = wait_for("a request through the VIP answered", CONVERGE, || async {
        let get = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 api 80 | tail -n 1";
        let out = exec(cri, &web, get);
        (!out.trim().is_empty()).then_some(out)
    })
    .await;
    assert!(
        !hostnames.contains("HTTP/"),
        "a body, not headers: {hostnames}"
    );

    // The outsider shares no network with api: the name does not exist for it.
    let out = exec(cri, &outsider, "nslookup api; echo rc=$?");
    assert!(!out.contains(&vip), "{out}");
    assert!(task_ips.iter().all(|ip| !out.contains(ip)), "{out}");

    // The outsider's only network is internal: no route out of its sandbox, while web keeps
    // the default route of containerd's network; the routing mesh still reaches the outsider.
    let routes = exec(cri, &outsider, "ip route");
    assert!(!routes.contains("default"), "{routes}");
    assert!(routes.contains("eth0"), "{routes}");
    let routes = exec(cri, &web, "ip route");
    assert!(routes.contains("default"), "{routes}");
    let mesh = format!("127.0.0.2:{}", ports[2]);
    let answer = wait_for("the mesh reaches the internal task", CONVERGE, || async {
        http_get(&mesh).await
    })
    .await;
    assert!(!answer.is_empty(), "{answer}");
}
