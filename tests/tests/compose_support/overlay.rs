//! The VXLAN overlay between node containers (docs/networking.md#the-overlay-between-nodes):
//! a SwarmNetwork with one `api` task and a global `probe` service on it; from the probe task
//! of another node, the api task answers at its overlay address, `tasks.ovl-api` resolves to
//! it (the probe's own node's DNS) and answers by that name, and every node running a task of
//! the network has its VXLAN device. Then the VIP across nodes: `ovl-lb` has one task per node;
//! 20 requests from a probe to `http://ovl-lb/` (its VIP, the probe node's proxy) reach the
//! tasks on both nodes, the remote one through the probe node's load-balancer address; once the
//! remote task is killed, the requests stop going to it.

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
---
apiVersion: flotilla.dev/v1alpha1
kind: SwarmService
metadata: {name: ovl-lb, namespace: default}
spec:
  mode: {replicated: {replicas: 2}}
  taskTemplate:
    containerSpec:
      image: flotilla/web:latest
      stopGracePeriod: 1s
      command: ["/bin/busybox", "sh", "-c"]
      args: ["mkdir -p /www && ifconfig | grep -o 'inet addr:[0-9.]*' > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [{target: ovl}]
    placement: {maxReplicas: 1}
  endpoint: {mode: vip, ports: [{targetPort: 80}]}
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
    exec_all(node, id, script).0
}

/// [`exec`]'s stdout and stderr (ctr's own errors land there), each exec with an id of its own.
fn exec_all(node: &str, id: &str, script: &str) -> (String, String) {
    static EXECS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = EXECS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let exec_id = format!("ovl{}-{n}", std::process::id());
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
    let out = ctr(node, &args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&out.stdout), text(&out.stderr))
}

/// What the overlay looks like from each node and from inside task `id` on `node`: printed when
/// a step across nodes times out (it has failed intermittently under load).
fn explain(nodes: &BTreeMap<String, String>, node: &str, id: &str) {
    for container in nodes.values() {
        // busybox's `ip` has no `-d`: the bridges' ports are read from sysfs instead.
        let ports = "for b in /sys/class/net/*/brif; do echo \"$b: $(ls $b)\"; done";
        for cmd in [
            &["ip", "addr", "show"][..],
            &["sh", "-c", ports],
            &["ip", "neigh", "show"],
            &["ip", "route", "show"],
        ] {
            let mut args = vec!["exec", container.as_str(), "/bin/busybox"];
            args.extend(cmd);
            let out = docker(&args);
            let (o, e) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            println!("--- {container}: {}\n{o}{e}", cmd.join(" "));
        }
    }
    let (o, e) = exec_all(node, id, "ip neigh show; ip addr show; ip route show");
    println!("--- task {id} on {node}:\n{o}{e}");
}

/// Polls `check` every 500 ms for [`STEP`]; on timeout prints [`explain`] and the last
/// attempt's output, then fails with `what`.
async fn across_nodes<T>(
    what: &str,
    at: (&BTreeMap<String, String>, &str, &str),
    mut check: impl FnMut() -> (Option<T>, String),
) -> T {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let (done, last) = check();
        if let Some(v) = done {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            let (nodes, node, id) = at;
            explain(nodes, node, id);
            panic!("timed out after {STEP:?} waiting for {what}; last attempt: {last}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `nodes`: node name → its container. Needs two of them Ready.
pub async fn tasks_reach_each_other_over_the_overlay(
    k: &Kubectl,
    nodes: &BTreeMap<String, String>,
) {
    // Retried: after the control-plane faults one etcd member is down, and a write the
    // api-server sends its way fails with "storage unavailable" (a 500) before it moves on.
    wait_for("the overlay manifest applied", STEP, || async {
        (k.run_stdin(&["apply", "-f", "-"], MANIFEST).code == 0).then_some(())
    })
    .await;
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
    across_nodes(
        &format!("{probe_node}'s task reaches {api_ip} on {api_node}"),
        (nodes, node, &id),
        || {
            let (out, err) = exec_all(node, &id, &by_address);
            (
                out.contains("overlay-api").then_some(()),
                format!("{out}{err}"),
            )
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
    vip_across_nodes(k, nodes).await;
    for container in nodes.values() {
        let devices = docker(&["exec", container, "/bin/busybox", "ls", "/sys/class/net"]);
        let devices = String::from_utf8_lossy(&devices.stdout).into_owned();
        assert!(
            devices.contains("vx"),
            "{container} has no VXLAN device: {devices}"
        );
    }
}

/// A task's address on its first network, without the prefix.
fn address(task: &Task) -> String {
    let first = task.spec.networks.first().and_then(|n| n.addresses.first());
    let addr = first.map(String::as_str).unwrap_or_default();
    addr.split('/').next().unwrap_or_default().to_string()
}

/// The container of a running task.
fn container(task: &Task) -> String {
    let status = task
        .status
        .as_ref()
        .and_then(|s| s.container_status.as_ref());
    status
        .and_then(|c| c.container_id.clone())
        .unwrap_or_default()
}

/// 20 requests to `http://ovl-lb/` from task `id` in node container `node`: how many replies
/// name each of `addrs` (each task answers with its addresses), and how many came at all.
fn spread(node: &str, id: &str, addrs: &[String]) -> (Vec<usize>, usize) {
    let script = "for i in $(seq 20); do \
        printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ovl-lb 80 | grep -o 'inet addr:[0-9.]*' | tr '\\n' ' '; echo; done";
    let out = exec(node, id, script);
    let replies: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    let per = addrs
        .iter()
        .map(|a| {
            let want = format!("inet addr:{a} ");
            replies.iter().filter(|r| r.contains(&want)).count()
        })
        .collect();
    (per, replies.len())
}

/// Where each task runs and every node's load-balancer addresses (the VIP proxy's sources),
/// for a failure message: an address held twice would show here.
fn placement(k: &Kubectl, tasks: &[Task]) -> String {
    let on: Vec<String> = tasks
        .iter()
        .map(|t| {
            format!(
                "{} on {}",
                address(t),
                t.spec.node_name.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let jsonpath = r#"{range .items[*]}{.metadata.name}={.status.networkAttachments}{"\n"}{end}"#;
    let lb = k.run(&["get", "swarmnodes", "-o", &format!("jsonpath={jsonpath}")]);
    format!(
        "; tasks {on:?}; nodes' load-balancer addresses:\n{}",
        lb.stdout
    )
}

async fn vip_across_nodes(k: &Kubectl, nodes: &BTreeMap<String, String>) {
    let (tasks, probe) = wait_for("ovl-lb running on two nodes", STEP, || async {
        let tasks = running(k, "ovl-lb");
        let on: std::collections::BTreeSet<_> = tasks
            .iter()
            .filter_map(|t| t.spec.node_name.clone())
            .collect();
        let probe = running(k, "ovl-probe")
            .into_iter()
            .max_by_key(|p| p.spec.node_name.clone())?;
        (tasks.len() == 2 && on.len() == 2).then_some((tasks, probe))
    })
    .await;
    let probe_node = probe.spec.node_name.clone().unwrap_or_default();
    let (node, id) = (&nodes[&probe_node], container(&probe));
    let addrs: Vec<String> = tasks.iter().map(address).collect();
    let (per, answered) = across_nodes(
        &format!("requests from {probe_node} to the ovl-lb VIP reach both tasks"),
        (nodes, node, &id),
        || {
            let (per, answered) = spread(node, &id, &addrs);
            let done = per.iter().all(|n| *n > 0);
            let last = format!(
                "{answered} of 20 answered; per task {per:?} of {addrs:?}{}",
                if done {
                    String::new()
                } else {
                    placement(k, &tasks)
                }
            );
            (done.then_some((per, answered)), last)
        },
    )
    .await;
    let placed: Vec<String> = tasks
        .iter()
        .zip(&per)
        .map(|(t, n)| {
            format!(
                "{} on {}: {n}",
                address(t),
                t.spec.node_name.as_deref().unwrap_or("?")
            )
        })
        .collect();
    println!("20 requests to the ovl-lb VIP from {probe_node}: {answered} answered; {placed:?}");

    let remote = tasks
        .iter()
        .find(|t| t.spec.node_name.as_deref() != Some(probe_node.as_str()))
        .expect("an ovl-lb task on another node");
    let remote_node = remote.spec.node_name.clone().unwrap_or_default();
    let killed = address(remote);
    let out = ctr(
        &nodes[&remote_node],
        &["tasks", "kill", "-s", "SIGKILL", &container(remote)],
    );
    assert!(out.status.success(), "ctr tasks kill: {out:?}");
    let clock = tokio::time::Instant::now();
    wait_for(
        &format!("requests stop going to the killed task {killed} on {remote_node}"),
        STEP,
        || async {
            let (per, answered) = spread(node, &id, std::slice::from_ref(&killed));
            (per[0] == 0 && answered == 20).then_some(())
        },
    )
    .await;
    println!(
        "killed {killed} on {remote_node}: 20/20 answered without it after {:?}",
        clock.elapsed()
    );
}
