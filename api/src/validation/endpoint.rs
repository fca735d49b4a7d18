use std::collections::HashSet;

use super::FieldError;
use crate::endpoint::{EndpointMode, EndpointSpec, PortProtocol, PublishMode};

/// Port ranges, duplicate (publishedPort, protocol) pairs and dnsrr + ingress. Unset fields are
/// read with their defaults (tcp, ingress, vip). `path` is the endpoint's path.
pub fn validate_endpoint(path: &str, endpoint: &EndpointSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let dnsrr = endpoint.mode == Some(EndpointMode::Dnsrr);
    let mut seen: HashSet<(i64, PortProtocol)> = HashSet::new();
    for (i, port) in endpoint.ports.iter().enumerate() {
        let at = format!("{path}.ports[{i}]");
        if !(1..=65535).contains(&port.target_port) {
            errs.push(FieldError::invalid(
                format!("{at}.targetPort"),
                port.target_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        let published = port.published_port.unwrap_or(0);
        if !(0..=65535).contains(&published) {
            errs.push(FieldError::invalid(
                format!("{at}.publishedPort"),
                published,
                "must be between 1 and 65535, inclusive, or 0 to have one allocated",
            ));
        }
        let mode = port.publish_mode.unwrap_or(PublishMode::Ingress);
        if dnsrr && mode == PublishMode::Ingress {
            errs.push(FieldError::invalid(
                format!("{at}.publishMode"),
                "ingress",
                "port published with ingress mode can't be used with dnsrr mode",
            ));
        }
        let protocol = port.protocol.unwrap_or(PortProtocol::Tcp);
        if published != 0 && !seen.insert((published, protocol)) {
            errs.push(FieldError::duplicate(
                format!("{at}.publishedPort"),
                format!("{published}/{}", protocol.as_str()),
                "duplicate published ports provided",
            ));
        }
    }
    errs
}
