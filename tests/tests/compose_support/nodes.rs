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

/// The ids of the task containers (not the pod sandboxes) in a node's containerd, as
/// `ctr -n k8s.io containers ls` run inside the node lists them.
pub fn task_containers(node: &str) -> Vec<String> {
    let filter = r#"labels."io.cri-containerd.kind"==container"#;
    let out = crate::isolation::docker(&[
        "exec", node, "/usr/bin/ctr", "--address", SOCKET, "-n", "k8s.io", "containers", "ls",
        "-q", filter,
    ]);
    assert!(
        out.status.success(),
        "ctr in {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
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
    let out = in_node(from, &["wget", "-q", "-T", "3", "-O", "-", &url]);
    String::from_utf8_lossy(&out.stdout).contains(GREETING)
}
