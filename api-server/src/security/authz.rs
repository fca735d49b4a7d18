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

/// The `flotilla.dev` API group.
pub const FLOTILLA_GROUP: &str = "flotilla.dev";
/// The API group of Leases.
pub const COORDINATION_GROUP: &str = "coordination.k8s.io";
/// The API group of `events.k8s.io/v1` Events (core `v1` Events have group "").
pub const EVENTS_GROUP: &str = "events.k8s.io";
/// Default namespace of node heartbeat Leases (one Lease per node, named after the node).
pub const NODE_LEASE_NAMESPACE: &str = "flotilla-node-lease";

/// Kubernetes request verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    /// Every verb, in Kubernetes' usual order.
    pub const ALL: [Verb; 8] = [
        Verb::Get,
        Verb::List,
        Verb::Watch,
        Verb::Create,
        Verb::Update,
        Verb::Patch,
        Verb::Delete,
        Verb::DeleteCollection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// Parses a Kubernetes verb (`get`, …, `deletecollection`), as sent in SubjectAccessReviews.
    pub fn parse(verb: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == verb)
    }

    pub fn is_read(self) -> bool {
        matches!(self, Verb::Get | Verb::List | Verb::Watch)
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request wants to do. A resource request has a non-empty `resource`; otherwise `path` is
/// checked (non-resource request, e.g. `/healthz`, `/apis`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAttributes {
    pub verb: Verb,
    /// "" for the core group.
    pub api_group: String,
    /// Plural, e.g. `tasks`; empty for non-resource requests.
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    /// The object name. For `create` the HTTP layer must fill it from the body's `metadata.name`:
    /// node rules (own SwarmNode, own Lease) need it.
    pub name: Option<String>,
    /// The request path (used for non-resource requests).
    pub path: String,
    /// The raw, URL-decoded `fieldSelector` query parameter of list/watch requests.
    pub field_selector: Option<String>,
}

impl RequestAttributes {
    /// A resource request; add scope and name with the builder methods.
    pub fn resource(verb: Verb, api_group: &str, resource: &str) -> RequestAttributes {
        RequestAttributes {
            verb,
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            subresource: None,
            namespace: None,
            name: None,
            path: String::new(),
            field_selector: None,
        }
    }

    /// A non-resource request (`/healthz`, `/apis`, `/openapi/v3`, …).
    pub fn non_resource(verb: Verb, path: &str) -> RequestAttributes {
        RequestAttributes {
            path: path.to_string(),
            ..RequestAttributes::resource(verb, "", "")
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_string());
        self
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    pub fn with_subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.to_string());
        self
    }

    pub fn with_field_selector(mut self, selector: &str) -> Self {
        self.field_selector = Some(selector.to_string());
        self
    }

    pub fn is_resource_request(&self) -> bool {
        !self.resource.is_empty()
    }

    pub(crate) fn is(&self, group: &str, resource: &str) -> bool {
        self.api_group == group && self.resource == resource
    }

    pub(crate) fn is_event(&self) -> bool {
        self.resource == "events" && (self.api_group.is_empty() || self.api_group == EVENTS_GROUP)
    }

    pub(crate) fn is_lease(&self) -> bool {
        self.is(COORDINATION_GROUP, "leases")
    }
}

/// The outcome of an authorization check. A `Deny` reason may be empty (plain RBAC-style denial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    pub(crate) fn allow_if(allowed: bool) -> Decision {
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny(String::new())
        }
    }
}

/// Kinds a node may get only when one of its Tasks references the object: its service
/// (`spec.serviceName`), its secrets and its configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferencedKind {
    SwarmService,
    SwarmSecret,
    SwarmConfig,
}

/// The relations between nodes and objects the node rules depend on. The HTTP layer implements it over
/// its cache of Tasks; it must be cheap (called on every node request) and never block on I/O.
pub trait NodeRelations: Send + Sync {
    /// The `spec.nodeName` of Task `namespace/name`, when the Task exists and is bound.
    fn task_node(&self, namespace: &str, name: &str) -> Option<String>;
    /// Whether a Task bound to `node` references the secret/config `namespace/name`.
    fn node_references(
        &self,
        node: &str,
        kind: ReferencedKind,
        namespace: &str,
        name: &str,
    ) -> bool;
}

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
