//! SwarmNetworks as Docker networks, as pure functions: one bridge network per SwarmNetwork
//! with the allocator's subnet and gateway (Docker's `--internal` for internal networks), each
//! task connected at the address the allocator gave it, and a resolv.conf naming the node's DNS
//! server on the first network's gateway (docs/networking.md).

use std::collections::HashMap;

use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest,
};

use flotilla_api::task::NetworkAttachment;

use super::{FileData, NetworkRun, TaskRun};

/// Label on a Docker network naming its SwarmNetwork (`<namespace>/<name>`).
pub const NETWORK_LABEL: &str = "flotilla.dev/network";
/// Label on a Docker network: whether its SwarmNetwork is attachable (`true`/`false`).
pub const ATTACHABLE_LABEL: &str = "flotilla.dev/attachable";

/// The Docker network standing in for SwarmNetwork `<namespace>/<name>`.
pub fn network_name(namespace: &str, network: &str) -> String {
    format!("flotilla-{namespace}-{network}")
}

/// The request creating SwarmNetwork `net`'s Docker network.
pub fn network_request(namespace: &str, net: &NetworkRun) -> NetworkCreateRequest {
    let labels = HashMap::from([
        (
            NETWORK_LABEL.to_string(),
            format!("{namespace}/{}", net.name),
        ),
        (ATTACHABLE_LABEL.to_string(), net.attachable.to_string()),
    ]);
    NetworkCreateRequest {
        name: network_name(namespace, &net.name),
        driver: Some("bridge".into()),
        internal: Some(net.internal),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig {
                subnet: Some(net.subnet.clone()),
                gateway: (!net.gateway.is_empty()).then(|| net.gateway.clone()),
                // The engine gives standalone containers addresses only where the allocator
                // gives none; tasks come with theirs.
                ip_range: net
                    .attachable
                    .then(|| flotilla_api::network::standalone_range(&net.subnet))
                    .flatten(),
                ..Default::default()
            }]),
            options: None,
        }),
        labels: Some(labels),
        ..Default::default()
    }
}

/// The endpoint joining a task to `net` at its allocated address.
pub fn endpoint(net: &NetworkRun) -> EndpointSettings {
    EndpointSettings {
        ipam_config: net.address.as_ref().map(|a| EndpointIpamConfig {
            ipv4_address: Some(a.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `/etc/resolv.conf` for a task on networks: the node's DNS server at the first network's
/// gateway, and nothing else (it answers service names and NXDOMAIN, so a lookup never leaves
/// the node). `None` when the task joins no network or names its own nameservers.
pub fn resolv_conf(run: &TaskRun) -> Option<FileData> {
    let first = run.networks.first()?;
    let own = run.task.spec.template.container_spec.dns_config.as_ref();
    if own.is_some_and(|d| !d.nameservers.is_empty()) || first.gateway.is_empty() {
        return None;
    }
    Some(FileData {
        target: "/etc/resolv.conf".into(),
        data: format!("nameserver {}\n", first.gateway).into_bytes(),
        uid: 0,
        gid: 0,
        mode: 0o444,
    })
}

/// The task's addresses on SwarmNetworks `networks` (in that order), read from the
/// container's `docker inspect` networks: `address/prefix`, as the allocator writes them.
/// A network the container is not on is left out.
pub fn attachments(
    namespace: &str,
    networks: &[String],
    inspected: &HashMap<String, EndpointSettings>,
) -> Vec<NetworkAttachment> {
    networks
        .iter()
        .filter_map(|net| {
            let ep = inspected.get(&network_name(namespace, net))?;
            let ip = ep.ip_address.as_deref().filter(|ip| !ip.is_empty())?;
            let address = match ep.ip_prefix_len {
                Some(len) if len > 0 => format!("{ip}/{len}"),
                _ => ip.to_string(),
            };
            Some(NetworkAttachment {
                network: net.clone(),
                addresses: vec![address],
                aliases: ep.aliases.clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// The subnet an existing Docker network was created with.
pub fn subnet_of(net: &bollard::models::NetworkInspect) -> Option<String> {
    net.ipam.as_ref()?.config.as_ref()?.first()?.subnet.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> NetworkRun {
        NetworkRun {
            name: "backend".into(),
            subnet: "10.210.1.0/24".into(),
            gateway: "10.210.1.1".into(),
            internal: true,
            attachable: false,
            address: Some("10.210.1.3".into()),
        }
    }

    #[test]
    fn a_network_gets_its_subnet_gateway_and_internal_flag() {
        let req = network_request("default", &backend());
        assert_eq!(req.name, "flotilla-default-backend");
        assert_eq!(req.internal, Some(true));
        let ipam = &req.ipam.unwrap().config.unwrap()[0];
        assert_eq!(ipam.subnet.as_deref(), Some("10.210.1.0/24"));
        assert_eq!(ipam.gateway.as_deref(), Some("10.210.1.1"));
        assert_eq!(
            ipam.ip_range, None,
            "not attachable: no standalone containers"
        );
        let attachable = NetworkRun {
            attachable: true,
            ..backend()
        };
        let req = network_request("default", &attachable);
        let ipam = &req.ipam.unwrap().config.unwrap()[0];
        assert_eq!(ipam.ip_range.as_deref(), Some("10.210.1.192/26"));
        let ep = endpoint(&backend());
        assert_eq!(
            ep.ipam_config.unwrap().ipv4_address.as_deref(),
            Some("10.210.1.3")
        );
    }

    #[test]
    fn attachments_read_the_swarm_networks_from_inspect_in_template_order() {
        let ep = |ip: &str, len: i64| EndpointSettings {
            ip_address: Some(ip.into()),
            ip_prefix_len: Some(len),
            ..Default::default()
        };
        let inspected = HashMap::from([
            ("bridge".to_string(), ep("172.17.0.5", 16)),
            ("flotilla-default-front".to_string(), ep("10.210.2.4", 24)),
            ("flotilla-default-backend".to_string(), ep("10.210.1.3", 24)),
            ("flotilla-other-backend".to_string(), ep("10.210.9.9", 24)),
        ]);
        let names = ["backend".to_string(), "front".into(), "gone".into()];
        let got = attachments("default", &names, &inspected);
        let got: Vec<_> = got
            .iter()
            .map(|a| (a.network.as_str(), a.addresses.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("backend", vec!["10.210.1.3/24".to_string()]),
                ("front", vec!["10.210.2.4/24".to_string()]),
            ]
        );
        assert!(attachments("default", &names, &HashMap::new()).is_empty());
    }

    #[test]
    fn resolv_conf_names_the_first_gateway_unless_the_task_has_its_own() {
        let mut task = flotilla_api::Task::new("api.1", Default::default());
        let mut run = TaskRun {
            key: super::super::TaskKey::of(&task),
            node: "n".into(),
            task: task.clone(),
            secrets: vec![],
            configs: vec![],
            networks: vec![],
        };
        assert!(resolv_conf(&run).is_none());
        run.networks = vec![backend()];
        let file = resolv_conf(&run).unwrap();
        assert_eq!(file.data, b"nameserver 10.210.1.1\n");
        std::sync::Arc::make_mut(&mut task.spec.template)
            .container_spec
            .dns_config = Some(flotilla_api::container::DnsConfig {
            nameservers: vec!["1.1.1.1".into()],
            ..Default::default()
        });
        run.task = task;
        assert!(resolv_conf(&run).is_none());
    }
}
