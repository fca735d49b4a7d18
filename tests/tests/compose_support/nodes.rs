//! What a user sees of the compose topology's nodes (containers running their own containerd):
//! the task containers inside each node, the pod addresses each node serves, and the routing
//! mesh's answer on each node's published port.

use std::net::IpAddr;

use flotilla_tests::kubectl::Kubectl;

use crate::isolation::in_node;

/// containerd's socket inside a node (its volume).
const SOCKET: &str = "/var/lib/flotilla-node/containerd.sock";
/// What the example's web server answers.
pub const GREETING: &str = "Hello from a Flotilla task";

/// `ctr -n k8s.io <args>` against the node's own containerd, run inside node container `node`.
pub fn ctr(node: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "exec",
        node,
        "/usr/bin/ctr",
        "--address",
        SOCKET,
        "-n",
        "k8s.io",
    ];
    all.extend(args);
    crate::isolation::docker(&all)
}

/// `ctr -n k8s.io containers ls -q [filter]` inside a node: container ids, or None when the
/// node does not answer.
fn ctr_containers(node: &str, filter: &[&str]) -> Option<Vec<String>> {
    let mut args = vec!["containers", "ls", "-q"];
    args.extend(filter);
    let out = ctr(node, &args);
    let ids = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| ids.lines().map(str::to_string).collect())
}

/// The ids of the task containers (not the pod sandboxes) in a node's containerd, as
/// `ctr -n k8s.io containers ls` run inside the node lists them.
pub fn task_containers(node: &str) -> Vec<String> {
    let filter = r#"labels."io.cri-containerd.kind"==container"#;
    ctr_containers(node, &[filter]).unwrap_or_else(|| panic!("ctr in {node} failed"))
}

/// Every container (sandboxes and tasks) in a node's containerd; none when it is gone.
pub fn all_containers(node: &str) -> Vec<String> {
    ctr_containers(node, &[]).unwrap_or_default()
}

/// Removes the cgroups runc made on the host for the pods `ids`: the processes died with their
/// node container (a node shares the host's cgroup tree, docs/deploy.md), the empty
/// directories stay. Only empty cgroups can be removed, so a live one is never touched.
pub fn remove_cgroups(ids: &[String]) {
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for controller in controllers.flatten() {
        for id in ids {
            let _ = std::fs::remove_dir(controller.path().join("k8s.io").join(id));
        }
    }
}

/// The addresses of the `default/web` tasks a node serves locally, from the mesh-endpoints
/// annotation its agent writes on its SwarmNode.
pub fn web_endpoints(k: &Kubectl, node: &str) -> Vec<IpAddr> {
    let path = r#"jsonpath={.metadata.annotations.flotilla\.dev/mesh-endpoints}"#;
    let run = k.run(&["get", "swarmnode", node, "-o", path]);
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_default();
    json.get("default/web")
        .and_then(|v| v.as_array())
        .map(|ips| {
            ips.iter()
                .filter_map(|ip| ip.as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `GET /` on `addr` is answered by the web example.
pub async fn answers(addr: &str) -> bool {
    flotilla_tests::probe::http_get(addr)
        .await
        .is_some_and(|body| body.contains(GREETING))
}

/// Whether the node container `from` reaches `http://<ip>/` directly (routed, no mesh).
pub fn node_reaches(from: &str, ip: IpAddr) -> bool {
    let url = format!("http://{ip}/");
    // busybox's own `wget -T` crashes in the node; `timeout` bounds it instead.
    let wget = [
        "timeout",
        "6",
        "/bin/busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &url,
    ];
    let out = in_node(from, &wget);
    String::from_utf8_lossy(&out.stdout).contains(GREETING)
}
