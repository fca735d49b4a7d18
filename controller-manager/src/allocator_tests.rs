use super::*;
use crate::test_support::{service, snapshot, task};
use flotilla_api::endpoint::EndpointSpec;
use flotilla_api::{SwarmNetworkSpec, SwarmNetworkStatus, SwarmServiceStatus};
use std::sync::Arc;

fn publishing(name: &str, published: Option<i64>) -> SwarmService {
    let mut svc = service(name, 1);
    svc.spec.endpoint = Some(EndpointSpec {
        mode: Some(EndpointMode::Vip),
        ports: vec![PortConfig {
            target_port: 80,
            published_port: published,
            protocol: Some(PortProtocol::Tcp),
            publish_mode: Some(PublishMode::Ingress),
            name: None,
        }],
    });
    svc
}

/// Attaches `svc`'s tasks to network `name`.
fn on_network(svc: &mut SwarmService, name: &str) {
    std::sync::Arc::make_mut(&mut svc.spec.task_template).networks =
        vec![flotilla_api::template::NetworkAttachmentConfig {
            target: name.into(),
            ..Default::default()
        }];
}

fn status_patch(actions: &[Action], name: &str) -> Option<serde_json::Value> {
    actions.iter().find_map(|a| match a {
        Action::ServiceStatus { name: n, patch, .. } if n == name => Some(patch.clone()),
        _ => None,
    })
}

#[test]
fn dynamic_port_is_allocated_then_kept() {
    let svc = publishing("web", None);
    let actions = reconcile(&snapshot(vec![svc.clone()], vec![], vec![]));
    let patch = status_patch(&actions, "web").unwrap();
    assert_eq!(patch["endpoint"]["ports"][0]["publishedPort"], 30000);
    let mut allocated = svc.clone();
    allocated.status = Some(SwarmServiceStatus {
        endpoint: serde_json::from_value(patch["endpoint"].clone()).unwrap(),
        ..Default::default()
    });
    let other = publishing("api", None);
    let actions = reconcile(&snapshot(vec![allocated, other], vec![], vec![]));
    assert!(
        status_patch(&actions, "web").is_none(),
        "sticky: nothing to change"
    );
    assert_eq!(
        status_patch(&actions, "api").unwrap()["endpoint"]["ports"][0]["publishedPort"],
        30001
    );
}

#[test]
fn conflicting_port_is_rejected_with_swarms_message() {
    let mut web = publishing("web", Some(8080));
    web.status = Some(SwarmServiceStatus {
        endpoint: Some(EndpointStatus {
            ports: web.spec.endpoint.clone().unwrap().ports,
            virtual_ips: vec![],
        }),
        ..Default::default()
    });
    let api = publishing("api", Some(8080));
    let actions = reconcile(&snapshot(
        vec![web, api.clone()],
        vec![task(&api, 1, None, TaskState::Running, TaskState::New, 1)],
        vec![],
    ));
    let msg = "port '8080' is already in use by service 'web' (uid-web) as an ingress port";
    assert!(actions.iter().any(
        |a| matches!(a, Action::Event(e) if e.reason == "AllocationFailed" && e.message == msg)
    ));
    assert_eq!(
        status_patch(&actions, "api").unwrap()["conditions"][0]["message"],
        msg
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::TaskState { .. })),
        "tasks stay NEW"
    );
}

#[test]
fn one_port_number_serves_tcp_and_udp_of_different_services() {
    let tcp = publishing("dns-tcp", Some(53));
    let mut udp = publishing("dns-udp", Some(53));
    udp.spec.endpoint.as_mut().unwrap().ports[0].protocol = Some(PortProtocol::Udp);
    let mut udp_again = publishing("dns-udp-2", Some(53));
    udp_again.spec.endpoint.as_mut().unwrap().ports[0].protocol = Some(PortProtocol::Udp);
    let actions = reconcile(&snapshot(vec![tcp, udp, udp_again], vec![], vec![]));
    let published = |name| status_patch(&actions, name).unwrap()["endpoint"]["ports"][0].clone();
    assert_eq!(published("dns-tcp")["publishedPort"], 53);
    assert_eq!(published("dns-udp")["publishedPort"], 53);
    assert_eq!(published("dns-udp")["protocol"], "udp");
    let msg = "port '53' is already in use by service 'dns-udp' (uid-dns-udp) as an ingress port";
    assert_eq!(
        status_patch(&actions, "dns-udp-2").unwrap()["conditions"][0]["message"],
        msg,
        "a second service on 53/udp conflicts"
    );
}

#[test]
fn tasks_become_pending_with_addresses_once_the_endpoint_is_allocated() {
    let mut svc = service("web", 1);
    on_network(&mut svc, "backend");
    let mut net = SwarmNetwork::new(
        "backend",
        SwarmNetworkSpec {
            subnet: Some("10.0.9.0/24".into()),
            ..Default::default()
        },
    );
    net.metadata.namespace = Some("default".into());
    net.status = Some(SwarmNetworkStatus {
        allocated: Some(true),
        subnet: Some("10.0.9.0/24".into()),
        gateway: Some("10.0.9.1".into()),
        vni: Some(4096),
    });
    let mut t = task(&svc, 1, None, TaskState::Running, TaskState::New, 1);
    let snap = |svc: &SwarmService, t: &flotilla_api::Task| {
        let mut s = snapshot(vec![svc.clone()], vec![t.clone()], vec![]);
        s = Snapshot::new(
            s.services.clone(),
            s.tasks.clone(),
            vec![],
            vec![Arc::new(net.clone())],
            vec![],
        );
        s
    };
    let actions = reconcile(&snap(&svc, &t));
    let patch = status_patch(&actions, "web").unwrap();
    assert_eq!(patch["endpoint"]["virtualIps"][0]["addr"], "10.0.9.2/24");
    svc.status = Some(SwarmServiceStatus {
        endpoint: serde_json::from_value(patch["endpoint"].clone()).unwrap(),
        ..Default::default()
    });
    let pending = |a: &Action| matches!(a, Action::TaskState { state: TaskState::Pending, message, .. } if message == "pending task scheduling");
    // The addresses first, alone: if that write fails, the task is still New next round.
    let actions = reconcile(&snap(&svc, &t));
    let networks = actions.iter().find_map(|a| match a {
        Action::TaskNetworks { networks, .. } => Some(networks.clone()),
        _ => None,
    });
    let networks = networks.expect("the task's addresses");
    assert_eq!(networks[0].addresses, ["10.0.9.3/24"]);
    assert!(!actions.iter().any(pending), "{actions:?}");
    assert_eq!(
        reconcile(&snap(&svc, &t)),
        actions,
        "until the cache shows them"
    );
    // Once the task holds them, it is Pending, and they are neither handed out nor written again.
    t.spec.networks = networks;
    let actions = reconcile(&snap(&svc, &t));
    assert!(actions.iter().any(pending), "{actions:?}");
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::TaskNetworks { .. })));
}

#[test]
fn networks_without_subnet_get_one_from_the_default_pool() {
    let mut a = SwarmNetwork::new(
        "a",
        SwarmNetworkSpec {
            subnet: Some("10.0.0.0/24".into()),
            ..Default::default()
        },
    );
    a.status = Some(SwarmNetworkStatus {
        allocated: Some(true),
        subnet: Some("10.0.0.0/24".into()),
        gateway: None,
        vni: None,
    });
    let b = SwarmNetwork::new("b", SwarmNetworkSpec::default());
    let snap = Snapshot::new(
        vec![],
        vec![],
        vec![],
        vec![Arc::new(a), Arc::new(b)],
        vec![],
    );
    let actions = reconcile(&snap);
    assert!(actions.iter().any(|a| matches!(a, Action::NetworkStatus { name, patch, .. } if name == "b" && patch["subnet"] == "10.0.1.0/24" && patch["gateway"] == "10.0.1.1")));
}

/// Task addresses handed out on a /28 with `replicas` tasks waiting (none when they do not all
/// fit).
fn addresses_on_tiny_network(attachable: bool, replicas: i64) -> Vec<String> {
    let mut svc = service("web", replicas);
    on_network(&mut svc, "tiny");
    let spec = SwarmNetworkSpec {
        subnet: Some("10.0.9.0/28".into()),
        attachable: Some(attachable),
        ..Default::default()
    };
    let mut net = SwarmNetwork::new("tiny", spec);
    net.metadata.namespace = Some("default".into());
    net.status = Some(SwarmNetworkStatus {
        allocated: Some(true),
        subnet: Some("10.0.9.0/28".into()),
        gateway: Some("10.0.9.1".into()),
        vni: Some(4096),
    });
    let tasks: Vec<_> = (1..=replicas)
        .map(|slot| task(&svc, slot, None, TaskState::Running, TaskState::New, 1))
        .collect();
    let snap = |svc: &SwarmService| {
        let s = snapshot(vec![svc.clone()], tasks.clone(), vec![]);
        let net = vec![Arc::new(net.clone())];
        Snapshot::new(s.services.clone(), s.tasks.clone(), vec![], net, vec![])
    };
    let patch = status_patch(&reconcile(&snap(&svc)), "web").unwrap();
    assert_eq!(patch["endpoint"]["virtualIps"][0]["addr"], "10.0.9.2/28");
    svc.status = Some(SwarmServiceStatus {
        endpoint: serde_json::from_value(patch["endpoint"].clone()).unwrap(),
        ..Default::default()
    });
    let mut got: Vec<String> = reconcile(&snap(&svc))
        .iter()
        .filter_map(|a| match a {
            Action::TaskNetworks { networks, .. } => Some(networks[0].addresses[0].clone()),
            _ => None,
        })
        .collect();
    got.sort_by_key(|a| crate::ipam::addr_of(a));
    got
}

/// .2 is the VIP; tasks get .3–.14 on a network that is not attachable, and only .3–.11 on an
/// attachable one, whose top quarter (.12–.15) the engine gives standalone containers.
#[test]
fn an_attachable_network_keeps_its_top_quarter_for_standalone_containers() {
    let all = addresses_on_tiny_network(false, 12);
    assert_eq!(all.len(), 12);
    assert_eq!(all.last().unwrap(), "10.0.9.14/28");
    let below = addresses_on_tiny_network(true, 9);
    assert_eq!(below.len(), 9, "{below:?}");
    assert_eq!(below.last().unwrap(), "10.0.9.11/28");
    assert!(
        addresses_on_tiny_network(true, 10).is_empty(),
        "10 do not fit"
    );
}

#[test]
fn nodes_serving_a_network_get_a_load_balancer_address_of_their_own() {
    use crate::test_support::ready_nodes;
    use flotilla_api::node::NodeNetworkAttachment;
    let mut svc = service("api", 2);
    on_network(&mut svc, "backend");
    svc.status = Some(SwarmServiceStatus {
        endpoint: Some(EndpointStatus {
            ports: vec![],
            virtual_ips: vec![VirtualIp {
                network: "backend".into(),
                addr: "10.0.9.2/24".into(),
            }],
        }),
        ..Default::default()
    });
    let mut net = SwarmNetwork::new("backend", SwarmNetworkSpec::default());
    net.metadata.namespace = Some("default".into());
    net.status = Some(SwarmNetworkStatus {
        allocated: Some(true),
        subnet: Some("10.0.9.0/24".into()),
        gateway: Some("10.0.9.1".into()),
        vni: Some(4096),
    });
    let on = |slot, node: &str, addr: &str| {
        let mut t = task(
            &svc,
            slot,
            Some(node),
            TaskState::Running,
            TaskState::Running,
            slot,
        );
        t.spec.networks = vec![NetworkAttachment {
            network: "backend".into(),
            addresses: vec![addr.into()],
            aliases: vec![],
        }];
        Arc::new(t)
    };
    // a and b run api; c runs nothing but still holds an address from an earlier task.
    let mut nodes = ready_nodes(&["a", "b", "c"]);
    nodes[2].status.as_mut().unwrap().network_attachments = vec![NodeNetworkAttachment {
        namespace: "default".into(),
        network: "backend".into(),
        addresses: vec!["10.0.9.5/24".into()],
    }];
    let snap = Snapshot::new(
        vec![Arc::new(svc.clone())],
        vec![on(1, "a", "10.0.9.3/24"), on(2, "b", "10.0.9.4/24")],
        nodes.into_iter().map(Arc::new).collect(),
        vec![Arc::new(net)],
        vec![],
    );
    let patches: Vec<(String, serde_json::Value)> = reconcile(&snap)
        .into_iter()
        .filter_map(|a| match a {
            Action::NodeStatus { name, patch } => Some((name, patch["networkAttachments"].clone())),
            _ => None,
        })
        .collect();
    let lb = |addr: &str| serde_json::json!([{"namespace": "default", "network": "backend", "addresses": [addr]}]);
    // The VIP (.2), the tasks (.3, .4) and c's address (.5, still held this round) are taken.
    assert_eq!(
        patches,
        [
            ("a".to_string(), lb("10.0.9.6/24")),
            ("b".to_string(), lb("10.0.9.7/24")),
            ("c".to_string(), serde_json::json!([])),
        ]
    );
}
