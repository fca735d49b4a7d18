//! The real CNI `bridge` plugin attaches a network namespace to a SwarmNetwork at the
//! allocator's address, and detaches it (needs root and Debian's containernetworking-plugins,
//! which scripts/prereqs.sh installs).

use std::path::Path;
use std::process::Command;

use flotilla_node_agent::runtime::cni::{bridge_config, bridge_name, invoke, Attachment};
use flotilla_node_agent::runtime::NetworkRun;

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the test's namespace and bridge, whatever happened.
struct Cleanup(String, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
        let _ = Command::new("ip").args(["link", "del", &self.1]).output();
    }
}

#[tokio::test]
async fn a_sandbox_namespace_joins_the_networks_bridge_at_its_address_and_leaves_it() {
    let pid = std::process::id();
    let (ns, net) = (format!("flcni{pid}"), format!("cni{pid}"));
    let bridge = bridge_name("default", &net);
    let _cleanup = Cleanup(ns.clone(), bridge.clone());
    let made = Command::new("ip").args(["netns", "add", &ns]).status();
    assert!(made.is_ok_and(|s| s.success()), "ip netns add (needs root)");
    // A subnet of its own per run (10.214.x.0/24), clear of the allocator's and Docker's pools.
    let third = pid % 250 + 1;
    let run = NetworkRun {
        name: net.clone(),
        subnet: format!("10.214.{third}.0/24"),
        gateway: format!("10.214.{third}.1"),
        internal: false,
        attachable: false,
        address: Some(format!("10.214.{third}.7")),
    };
    let config = bridge_config("default", &run, 1450).unwrap();
    let netns = format!("/var/run/netns/{ns}");
    let at = Attachment {
        container_id: &ns,
        netns: &netns,
        ifname: "eth1",
    };
    let dir = Path::new("/usr/lib/cni");
    let reply = invoke(dir, "ADD", &at, &config).await.expect("ADD");
    let reported = reply["ips"][0]["address"].as_str().unwrap_or_default();
    assert_eq!(reported, format!("10.214.{third}.7/24"), "{reply}");

    // Inside: eth1 at the allocated address; outside: the bridge holds the gateway.
    let inside = ip(&["-n", &ns, "-o", "addr", "show", "eth1"]);
    assert!(inside.contains(&format!("10.214.{third}.7/24")), "{inside}");
    let host = ip(&["-o", "addr", "show", &bridge]);
    assert!(host.contains(&format!("10.214.{third}.1/24")), "{host}");
    // No default route through the SwarmNetwork: the sandbox's own network keeps it.
    let routes = ip(&["-n", &ns, "route"]);
    assert!(!routes.contains("default"), "{routes}");

    invoke(dir, "DEL", &at, &config).await.expect("DEL");
    let inside = ip(&["-n", &ns, "-o", "addr", "show"]);
    assert!(!inside.contains("eth1"), "{inside}");
}
