//! The VXLAN overlay between node containers (docs/networking.md#the-overlay-between-nodes):
//! a SwarmNetwork with one `api` task and a global `probe` service on it; from the probe task
//! of another node, the api task answers at its overlay address, `tasks.ovl-api` resolves to
//! it (the probe's own node's DNS) and answers by that name, and every node running a task of
//! the network has its VXLAN device.

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_api::{Task, TaskState};
use flotilla_tests::kubectl::Kubectl;
use flotilla_tests::probe::wait_for;

use crate::isolation::docker;
use crate::nodes::ctr;

const STEP: Duration = Duration::from_secs(60);

const MANIFEST: &str = r#"
apiVersion: flotilla.dev/v1alpha1
kind: SwarmNetwork
metadata: {name: ovl, namespace: default}
spec: {subnet: 10.219.0.0/24}
---
apiVersion: flotilla.dev/v1alpha1
kind: SwarmService
metadata: {name: ovl-api, namespace: default}
spec:
  mode: {replicated: {replicas: 1}}
  taskTemplate:
    containerSpec:
      image: flotilla/web:latest
      stopGracePeriod: 1s
      command: ["/bin/busybox", "sh", "-c"]
      args: ["mkdir -p /www && echo overlay-api > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [{target: ovl}]
  endpoint: {mode: dnsrr}
---
apiVersion: flotilla.dev/v1alpha1
kind: SwarmService
metadata: {name: ovl-probe, namespace: default}
spec:
  mode: {global: {}}
  taskTemplate:
    containerSpec:
      image: flotilla/web:latest
      stopGracePeriod: 1s
      command: ["/bin/busybox", "sh", "-c"]
      args: ["exec sleep 100000"]
    networks: [{target: ovl}]
"#;

/// The running tasks of `service`, as the API has them.
fn running(k: &Kubectl, service: &str) -> Vec<Task> {
    let selector = format!("flotilla.dev/service={service}");
    let run = k.run(&["get", "tasks", "-l", &selector, "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_default();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .into_iter()
        .filter_map(|t| serde_json::from_value::<Task>(t).ok())
        .filter(|t| {
            let status = t.status.as_ref();
            let has_container = status
                .and_then(|s| s.container_status.as_ref())
                .is_some_and(|c| c.container_id.is_some());
            let running = status.and_then(|s| s.state) == Some(TaskState::Running);
            running && t.spec.desired_state == TaskState::Running && has_container
        })
        .collect()
}

/// A busybox script run in task container `id` inside node container `node`: its stdout.
fn exec(node: &str, id: &str, script: &str) -> String {
    let exec_id = format!("ovl{}", std::process::id());
    let args = [
        "tasks",
        "exec",
        "--exec-id",
        &exec_id,
        id,
        "/bin/busybox",
        "sh",
        "-c",
        script,
    ];
    String::from_utf8_lossy(&ctr(node, &args).stdout).into_owned()
}

/// `nodes`: node name → its container. Needs two of them Ready.
pub async fn tasks_reach_each_other_over_the_overlay(
    k: &Kubectl,
    nodes: &BTreeMap<String, String>,
) {
    k.run_stdin(&["apply", "-f", "-"], MANIFEST).ok();
    let (api, probes) = wait_for("ovl-api and a probe per node running", STEP, || async {
        let api = running(k, "ovl-api").pop()?;
        let probes = running(k, "ovl-probe");
        (probes.len() == nodes.len()).then_some((api, probes))
    })
    .await;
    let api_node = api.spec.node_name.clone().unwrap_or_default();
    let api_ip = api.spec.networks[0].addresses[0]
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let probe = probes
        .iter()
        .find(|p| p.spec.node_name.as_deref() != Some(api_node.as_str()))
        .expect("a probe on another node than the api task");
    let probe_node = probe.spec.node_name.clone().unwrap_or_default();
    let node = &nodes[&probe_node];
    let id = probe
        .status
        .as_ref()
        .and_then(|s| s.container_status.as_ref());
    let id = id.and_then(|c| c.container_id.clone()).unwrap_or_default();
    println!("api on {api_node} at {api_ip}; probing from {probe_node}");

    let get = |to: &str| format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {to} 80");
    let by_address = get(&api_ip);
    wait_for(
        &format!("{probe_node}'s task reaches {api_ip} on {api_node}"),
        STEP,
        || async {
            exec(node, &id, &by_address)
                .contains("overlay-api")
                .then_some(())
        },
    )
    .await;
    let lookup = exec(node, &id, "nslookup tasks.ovl-api");
    assert!(
        lookup.contains(&api_ip),
        "tasks.ovl-api from {probe_node}: {lookup}"
    );
    let by_name = exec(node, &id, &get("tasks.ovl-api"));
    assert!(
        by_name.contains("overlay-api"),
        "by name from {probe_node}: {by_name}"
    );
    for container in nodes.values() {
        let devices = docker(&["exec", container, "/bin/busybox", "ls", "/sys/class/net"]);
        let devices = String::from_utf8_lossy(&devices.stdout).into_owned();
        assert!(
            devices.contains("vx"),
            "{container} has no VXLAN device: {devices}"
        );
    }
}
