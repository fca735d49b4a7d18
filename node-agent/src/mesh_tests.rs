use super::*;
use flotilla_api::endpoint::{EndpointSpec, EndpointStatus};
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
    assert_eq!(pick(&[], &[], 0), None);
}
