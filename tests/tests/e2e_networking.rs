//! Service networking end to end (docs/networking.md): the real binaries with two Docker-runtime
//! node agents on this one engine, a `backend` network, an `api` service answering HTTP with its
//! container's hostname, a `web` client, a `dnsrr` service and an outsider on another (internal)
//! network. From the web task: `api` resolves to the VIP and `tasks.api` to the task addresses,
//! the VIP spreads connections over the api tasks on both nodes, a third task gets traffic once
//! scaled, a killed one none; the outsider can neither resolve nor reach api; deleting the
//! network in use is refused. A standalone container stays on the attachable network and
//! finds api there; one on the network that is not attachable is disconnected. Skips with a printed reason when no Docker engine answers.
//!
//! The HTTP client in the tasks is busybox `nc` speaking HTTP/1.0: busybox-static's `wget`
//! crashes (status 139) in the `FROM scratch` example image when it fetches from another
//! container, while `nc` and `nslookup` work.

mod e2e_support;

use std::collections::BTreeSet;
use std::time::Duration;

use e2e_support::*;
use flotilla_api::{SwarmNetwork, SwarmService, Task};
use flotilla_cli::up::image::WEB_IMAGE;
use flotilla_cli::up::{AgentSpec, Runtime};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

const CONVERGE: Duration = Duration::from_secs(120);
const WHOLE_TEST: Duration = Duration::from_secs(420);

/// Removes this test's standalone containers when dropped.
struct Standalone(Vec<String>);

impl Drop for Standalone {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = docker(&["rm", "-f", c]);
        }
    }
}

/// Removes this test's Docker networks when dropped (after the cluster removed the containers).
struct DockerNetworks(Vec<String>);

impl Drop for DockerNetworks {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = docker(&["network", "rm", n]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn services_find_each_other_by_name_through_vip_and_dns_across_two_nodes() {
    let Some(_image) = web_image() else { return };
    flotilla_tests::bins::workspace_bins()
        .await
        .expect("the workspace binaries");
    tokio::time::timeout(WHOLE_TEST, scenario())
        .await
        .expect("the scenario finishes in time");
}

/// `backend` is attachable and the internal one is not (as a swarm network is by default).
fn network(name: &str, subnet: &str, internal: bool) -> SwarmNetwork {
    serde_json::from_value(
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNetwork",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"subnet": subnet, "internal": internal, "attachable": !internal}}),
    )
    .expect("a valid SwarmNetwork")
}

/// A service on `network` running `script` in busybox sh.
fn service(
    name: &str,
    network: &str,
    replicas: i64,
    mode: &str,
    script: &str,
    mesh_port: Option<u16>,
) -> SwarmService {
    let mut svc = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"mode": {"replicated": {"replicas": replicas}},
            "taskTemplate": {
                "containerSpec": {"image": WEB_IMAGE, "stopGracePeriod": "1s",
                    "command": ["/bin/busybox", "sh", "-c"], "args": [script]},
                "restartPolicy": {"condition": "any", "delay": "1s"},
                "networks": [{"target": network}]},
            "endpoint": {"mode": mode}}});
    if let Some(port) = mesh_port {
        // The VIP serves the endpoint's target ports; this one is also on the routing mesh.
        svc["spec"]["endpoint"]["ports"] = json!([{"targetPort": 80, "publishedPort": port}]);
    }
    serde_json::from_value(svc).expect("a valid SwarmService")
}

const API: &str = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www";
const IDLE: &str = "exec sleep 100000";

/// Runs busybox `args` in `container`; stdout and stderr, whatever the exit status.
fn exec(container: &str, script: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["exec", container, "/bin/busybox", "sh", "-c", script])
        .output()
        .expect("docker exec");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `n` HTTP requests to `target` from `container`: the hostnames that answered (stdout only:
/// nc's complaints about refused connections are not answers).
fn requests(container: &str, target: &str, n: usize) -> Vec<String> {
    let script = format!(
        "for i in $(seq {n}); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} 80 | tail -n 1; done"
    );
    let out = std::process::Command::new("docker")
        .args(["exec", container, "/bin/busybox", "sh", "-c", &script])
        .output()
        .expect("docker exec");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Swarm's `attachable`: a standalone container (`docker run --network`) stays on the attachable
/// `backend`, where the node's resolver (at the gateway) answers `api` with the VIP and the VIP
/// answers it; one on the internal network, which is not attachable, is disconnected.
async fn attachable(
    standalone: &Standalone,
    [backend, other]: [&str; 2],
    gateway: &str,
    vip: &str,
    api_hosts: &BTreeSet<String>,
) {
    let run = |name: &str, net: &str| {
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &format!("flotilla-default-{net}"),
            "--entrypoint",
            "/bin/busybox",
            WEB_IMAGE,
            "sleep",
            "300",
        ])
        .expect("docker run")
    };
    let (open, closed) = (&standalone.0[0], &standalone.0[1]);
    run(open, backend);
    run(closed, other);
    let on_networks = |name: &str| {
        docker(&["inspect", "-f", "{{len .NetworkSettings.Networks}}", name]).unwrap_or_default()
    };
    wait_for(
        "the container on a closed network to be disconnected",
        CONVERGE,
        || async { (on_networks(closed) == "0").then_some(()) },
    )
    .await;
    let lookup = wait_for(
        "api to resolve from a standalone container",
        CONVERGE,
        || async {
            let out = exec(open, &format!("nslookup api {gateway}"));
            out.contains(vip).then_some(out)
        },
    )
    .await;
    assert!(lookup.contains(vip), "{lookup}");
    let reached: BTreeSet<String> = requests(open, vip, 4).into_iter().collect();
    assert!(
        !reached.is_empty() && reached.is_subset(api_hosts),
        "{reached:?}"
    );
    assert_eq!(
        on_networks(open),
        "1",
        "the attachable network kept its container"
    );
}

/// The task's address on `network`, without prefix length.
fn address(task: &Task, network: &str) -> String {
    let att = task.spec.networks.iter().find(|a| a.network == network);
    let cidr = att.and_then(|a| a.addresses.first()).expect("an address");
    cidr.split('/').next().unwrap().to_string()
}

fn hostname(task: &Task) -> String {
    container_of(task).expect("a container")[..12].to_string()
}

async fn scenario() {
    let pid = std::process::id();
    let third = 2 * (pid % 120) + 1;
    let (backend, other) = (format!("be{pid}"), format!("ot{pid}"));
    let _networks = DockerNetworks(vec![
        format!("flotilla-default-{backend}"),
        format!("flotilla-default-{other}"),
    ]);
    let standalone = Standalone(vec![format!("att{pid}"), format!("closed{pid}")]);
    let agents = AgentSpec::numbered(&format!("net{pid}"), 2, Runtime::Docker);
    let mut e2e = E2e::start(agents, &[]).await.expect("cluster starts");
    let client = e2e.cluster.client();
    let networks: Api<SwarmNetwork> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    for (name, n, internal) in [(&backend, third, false), (&other, third + 1, true)] {
        let net = network(name, &format!("10.210.{n}.0/24"), internal);
        networks.create(&pp, &net).await.expect("network created");
    }
    let services = e2e.services();
    let mesh_port = free_port_on_nodes(2);
    for svc in [
        service("api", &backend, 2, "vip", API, Some(mesh_port)),
        service("web", &backend, 1, "vip", IDLE, None),
        service("rr", &backend, 1, "dnsrr", IDLE, None),
        service("outsider", &other, 1, "vip", IDLE, None),
    ] {
        services.create(&pp, &svc).await.expect("service created");
    }
    let api = e2e.wait_running("api", 2, CONVERGE).await;
    let web = e2e.wait_running("web", 1, CONVERGE).await.remove(0);
    let rr = e2e.wait_running("rr", 1, CONVERGE).await.remove(0);
    let outsider = e2e.wait_running("outsider", 1, CONVERGE).await.remove(0);
    let nodes: BTreeSet<_> = api
        .iter()
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    assert_eq!(nodes.len(), 2, "api runs on both nodes: {nodes:?}");
    let web_c = container_of(&web).unwrap();
    let out_c = container_of(&outsider).unwrap();

    // Tasks run at the addresses the allocator gave them, on a Docker network per SwarmNetwork.
    for t in &api {
        let ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &container_of(t).unwrap(),
        ]);
        assert_eq!(ip, Some(address(t, &backend)));
        // …and record the address they got in their status, as the allocator wrote it.
        let status = t.status.as_ref().expect("a status");
        let got: Vec<_> = status
            .networks
            .iter()
            .map(|a| (&a.network, &a.addresses))
            .collect();
        let allocated = t.spec.networks.iter().filter(|a| a.network == backend);
        let want: Vec<_> = allocated.map(|a| (&a.network, &a.addresses)).collect();
        assert_eq!(got, want, "status.networks of {:?}", t.metadata.name);
    }
    let internal = docker(&[
        "network",
        "inspect",
        "-f",
        "{{.Internal}}",
        &format!("flotilla-default-{other}"),
    ]);
    assert_eq!(internal.as_deref(), Some("true"));

    let svc = services.get("api").await.unwrap();
    let vip = svc.status.unwrap().endpoint.unwrap().virtual_ips[0]
        .addr
        .clone();
    let vip = vip.split('/').next().unwrap().to_string();

    // Names: api → the VIP, tasks.api → both task addresses, rr (dnsrr) → its task address.
    let lookup = wait_for("api to resolve from web", CONVERGE, || async {
        let out = exec(&web_c, "nslookup api");
        out.contains(&vip).then_some(out)
    })
    .await;
    assert!(lookup.contains(&vip), "{lookup}");
    let tasks_api = wait_for("tasks.api to list both tasks", CONVERGE, || async {
        let out = exec(&web_c, "nslookup tasks.api");
        api.iter()
            .all(|t| out.contains(&address(t, &backend)))
            .then_some(out)
    })
    .await;
    assert!(
        !tasks_api.contains(&format!("Address: {vip}\n")),
        "{tasks_api}"
    );
    let rr_lookup = exec(&web_c, "nslookup rr");
    assert!(rr_lookup.contains(&address(&rr, &backend)), "{rr_lookup}");
    let names = exec(&web_c, "nslookup example.com");
    assert!(
        names.contains("NXDOMAIN") || names.contains("can't find"),
        "{names}"
    );

    // The VIP spreads 20 requests over both api tasks (one on each node).
    let want: BTreeSet<String> = api.iter().map(hostname).collect();
    let seen = wait_for(
        "20 requests through the VIP to reach both api tasks",
        CONVERGE,
        || async {
            let seen: BTreeSet<String> = requests(&web_c, "api", 20).into_iter().collect();
            (seen == want).then_some(seen)
        },
    )
    .await;
    println!("VIP reached {seen:?}");
    // The same service stays reachable from outside on the routing mesh, as before.
    let mesh = format!("127.0.0.2:{mesh_port}");
    let body = wait_for("the mesh port", CONVERGE, || http_get(&mesh)).await;
    let answer = body.lines().last().unwrap_or_default().trim();
    assert!(want.contains(answer), "{body}");

    // Another network: api neither resolves nor answers, by VIP or by task address.
    let out = exec(&out_c, "nslookup api");
    assert!(!out.contains(&vip), "outsider resolved api: {out}");
    assert!(
        exec(&out_c, "nslookup outsider").contains("Address"),
        "its own name resolves"
    );
    let reached = requests(&out_c, &vip, 2);
    assert!(reached.is_empty(), "outsider reached the VIP: {reached:?}");
    assert!(
        requests(&out_c, &address(&api[0], &backend), 1).is_empty(),
        "outsider reached a task"
    );

    let net = networks.get(&backend).await.unwrap();
    let gateway = net.status.and_then(|s| s.gateway).expect("a gateway");
    let gateway = gateway.split('/').next().unwrap().to_string();
    attachable(&standalone, [&backend, &other], &gateway, &vip, &want).await;

    // Deleting the network in use is refused, naming the service and the field.
    match networks.delete(&backend, &DeleteParams::default()).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 409, "{e:?}");
            assert!(
                e.message.contains("in use by service \"api\"")
                    && e.message.contains("spec.taskTemplate.networks[0].target"),
                "{}",
                e.message
            );
        }
        other => panic!("deleting a network in use: {other:?}"),
    }

    // Scale to 3: the third task gets traffic.
    let scale = json!({"spec": {"mode": {"replicated": {"replicas": 3}}}});
    services
        .patch("api", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    let api = e2e.wait_running("api", 3, CONVERGE).await;
    let want: BTreeSet<String> = api.iter().map(hostname).collect();
    wait_for(
        "requests to reach all three api tasks",
        CONVERGE,
        || async {
            let seen: BTreeSet<String> = requests(&web_c, "api", 20).into_iter().collect();
            (seen == want).then_some(())
        },
    )
    .await;

    // Kill one: once its task has failed, no request goes to it, and none fails.
    let victim = &api[0];
    docker(&["kill", &container_of(victim).unwrap()]).expect("docker kill");
    let gone = hostname(victim);
    let tasks = e2e.tasks();
    let victim_name = victim.metadata.name.clone().unwrap();
    wait_for("the killed task to fail", CONVERGE, || async {
        let t = tasks.get(&victim_name).await.ok()?;
        (state_of(&t) == flotilla_api::TaskState::Failed).then_some(())
    })
    .await;
    let after = wait_for(
        "traffic to stop going to the killed task",
        CONVERGE,
        || async {
            let after = requests(&web_c, "api", 20);
            (after.len() == 20 && !after.contains(&gone)).then_some(after)
        },
    )
    .await;
    println!(
        "after the kill: {:?}",
        after.iter().collect::<BTreeSet<_>>()
    );

    // Without its services the network may go.
    for name in ["api", "web", "rr", "outsider"] {
        services
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    wait_for("the network to be deletable", CONVERGE, || async {
        networks
            .delete(&backend, &DeleteParams::default())
            .await
            .ok()
            .map(drop)
    })
    .await;
    let bridge = format!("flotilla-default-{backend}");
    wait_for(
        "the agents to remove the Docker network",
        CONVERGE,
        || async {
            docker(&["network", "inspect", &bridge])
                .is_none()
                .then_some(())
        },
    )
    .await;
    let E2e { cluster, .. } = e2e;
    cluster.shutdown().await;
}
