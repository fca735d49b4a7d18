//! The VXLAN overlay between nodes (docs/networking.md#the-overlay-between-nodes) on the real
//! kernel: each "node" is a network namespace, joined to the other by a veth (the underlay);
//! each holds a SwarmNetwork's bridge with one task namespace attached by the real CNI bridge
//! plugin, and the agent's own netlink code (`Netlink::ensure`) adds the VXLAN device and its
//! flood entries. Task A reaches task B at its address over the overlay (ICMP and HTTP); the
//! gateway, which both bridges hold, is answered by the task's own node only; the agent's VIP
//! proxy on node A reaches task B from node A's load-balancer address, leaving B's gateway
//! entry alone; a node that stops
//! being a peer is no longer reached, and is again once it is back; a new VNI recreates the
//! device. Needs root and Debian's containernetworking-plugins (scripts/prereqs.sh).

use std::collections::BTreeSet;
use std::future::Future;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command};

use flotilla_node_agent::net::vxlan::{vxlan_name, Netlink};
use flotilla_node_agent::net::{vip, Directory};
use flotilla_node_agent::runtime::cni::{bridge_config, bridge_name, invoke, Attachment};
use flotilla_node_agent::runtime::NetworkRun;

/// `ip <args>`: whether it succeeded, and its output.
fn ip(args: &[&str]) -> (bool, String) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.success(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Runs `f` on a thread of its own inside network namespace `ns` (`/var/run/netns/<ns>`): the
/// netlink socket and the plugin it spawns belong to that namespace.
fn in_netns<F, Fut, T>(ns: &str, f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("the namespace exists");
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(f())
    })
    .join()
    .expect("the namespace thread")
}

/// Removes the namespaces (and with them every device in them) and the server, whatever happened.
struct Cleanup(Vec<String>, Option<Child>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.1.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Makes `node`'s overlay for the test network: VNI `vni`, flooding to `peers`.
fn overlay(node: &str, bridge: &str, vni: u32, peers: &[Ipv4Addr]) {
    let (bridge, peers) = (
        bridge.to_string(),
        peers.iter().copied().collect::<BTreeSet<_>>(),
    );
    in_netns(node, move || async move {
        let netlink = Netlink::connect().expect("netlink");
        netlink
            .ensure(&bridge, vni, 1450, &peers)
            .await
            .expect("the overlay");
    });
}

fn ping(task: &str, to: &str) -> bool {
    let ok = Command::new("ip")
        .args([
            "netns", "exec", task, "busybox", "ping", "-c", "1", "-W", "2", to,
        ])
        .output();
    ok.is_ok_and(|o| o.status.success())
}

fn mac_of(ns: &str, dev: &str) -> String {
    let (_, out) = ip(&["-n", ns, "-o", "link", "show", dev]);
    let after = out.split("link/ether ").nth(1).unwrap_or_default();
    after
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn tasks_on_two_nodes_reach_each_other_over_the_networks_vxlan_overlay() {
    let pid = std::process::id();
    let n = pid % 250 + 1;
    let [node_a, node_b, task_a, task_b] =
        ["na", "nb", "ta", "tb"].map(|s| format!("flvx{s}{pid}"));
    let mut cleanup = Cleanup(
        vec![
            node_a.clone(),
            node_b.clone(),
            task_a.clone(),
            task_b.clone(),
        ],
        None,
    );
    for ns in &cleanup.0 {
        let (ok, out) = ip(&["netns", "add", ns]);
        assert!(ok, "ip netns add (needs root): {out}");
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    // The underlay: node A at 10.217.n.1, node B at .2, one veth between them.
    let (under_a, under_b) = (format!("10.217.{n}.1"), format!("10.217.{n}.2"));
    let (ok, out) = ip(&[
        "link", "add", "ul", "netns", &node_a, "type", "veth", "peer", "name", "ul", "netns",
        &node_b,
    ]);
    assert!(ok, "{out}");
    for (node, addr) in [(&node_a, &under_a), (&node_b, &under_b)] {
        ip(&[
            "-n",
            node,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "ul",
        ]);
        ip(&["-n", node, "link", "set", "ul", "up"]);
    }
    // The SwarmNetwork: 10.218.n.0/24, gateway .1 on both nodes' bridges; task A .7, task B .8.
    let net = format!("vx{pid}");
    let bridge = bridge_name("default", &net);
    let gateway = format!("10.218.{n}.1");
    let (addr_a, addr_b) = (format!("10.218.{n}.7"), format!("10.218.{n}.8"));
    for (node, task, addr) in [(&node_a, &task_a, &addr_a), (&node_b, &task_b, &addr_b)] {
        let run = NetworkRun {
            name: net.clone(),
            subnet: format!("10.218.{n}.0/24"),
            gateway: gateway.clone(),
            internal: false,
            attachable: false,
            address: Some(addr.clone()),
        };
        let task = task.clone();
        in_netns(node, move || async move {
            let config = bridge_config("default", &run, 1450).expect("a config");
            let netns = format!("/var/run/netns/{task}");
            let at = Attachment {
                container_id: &task,
                netns: &netns,
                ifname: "eth1",
            };
            invoke(Path::new("/usr/lib/cni"), "ADD", &at, &config)
                .await
                .expect("CNI ADD");
        });
    }
    assert!(
        !ping(&task_a, &addr_b),
        "without the overlay the bridges are apart"
    );

    let vni = 4096 + n;
    let (peer_a, peer_b): (Ipv4Addr, Ipv4Addr) =
        (under_a.parse().unwrap(), under_b.parse().unwrap());
    overlay(&node_a, &bridge, vni, &[peer_b]);
    overlay(&node_b, &bridge, vni, &[peer_a]);
    let vx = vxlan_name(&bridge);
    let (_, details) = ip(&["-n", &node_a, "-d", "link", "show", &vx]);
    assert!(details.contains(&format!("vxlan id {vni}")), "{details}");
    assert!(details.contains(&format!("master {bridge}")), "{details}");
    assert!(details.contains("neigh_suppress on"), "{details}");
    let (_, fdb) = in_netns_fdb(&node_a, &vx);
    assert!(
        fdb.contains(&format!("00:00:00:00:00:00 dst {under_b}")),
        "{fdb}"
    );

    assert!(ping(&task_a, &addr_b), "task A reaches task B over VXLAN");
    let www = tempfile::tempdir().expect("a temp dir");
    std::fs::write(www.path().join("index.html"), "hello from task B\n").unwrap();
    let server = Command::new("ip")
        .args([
            "netns", "exec", &task_b, "busybox", "httpd", "-f", "-p", "8080", "-h",
        ])
        .arg(www.path())
        .spawn()
        .expect("httpd starts");
    cleanup.1 = Some(server);
    // busybox's nc, not its wget: the host's static busybox wget crashes.
    let request = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {addr_b} 8080");
    let fetched = (0..20).find_map(|_| {
        let out = Command::new("ip")
            .args(["netns", "exec", &task_a, "busybox", "sh", "-c", &request])
            .output()
            .ok()?;
        let reply = String::from_utf8_lossy(&out.stdout).into_owned();
        if !reply.contains("200 OK") {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        reply.contains("200 OK").then_some(reply)
    });
    let fetched = fetched.unwrap_or_default();
    assert!(
        fetched.ends_with("hello from task B\n"),
        "HTTP over the overlay: {fetched}"
    );

    // Task A asks a VIP on node A for a service whose one task is B. The proxy connects from
    // node A's LB address, which only node A holds: B's reply comes back over the overlay, and
    // B's entry for its gateway (node B's bridge) is left alone. From the gateway, which node
    // B's bridge holds too, node A's ARP for B would say "the gateway is at node A's MAC".
    assert!(ping(&task_b, &gateway), "task B knows its gateway");
    let lb = format!("10.218.{n}.9");
    let vip = Vip {
        net: net.clone(),
        subnet: format!("10.218.{n}.0/24"),
        vip: format!("10.218.{n}.2").parse().unwrap(),
        lb: lb.parse().unwrap(),
        backend: addr_b.clone(),
    };
    let from_lb = proxy_fetch(&node_a, &bridge, &task_a, vip);
    assert!(
        from_lb.ends_with("hello from task B\n"),
        "through the VIP from node A's LB address: {from_lb}"
    );
    let (_, neigh) = ip(&["-n", &task_b, "neigh", "show", &lb]);
    assert!(neigh.contains(&mac_of(&node_a, &bridge)), "{neigh}");
    let (_, neigh) = ip(&["-n", &task_b, "neigh", "show", &gateway]);
    assert!(neigh.contains(&mac_of(&node_b, &bridge)), "{neigh}");

    // The gateway is on both bridges; task A's ARP for it stays on node A.
    assert!(ping(&task_a, &gateway), "the gateway answers");
    let (_, neigh) = ip(&["-n", &task_a, "neigh", "show", &gateway]);
    assert!(neigh.contains(&mac_of(&node_a, &bridge)), "{neigh}");
    let (_, heard) = ip(&["-n", &node_b, "neigh", "show", &addr_a]);
    assert!(
        heard.trim().is_empty(),
        "node B never heard task A ask for its gateway: {heard}"
    );

    // Node B stops being node A's peer: nothing goes to it, learned entries included.
    overlay(&node_a, &bridge, vni, &[]);
    let (_, fdb) = in_netns_fdb(&node_a, &vx);
    assert!(!fdb.contains(&under_b), "{fdb}");
    assert!(
        !ping(&task_a, &addr_b),
        "a node that is no peer is not reached"
    );
    overlay(&node_a, &bridge, vni, &[peer_b]);
    assert!(ping(&task_a, &addr_b), "reached again once it is a peer");

    // A network recreated under the same name gets another VNI: the device is made again.
    overlay(&node_a, &bridge, vni + 1, &[peer_b]);
    overlay(&node_b, &bridge, vni + 1, &[peer_a]);
    let (_, details) = ip(&["-n", &node_a, "-d", "link", "show", &vx]);
    assert!(
        details.contains(&format!("vxlan id {}", vni + 1)),
        "{details}"
    );
    assert!(ping(&task_a, &addr_b), "reached over the new VNI");
}

/// `bridge fdb show dev <vx>` inside `node` (iproute2's `bridge`, on the test host).
fn in_netns_fdb(node: &str, vx: &str) -> (bool, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", node, "bridge", "fdb", "show", "dev", vx])
        .output()
        .expect("bridge runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A service VIP on node A with one task, and node A's LB address on the network.
struct Vip {
    net: String,
    subnet: String,
    vip: Ipv4Addr,
    lb: Ipv4Addr,
    backend: String,
}

impl Vip {
    fn directory(&self) -> Directory {
        let network: flotilla_api::SwarmNetwork = serde_json::from_value(serde_json::json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNetwork",
            "metadata": {"name": self.net, "namespace": "default"}, "spec": {},
            "status": {"allocated": true, "subnet": self.subnet}}))
        .expect("a network");
        let service: flotilla_api::SwarmService = serde_json::from_value(serde_json::json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
            "metadata": {"name": "api", "namespace": "default"},
            "spec": {"taskTemplate": {"containerSpec": {"image": "x"}},
                "endpoint": {"ports": [{"targetPort": 8080}]}},
            "status": {"endpoint": {"virtualIps": [{"network": self.net, "addr": self.vip.to_string()}]},
                "taskAddresses": [{"network": self.net, "addresses": [self.backend]}]}}))
        .expect("a service");
        let lb = serde_json::json!(
            {"namespace": "default", "network": self.net, "addresses": [self.lb.to_string()]});
        let node: flotilla_api::SwarmNode = serde_json::from_value(serde_json::json!({
            "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNode",
            "metadata": {"name": "a"}, "spec": {},
            "status": {"networkAttachments": [lb]}}))
        .expect("a node");
        let mut dir = Directory::build([&service], [&network]);
        dir.set_lb(Some(&node));
        dir
    }
}

/// Runs the agent's VIP proxy in `node` (the VIP and LB address on its bridge, as the agent adds
/// them) and fetches `http://VIP:8080/` from `task`: the reply, or what came instead.
fn proxy_fetch(node: &str, bridge: &str, task: &str, vip: Vip) -> String {
    let (bridge, task) = (bridge.to_string(), task.to_string());
    in_netns(node, move || async move {
        let netlink = Netlink::connect().expect("netlink");
        for addr in [vip.vip, vip.lb] {
            netlink
                .address(true, addr, &bridge)
                .await
                .expect("an address");
        }
        let listener = vip::shared_tcp((vip.vip, 8080).into()).expect("the VIP listens");
        let dir = std::sync::Arc::new(std::sync::RwLock::new(vip.directory()));
        let proxy = tokio::spawn(vip::serve(listener, vip.vip, 8080, dir, Default::default()));
        let request = format!(
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {} 8080",
            vip.vip
        );
        let reply = tokio::process::Command::new("ip")
            .args(["netns", "exec", &task, "busybox", "sh", "-c", &request])
            .output()
            .await
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        proxy.abort();
        reply
    })
}
