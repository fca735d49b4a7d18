use super::*;
use serde_json::json;

fn network(name: &str, subnet: &str) -> SwarmNetwork {
    serde_json::from_value(
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNetwork",
        "metadata": {"name": name, "namespace": "default"}, "spec": {},
        "status": {"allocated": true, "subnet": subnet}}),
    )
    .unwrap()
}

fn service(
    name: &str,
    mode: &str,
    vips: &[(&str, &str)],
    tasks: &[(&str, &[&str])],
) -> SwarmService {
    let vips: Vec<_> = vips
        .iter()
        .map(|(n, a)| json!({"network": n, "addr": a}))
        .collect();
    let tasks: Vec<_> = tasks
        .iter()
        .map(|(n, a)| json!({"network": n, "addresses": a}))
        .collect();
    serde_json::from_value(
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"taskTemplate": {"containerSpec": {"image": "x"}},
            "endpoint": {"mode": mode, "ports": [{"targetPort": 80}]}},
        "status": {"endpoint": {"virtualIps": vips}, "taskAddresses": tasks}}),
    )
    .unwrap()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn directory() -> Directory {
    let nets = [
        network("backend", "10.210.1.0/24"),
        network("other", "10.210.2.0/24"),
        network("front", "10.210.3.0/24"),
    ];
    let services = [
        service(
            "api",
            "vip",
            &[("backend", "10.210.1.2/24")],
            &[("backend", &["10.210.1.3", "10.210.1.4"])],
        ),
        service("db", "dnsrr", &[], &[("backend", &["10.210.1.7"])]),
        // web is on front and backend: it asks through front.
        service(
            "web",
            "vip",
            &[("front", "10.210.3.2/24"), ("backend", "10.210.1.5/24")],
            &[("front", &["10.210.3.3"]), ("backend", &["10.210.1.6"])],
        ),
        service("lonely", "vip", &[("other", "10.210.2.2/24")], &[]),
    ];
    Directory::build(services.iter(), nets.iter())
}

#[test]
fn vip_mode_answers_the_vip_and_tasks_answers_task_addresses() {
    let dir = directory();
    let client = ip("10.210.1.6");
    assert_eq!(
        dir.resolve(client, "api"),
        Answer::Found(vec![ip("10.210.1.2")])
    );
    assert_eq!(
        dir.resolve(client, "API."),
        Answer::Found(vec![ip("10.210.1.2")])
    );
    assert_eq!(
        dir.resolve(client, "tasks.api"),
        Answer::Found(vec![ip("10.210.1.3"), ip("10.210.1.4")])
    );
}

#[test]
fn dnsrr_mode_answers_task_addresses() {
    let dir = directory();
    assert_eq!(
        dir.resolve(ip("10.210.1.3"), "db"),
        Answer::Found(vec![ip("10.210.1.7")])
    );
}

#[test]
fn only_services_sharing_a_network_are_visible() {
    let dir = directory();
    assert_eq!(dir.resolve(ip("10.210.2.9"), "api"), Answer::NotFound);
    assert_eq!(dir.resolve(ip("10.210.2.9"), "tasks.api"), Answer::NotFound);
    assert_eq!(
        dir.resolve(ip("10.210.2.9"), "lonely"),
        Answer::Found(vec![ip("10.210.2.2")])
    );
    assert_eq!(dir.resolve(ip("10.210.1.3"), "lonely"), Answer::NotFound);
    assert_eq!(
        dir.resolve(ip("10.210.1.3"), "example.com"),
        Answer::NotFound
    );
    assert_eq!(dir.resolve(ip("192.168.0.1"), "api"), Answer::NotFound);
}

#[test]
fn a_task_on_two_networks_sees_both_through_its_first() {
    let dir = directory();
    // web's front address: it also sees api on backend.
    assert_eq!(
        dir.resolve(ip("10.210.3.3"), "api"),
        Answer::Found(vec![ip("10.210.1.2")])
    );
    // Any other client on front does not.
    assert_eq!(dir.resolve(ip("10.210.3.9"), "api"), Answer::NotFound);
}

#[test]
fn vips_list_their_backends() {
    let dir = directory();
    assert_eq!(
        dir.backends(ip("10.210.1.2")),
        vec![ip("10.210.1.3"), ip("10.210.1.4")]
    );
    assert!(dir.backends(ip("10.210.2.2")).is_empty());
    assert!(dir.may_use(ip("10.210.1.2"), ip("10.210.1.6")));
    assert!(
        !dir.may_use(ip("10.210.1.2"), ip("10.210.2.9")),
        "another network"
    );
    let vips = dir.vips();
    assert!(vips.contains(&(
        ("default".to_string(), "backend".to_string()),
        ip("10.210.1.2"),
        vec![80]
    )));
}

#[test]
fn the_vip_proxy_connects_from_this_nodes_load_balancer_address_on_the_vips_network() {
    let mut dir = directory();
    assert_eq!(dir.source(ip("10.210.1.2")), None, "no address yet");
    let node: SwarmNode = serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNode",
        "metadata": {"name": "n1"}, "spec": {},
        "status": {"networkAttachments": [
            {"namespace": "default", "network": "backend", "addresses": ["10.210.1.9/24"]},
            {"namespace": "default", "network": "front", "addresses": ["10.210.3.9/24"]}]}}))
    .unwrap();
    dir.set_lb(Some(&node));
    assert_eq!(dir.source(ip("10.210.1.2")), Some(ip("10.210.1.9")));
    assert_eq!(dir.source(ip("10.210.3.2")), Some(ip("10.210.3.9")));
    assert_eq!(
        dir.source(ip("10.210.2.2")),
        None,
        "other: none for this node"
    );
    dir.set_lb(None);
    assert!(dir.lb.is_empty());
}
