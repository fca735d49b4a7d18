//! The Node authorizer: what `system:node:<name>` may do (Kubernetes' Node authorizer + NodeRestriction,
//! Swarm's dispatcher handing a worker only its own assignments).
//!
//! A node may
//! * read every SwarmNode and SwarmNetwork (non-secret cluster layout it needs for network
//!   attachments and the routing mesh, as kubelet and kube-proxy read Nodes);
//! * get a SwarmService only when one of its Tasks belongs to it; list and watch SwarmServices
//!   only through the routing view ([`super::node_view`]: names, published ports and VIPs, no task
//!   template), which is what the routing mesh needs of every service, as kube-proxy reads every
//!   Service but no pod spec;
//! * create, update and patch only its own SwarmNode (and its status);
//! * get, create, update and patch only its own Lease (`<lease namespace>/<node name>`);
//! * list/watch Tasks only with `fieldSelector=spec.nodeName=<name>`; get Tasks (and their status) and
//!   update/patch their status only when they are bound to it;
//! * get a SwarmSecret/SwarmConfig only when one of its Tasks references it (never list/watch);
//! * create, update and patch events.

use super::attributes::{
    Decision, NodeRelations, ReferencedKind, RequestAttributes, Verb, FLOTILLA_GROUP,
};
use crate::selectors::{FieldOp, FieldSelector};

pub(crate) fn authorize(
    node: &str,
    lease_namespace: &str,
    r: &RequestAttributes,
    relations: &dyn NodeRelations,
) -> Decision {
    if r.is_event() {
        return Decision::allow_if(matches!(r.verb, Verb::Create | Verb::Update | Verb::Patch));
    }
    if r.is_lease() {
        return own_lease(node, lease_namespace, r);
    }
    if r.api_group != FLOTILLA_GROUP {
        return Decision::Deny(String::new());
    }
    match r.resource.as_str() {
        "swarmnodes" => own_swarm_node(node, r),
        "swarmnetworks" => Decision::allow_if(r.verb.is_read() && r.subresource.is_none()),
        "swarmservices" => services(node, r, relations),
        "tasks" => tasks(node, r, relations),
        "swarmsecrets" => referenced(node, ReferencedKind::SwarmSecret, r, relations),
        "swarmconfigs" => referenced(node, ReferencedKind::SwarmConfig, r, relations),
        _ => Decision::Deny(String::new()),
    }
}

fn no_relationship(node: &str) -> Decision {
    Decision::Deny(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

fn own_swarm_node(node: &str, r: &RequestAttributes) -> Decision {
    if r.verb.is_read() {
        return Decision::allow_if(
            r.subresource.is_none() || r.subresource.as_deref() == Some("status"),
        );
    }
    let writable = match r.verb {
        Verb::Create => r.subresource.is_none(),
        Verb::Update | Verb::Patch => matches!(r.subresource.as_deref(), None | Some("status")),
        _ => false,
    };
    if !writable {
        return Decision::Deny(String::new());
    }
    if r.name.as_deref() == Some(node) {
        Decision::Allow
    } else {
        Decision::Deny(format!("node '{node}' may only modify its own SwarmNode"))
    }
}

fn own_lease(node: &str, lease_namespace: &str, r: &RequestAttributes) -> Decision {
    if !matches!(
        r.verb,
        Verb::Get | Verb::Create | Verb::Update | Verb::Patch
    ) {
        return Decision::Deny(String::new());
    }
    if r.namespace.as_deref() == Some(lease_namespace) && r.name.as_deref() == Some(node) {
        Decision::Allow
    } else {
        Decision::Deny(format!(
            "node '{node}' may only use its own Lease {lease_namespace}/{node}"
        ))
    }
}

fn tasks(node: &str, r: &RequestAttributes, relations: &dyn NodeRelations) -> Decision {
    match (r.verb, r.subresource.as_deref()) {
        (Verb::List | Verb::Watch, None) => {
            if selects_node(r.field_selector.as_deref(), node) {
                Decision::Allow
            } else {
                Decision::Deny(format!(
                    "node '{node}' may only list/watch tasks with fieldSelector spec.nodeName={node}"
                ))
            }
        }
        (Verb::Get, None | Some("status")) | (Verb::Update | Verb::Patch, Some("status")) => {
            let bound = match (r.namespace.as_deref(), r.name.as_deref()) {
                (Some(ns), Some(name)) => relations.task_node(ns, name),
                _ => None,
            };
            if bound.as_deref() == Some(node) {
                Decision::Allow
            } else {
                no_relationship(node)
            }
        }
        _ => Decision::Deny(String::new()),
    }
}

/// A service's full object (task template, environment, secret references) only for a node
/// running one of its Tasks; every service's routing view for list and watch.
fn services(node: &str, r: &RequestAttributes, relations: &dyn NodeRelations) -> Decision {
    match (r.verb, r.subresource.as_deref()) {
        (Verb::List | Verb::Watch, None) => Decision::Allow,
        (Verb::Get, None) => referenced(node, ReferencedKind::SwarmService, r, relations),
        _ => Decision::Deny(String::new()),
    }
}

fn referenced(
    node: &str,
    kind: ReferencedKind,
    r: &RequestAttributes,
    relations: &dyn NodeRelations,
) -> Decision {
    if r.verb != Verb::Get || r.subresource.is_some() {
        return Decision::Deny(String::new());
    }
    match (r.namespace.as_deref(), r.name.as_deref()) {
        (Some(ns), Some(name)) if relations.node_references(node, kind, ns, name) => {
            Decision::Allow
        }
        _ => no_relationship(node),
    }
}

/// True when the field selector pins `spec.nodeName` to `node` (`spec.nodeName=<node>` or `==`).
/// Terms are ANDed, so other terms only narrow the selection. The selector is read by the same
/// parser the list and watch handlers use ([`FieldSelector::parse`], which honours `\,` and
/// `\=` escapes): an authorizer that split terms its own way could be shown a term the query
/// never evaluates (`spec.nodeName!=x\,spec.nodeName=node-1` is one `!=` term, not two).
pub(crate) fn selects_node(selector: Option<&str>, node: &str) -> bool {
    let Some(Ok(selector)) = selector.map(FieldSelector::parse) else {
        return false;
    };
    selector
        .terms()
        .iter()
        .any(|t| t.field == "spec.nodeName" && t.op == FieldOp::Equals && t.value == node)
}

#[cfg(test)]
#[path = "node_rules_tests.rs"]
mod tests;
