use std::net::IpAddr;

use super::placement::parse_cidr;
use super::FieldError;
use crate::network::SwarmNetworkSpec;

pub fn validate_network(spec: &SwarmNetworkSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(driver) = spec.driver.as_deref().filter(|d| *d != "overlay") {
        errs.push(FieldError::not_supported(
            "spec.driver",
            driver,
            &["overlay"],
        ));
    }
    let subnet = match spec.subnet.as_deref() {
        Some(s) => match parse_cidr(s) {
            Some(net) => Some(net),
            None => {
                errs.push(FieldError::invalid(
                    "spec.subnet",
                    s,
                    "must be a CIDR such as 10.0.1.0/24",
                ));
                None
            }
        },
        None => None,
    };
    if let Some(gateway) = spec.gateway.as_deref() {
        match gateway.parse::<IpAddr>() {
            Err(_) => errs.push(FieldError::invalid(
                "spec.gateway",
                gateway,
                "must be an IP address",
            )),
            Ok(ip) => match subnet {
                Some((net, prefix)) if !contains(net, prefix, ip) => {
                    errs.push(FieldError::invalid(
                        "spec.gateway",
                        gateway,
                        format!(
                            "must be inside subnet {}",
                            spec.subnet.as_deref().unwrap_or("")
                        ),
                    ))
                }
                None if spec.subnet.is_none() => errs.push(FieldError::forbidden(
                    "spec.gateway",
                    "a gateway needs a subnet",
                )),
                _ => {}
            },
        }
    }
    errs
}

/// Swarm networks cannot be updated; only `spec.labels` may change.
pub fn validate_network_update(new: &SwarmNetworkSpec, old: &SwarmNetworkSpec) -> Vec<FieldError> {
    let mut errs = validate_network(new);
    let fields = [
        ("driver", new.driver != old.driver),
        ("ingress", new.ingress != old.ingress),
        ("subnet", new.subnet != old.subnet),
        ("gateway", new.gateway != old.gateway),
        ("attachable", new.attachable != old.attachable),
        ("internal", new.internal != old.internal),
        ("driverOpts", new.driver_opts != old.driver_opts),
    ];
    for (field, changed) in fields {
        if changed {
            errs.push(FieldError::forbidden(
                format!("spec.{field}"),
                "field is immutable: networks cannot be updated, only their labels",
            ));
        }
    }
    errs
}

/// Whether `ip` lies in `net/prefix` (same family only).
pub(crate) fn contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}
