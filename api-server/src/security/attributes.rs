//! What authorization decides about: a request's attributes (verb, group, resource, name,
//! path), the decision, and what the node rules need to know about a node's Tasks. Shared by
//! the authorizer ([`super::authz`]) and every rule set it asks, which import nothing of it.

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
