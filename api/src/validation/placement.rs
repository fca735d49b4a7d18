use std::net::IpAddr;

use super::{check_non_negative, FieldError};
use crate::constraint::{parse_constraint, ENGINE_LABEL_PREFIX, NODE_LABEL_PREFIX};
use crate::template::Placement;

/// Constraint grammar, spread descriptors and maxReplicas ≥ 0. `path` is the placement's path.
pub fn validate_placement(path: &str, placement: &Placement) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, expr) in placement.constraints.iter().enumerate() {
        let field = format!("{path}.constraints[{i}]");
        match parse_constraint(expr) {
            Err(e) => errs.push(FieldError::invalid(field, expr, e.to_string())),
            Ok(c) if c.key.eq_ignore_ascii_case("node.ip") && !is_ip_or_cidr(&c.value) => errs
                .push(FieldError::invalid(
                    field,
                    expr,
                    "node.ip must be compared with an IP address or a CIDR such as 10.0.0.0/24",
                )),
            Ok(_) => {}
        }
    }
    for (i, pref) in placement.preferences.iter().enumerate() {
        let descriptor = &pref.spread.spread_descriptor;
        let valid = [NODE_LABEL_PREFIX, ENGINE_LABEL_PREFIX]
            .iter()
            .any(|p| descriptor.starts_with(p) && descriptor.len() > p.len());
        if !valid {
            errs.push(FieldError::invalid(
                format!("{path}.preferences[{i}].spread.spreadDescriptor"),
                descriptor,
                "must be node.labels.<label> or engine.labels.<label>",
            ));
        }
    }
    check_non_negative(
        &format!("{path}.maxReplicas"),
        placement.max_replicas,
        &mut errs,
    );
    errs
}

/// An IP address or a CIDR (`10.0.0.0/24`, `fd00::/64`).
pub(crate) fn is_ip_or_cidr(s: &str) -> bool {
    parse_cidr(s).is_some() || s.parse::<IpAddr>().is_ok()
}

/// Parses `addr/prefix`, checking the prefix length fits the address family.
pub(crate) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((addr, prefix))
}
