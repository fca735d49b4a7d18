use super::*;
use flotilla_api::endpoint::{EndpointSpec, EndpointStatus};
use flotilla_api::endpoint::{PortConfig, PublishMode};
use flotilla_api::service::SwarmServiceStatus;
use kube::api::ObjectMeta;

fn port(target: i64, published: Option<i64>, mode: Option<PublishMode>) -> PortConfig {
    PortConfig {
        target_port: target,
        published_port: published,
        publish_mode: mode,
        ..Default::default()
    }
}

fn service(spec_ports: Vec<PortConfig>, status_ports: Vec<PortConfig>) -> SwarmService {
    let mut s = SwarmService::new("web", Default::default());
    s.metadata = ObjectMeta {
        name: Some("web".into()),
        namespace: Some("default".into()),
        ..Default::default()
    };
    s.spec.endpoint = Some(EndpointSpec {
        mode: None,
        ports: spec_ports,
    });
    if !status_ports.is_empty() {
        s.status = Some(SwarmServiceStatus {
            endpoint: Some(EndpointStatus {
                ports: status_ports,
                virtual_ips: vec![],
            }),
            ..Default::default()
        });
    }
    s
}

#[test]
fn routes_take_ingress_ports_from_status_first() {
    let s = service(
        vec![port(80, None, None)],
        vec![port(80, Some(30001), Some(PublishMode::Ingress))],
    );
    let route = Route {
        service: "default/web".into(),
        target_port: 80,
        nodes: vec![],
    };
    let published = Published {
        protocol: PortProtocol::Tcp,
        port: 30001,
    };
    assert_eq!(routes_of(&s), vec![(published, route)]);
}

#[test]
fn routes_skip_host_mode_and_unpublished_ports() {
    let s = service(
        vec![
            port(80, Some(8080), None),
            port(81, Some(8081), Some(PublishMode::Host)),
            port(82, None, None),
        ],
        vec![],
    );
    let ports: Vec<u16> = routes_of(&s).into_iter().map(|(p, _)| p.port).collect();
    assert_eq!(ports, vec![8080]);
}

#[test]
fn routes_serve_udp_apart_from_tcp_and_skip_sctp() {
    let with = |protocol, target| PortConfig {
        protocol: Some(protocol),
        ..port(target, Some(53), None)
    };
    let s = service(
        vec![
            with(PortProtocol::Tcp, 5353),
            with(PortProtocol::Udp, 53),
            with(PortProtocol::Sctp, 53),
        ],
        vec![],
    );
    let routes: Vec<(PortProtocol, u16, u16)> = routes_of(&s)
        .into_iter()
        .map(|(p, r)| (p.protocol, p.port, r.target_port))
        .collect();
    assert_eq!(
        routes,
        vec![(PortProtocol::Tcp, 53, 5353), (PortProtocol::Udp, 53, 53)]
    );
}

#[test]
fn pick_prefers_local_then_round_robins_remote() {
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    let c: IpAddr = "10.0.0.3".parse().unwrap();
    assert_eq!(pick(&[a], &[b, c], 1), Some(a));
    assert_eq!(pick(&[], &[b, c], 0), Some(b));
    assert_eq!(pick(&[], &[b, c], 1), Some(c));
    assert_eq!(pick::<IpAddr>(&[], &[], 0), None);
}

#[test]
fn routes_carry_the_nodes_the_control_plane_lists() {
    let mut s = service(vec![port(80, Some(8080), None)], vec![]);
    s.status = Some(SwarmServiceStatus {
        running_nodes: vec!["a".into(), "b".into()],
        ..Default::default()
    });
    let nodes: Vec<Vec<String>> = routes_of(&s).into_iter().map(|(_, r)| r.nodes).collect();
    assert_eq!(nodes, vec![vec!["a".to_string(), "b".to_string()]]);
}

fn peers() -> BTreeMap<String, IpAddr> {
    [
        ("me".to_string(), "10.0.0.1".parse().unwrap()),
        ("a".to_string(), "10.0.0.2".parse().unwrap()),
        ("b".to_string(), "10.0.0.3".parse().unwrap()),
    ]
    .into()
}

#[test]
fn remote_backends_are_listed_nodes_at_their_own_address_and_published_port() {
    let client: IpAddr = "192.0.2.9".parse().unwrap();
    let running = ["a", "a", "b", "me", "unknown"].map(String::from);
    let got = remote_backends(&running, "me", &peers(), 30001, client);
    let want: Vec<SocketAddr> = ["10.0.0.2:30001", "10.0.0.2:30001", "10.0.0.3:30001"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(
        got, want,
        "two tasks on a: two shares; self and unknown nodes skipped"
    );
}

#[test]
fn a_connection_from_another_node_is_never_forwarded_again() {
    let from_a: IpAddr = "10.0.0.2".parse().unwrap();
    let running = ["b".to_string()];
    assert!(remote_backends(&running, "me", &peers(), 30001, from_a).is_empty());
}

#[test]
fn mirror_keeps_the_old_table_until_a_relist_completes() {
    use kube::runtime::watcher::Event;
    let mut m: mirror::Mirror<u32> = mirror::Mirror::default();
    let key = |v: &(String, u32)| v.0.clone();
    let value = |v: (String, u32)| Some(v.1);
    assert!(m.apply(Event::Apply(("a".to_string(), 1)), key, value));
    assert!(!m.apply(Event::Init, key, value));
    assert!(!m.apply(Event::InitApply(("b".to_string(), 2)), key, value));
    assert_eq!(m.current().len(), 1, "still the old table while re-listing");
    assert!(m.apply(Event::InitDone, key, value));
    assert_eq!(m.current().keys().collect::<Vec<_>>(), vec!["b"]);
    assert!(m.apply(Event::Apply(("b".to_string(), 0)), key, |_| None));
    assert!(
        m.current().is_empty(),
        "an object without a value is dropped"
    );
}
