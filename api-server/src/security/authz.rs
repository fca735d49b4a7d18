//! Authorization by identity: what each caller may do. Deny by default.
//!
//! * group `system:masters`: everything;
//! * the scheduler and controller-manager: what their loops need ([`super::roles`]);
//! * nodes (`system:node:<name>` in `system:nodes`): Kubernetes' Node-authorizer rules, which are also
//!   Swarm's dispatcher rule: a node reads only its own Tasks and the services, secrets and configs
//!   those Tasks reference, and writes only its own SwarmNode, its Task statuses and its Lease;
//! * every authenticated user: self-reviews (`kubectl auth can-i`, `kubectl auth whoami`);
//! * non-resource paths (health, version, discovery, `/metrics`): by group, from one table
//!   ([`super::paths`]); only health and version are open to anonymous callers.

use super::authn::{
    Identity, AUTHENTICATED_GROUP, CONTROLLER_MANAGER_USER, MASTERS_GROUP, SCHEDULER_USER,
};
use super::{node_rules, paths, roles};

pub use super::attributes::{
    Decision, NodeRelations, ReferencedKind, RequestAttributes, Verb, NODE_LEASE_NAMESPACE,
};

/// Decides requests. Stateless apart from the node Lease namespace.
#[derive(Debug, Clone)]
pub struct Authorizer {
    node_lease_namespace: String,
}

impl Default for Authorizer {
    fn default() -> Self {
        Authorizer {
            node_lease_namespace: NODE_LEASE_NAMESPACE.to_string(),
        }
    }
}

impl Authorizer {
    /// Node Leases live in [`NODE_LEASE_NAMESPACE`].
    pub fn new() -> Authorizer {
        Authorizer::default()
    }

    /// Node Leases live in `namespace` instead.
    pub fn with_node_lease_namespace(namespace: &str) -> Authorizer {
        Authorizer {
            node_lease_namespace: namespace.to_string(),
        }
    }

    pub fn authorize(
        &self,
        who: &Identity,
        request: &RequestAttributes,
        relations: &dyn NodeRelations,
    ) -> Decision {
        if who.in_group(MASTERS_GROUP) {
            return Decision::Allow;
        }
        if !request.is_resource_request() {
            return Decision::allow_if(paths::may(who, request.verb, &request.path));
        }
        if is_self_review(who, request) {
            return Decision::Allow;
        }
        if let Some(node) = who.node_name() {
            return node_rules::authorize(node, &self.node_lease_namespace, request, relations);
        }
        match who.user.as_str() {
            SCHEDULER_USER => Decision::allow_if(roles::scheduler_may(request)),
            CONTROLLER_MANAGER_USER => Decision::allow_if(roles::controller_manager_may(request)),
            _ => Decision::Deny(String::new()),
        }
    }
}

/// `kubectl auth can-i` / `kubectl auth whoami` (kube-apiserver's `system:basic-user`).
fn is_self_review(who: &Identity, r: &RequestAttributes) -> bool {
    who.in_group(AUTHENTICATED_GROUP)
        && r.verb == Verb::Create
        && (r.is("authorization.k8s.io", "selfsubjectaccessreviews")
            || r.is("authorization.k8s.io", "selfsubjectrulesreviews")
            || r.is("authentication.k8s.io", "selfsubjectreviews"))
}

/// Kubernetes' 403 message: `<resource>.<group> ["<name>"] is forbidden: User "<user>" cannot <verb>
/// resource "<resource>[/<sub>]" in API group "<group>" in the namespace "<ns>"` (or `at the cluster
/// scope`); non-resource: `forbidden: User "<user>" cannot <verb> path "<path>"`. A non-empty deny
/// reason is appended after `: `.
pub fn forbidden_message(who: &Identity, r: &RequestAttributes, reason: &str) -> String {
    let mut detail = if r.is_resource_request() {
        let resource = match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        };
        let scope = match r.namespace.as_deref().filter(|ns| !ns.is_empty()) {
            Some(ns) => format!("in the namespace {ns:?}"),
            None => "at the cluster scope".to_string(),
        };
        format!(
            "User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
            who.user, r.verb, r.api_group
        )
    } else {
        format!("User {:?} cannot {} path {:?}", who.user, r.verb, r.path)
    };
    if !reason.is_empty() {
        detail = format!("{detail}: {reason}");
    }
    if !r.is_resource_request() {
        return format!("forbidden: {detail}");
    }
    let qualified = if r.api_group.is_empty() {
        r.resource.clone()
    } else {
        format!("{}.{}", r.resource, r.api_group)
    };
    match r.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{qualified} {name:?} is forbidden: {detail}"),
        None => format!("{qualified} is forbidden: {detail}"),
    }
}

#[cfg(test)]
#[path = "authz_tests.rs"]
pub(crate) mod tests;
