use std::collections::{HashMap, HashSet};

use super::*;
use crate::security::attributes::{COORDINATION_GROUP, EVENTS_GROUP, FLOTILLA_GROUP};
use crate::security::authn::{ADMIN_USER, NODES_GROUP};

/// In-memory relations: task (ns, name) → node, and (node, kind, ns, name) references.
#[derive(Default)]
pub(crate) struct FakeRelations {
    tasks: HashMap<(String, String), String>,
    refs: HashSet<(String, ReferencedKind, String, String)>,
}

impl FakeRelations {
    pub(crate) fn cluster() -> FakeRelations {
        let mut f = FakeRelations::default();
        f.tasks
            .insert(("default".into(), "web.1".into()), "node-1".into());
        f.tasks
            .insert(("default".into(), "web.2".into()), "node-2".into());
        f.refs.insert((
            "node-1".into(),
            ReferencedKind::SwarmSecret,
            "default".into(),
            "db-pass".into(),
        ));
        f.refs.insert((
            "node-1".into(),
            ReferencedKind::SwarmService,
            "default".into(),
            "web".into(),
        ));
        f.refs.insert((
            "node-1".into(),
            ReferencedKind::SwarmConfig,
            "default".into(),
            "nginx".into(),
        ));
        f
    }
}

impl NodeRelations for FakeRelations {
    fn task_node(&self, namespace: &str, name: &str) -> Option<String> {
        self.tasks
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }
    fn node_references(
        &self,
        node: &str,
        kind: ReferencedKind,
        namespace: &str,
        name: &str,
    ) -> bool {
        self.refs.contains(&(
            node.to_string(),
            kind,
            namespace.to_string(),
            name.to_string(),
        ))
    }
}

pub(crate) fn node(name: &str) -> Identity {
    Identity::new(format!("system:node:{name}"), [NODES_GROUP])
}

pub(crate) fn flotilla(verb: Verb, resource: &str) -> RequestAttributes {
    RequestAttributes::resource(verb, FLOTILLA_GROUP, resource)
}

pub(crate) fn allowed(who: &Identity, r: &RequestAttributes) -> bool {
    Authorizer::new()
        .authorize(who, r, &FakeRelations::cluster())
        .is_allowed()
}

#[test]
fn masters_may_do_anything() {
    let admin = Identity::new(ADMIN_USER, [MASTERS_GROUP]);
    assert!(allowed(
        &admin,
        &flotilla(Verb::DeleteCollection, "swarmsecrets").in_namespace("x")
    ));
    assert!(allowed(
        &admin,
        &RequestAttributes::non_resource(Verb::Create, "/anything")
    ));
}

#[test]
fn ordinary_users_get_discovery_and_self_reviews_only() {
    let alice = Identity::new("alice", ["devs"]);
    for path in [
        "/healthz",
        "/readyz",
        "/version",
        "/api",
        "/apis",
        "/apis/flotilla.dev/v1alpha1",
        "/openapi/v3",
    ] {
        assert!(
            allowed(&alice, &RequestAttributes::non_resource(Verb::Get, path)),
            "{path}"
        );
    }
    for path in ["/metrics", "/livez/etcd", "/nonsense"] {
        assert!(
            !allowed(&alice, &RequestAttributes::non_resource(Verb::Get, path)),
            "{path}"
        );
    }
    assert!(!allowed(
        &alice,
        &RequestAttributes::non_resource(Verb::Create, "/apis")
    ));
    assert!(!allowed(
        &alice,
        &RequestAttributes::non_resource(Verb::Get, "/apisx")
    ));
    let review = RequestAttributes::resource(
        Verb::Create,
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
    );
    assert!(allowed(&alice, &review));
    assert!(!allowed(
        &alice,
        &flotilla(Verb::List, "swarmservices").in_namespace("default")
    ));
}

#[test]
fn anonymous_callers_get_health_and_version_only() {
    let anonymous = Identity::anonymous();
    for path in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
        let get = RequestAttributes::non_resource(Verb::Get, path);
        assert!(allowed(&anonymous, &get), "{path}");
    }
    for path in [
        "/api",
        "/apis",
        "/readyz/ping",
        "/openapi/v2",
        "/metrics",
        "/",
    ] {
        let get = RequestAttributes::non_resource(Verb::Get, path);
        assert!(!allowed(&anonymous, &get), "{path}");
    }
    let review = RequestAttributes::resource(
        Verb::Create,
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
    );
    assert!(
        !allowed(&anonymous, &review),
        "no self review without a self"
    );
}

#[test]
fn monitoring_reads_metrics_and_health_checks() {
    let prometheus = Identity::new("prometheus", [crate::security::authn::MONITORING_GROUP]);
    for path in ["/metrics", "/readyz/etcd", "/healthz"] {
        let get = RequestAttributes::non_resource(Verb::Get, path);
        assert!(allowed(&prometheus, &get), "{path}");
    }
    let post = RequestAttributes::non_resource(Verb::Create, "/metrics");
    assert!(!allowed(&prometheus, &post));
    assert!(!allowed(
        &prometheus,
        &flotilla(Verb::List, "swarmservices").in_namespace("default")
    ));
}

#[test]
fn scheduler_reads_binds_and_elects_but_never_reads_secrets() {
    let s = Identity::new(SCHEDULER_USER, Vec::<String>::new());
    assert!(allowed(&s, &flotilla(Verb::Watch, "tasks")));
    assert!(allowed(&s, &flotilla(Verb::List, "swarmnodes")));
    assert!(allowed(
        &s,
        &flotilla(Verb::Create, "tasks")
            .in_namespace("d")
            .named("t")
            .with_subresource("binding")
    ));
    assert!(allowed(
        &s,
        &flotilla(Verb::Patch, "tasks")
            .in_namespace("d")
            .named("t")
            .with_subresource("status")
    ));
    assert!(allowed(
        &s,
        &RequestAttributes::resource(Verb::Update, COORDINATION_GROUP, "leases")
            .in_namespace("kube-system")
    ));
    assert!(allowed(
        &s,
        &RequestAttributes::resource(Verb::Create, EVENTS_GROUP, "events").in_namespace("d")
    ));
    assert!(!allowed(
        &s,
        &flotilla(Verb::Get, "swarmsecrets")
            .in_namespace("d")
            .named("x")
    ));
    assert!(!allowed(
        &s,
        &flotilla(Verb::Update, "tasks").in_namespace("d").named("t")
    ));
    assert!(!allowed(
        &s,
        &flotilla(Verb::Delete, "swarmservices")
            .in_namespace("d")
            .named("web")
    ));
}

#[test]
fn controller_manager_owns_flotilla_objects() {
    let cm = Identity::new(CONTROLLER_MANAGER_USER, Vec::<String>::new());
    assert!(allowed(
        &cm,
        &flotilla(Verb::Create, "tasks").in_namespace("d")
    ));
    assert!(allowed(
        &cm,
        &flotilla(Verb::Delete, "tasks").in_namespace("d").named("t")
    ));
    assert!(allowed(
        &cm,
        &flotilla(Verb::Patch, "swarmservices")
            .in_namespace("d")
            .named("w")
            .with_subresource("status")
    ));
    assert!(allowed(
        &cm,
        &RequestAttributes::resource(Verb::Get, COORDINATION_GROUP, "leases")
            .in_namespace("x")
            .named("cm")
    ));
    assert!(!allowed(
        &cm,
        &RequestAttributes::resource(Verb::Get, "apps", "deployments")
    ));
}

#[test]
fn forbidden_messages_match_kube_apiserver() {
    let alice = Identity::new("alice", Vec::<String>::new());
    let create = flotilla(Verb::Create, "swarmservices").in_namespace("default");
    assert_eq!(
        forbidden_message(&alice, &create, ""),
        r#"swarmservices.flotilla.dev is forbidden: User "alice" cannot create resource "swarmservices" in API group "flotilla.dev" in the namespace "default""#
    );
    let status = flotilla(Verb::Update, "swarmnodes")
        .named("node-2")
        .with_subresource("status");
    assert_eq!(
        forbidden_message(&alice, &status, "not yours"),
        r#"swarmnodes.flotilla.dev "node-2" is forbidden: User "alice" cannot update resource "swarmnodes/status" in API group "flotilla.dev" at the cluster scope: not yours"#
    );
    let events = RequestAttributes::resource(Verb::List, "", "events").in_namespace("x");
    assert_eq!(
        forbidden_message(&alice, &events, ""),
        r#"events is forbidden: User "alice" cannot list resource "events" in API group "" in the namespace "x""#
    );
    let path = RequestAttributes::non_resource(Verb::Get, "/metrics");
    assert_eq!(
        forbidden_message(&alice, &path, ""),
        r#"forbidden: User "alice" cannot get path "/metrics""#
    );
}

#[test]
fn verbs_parse_and_print() {
    for verb in [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ] {
        assert_eq!(Verb::parse(verb).unwrap().as_str(), verb);
    }
    assert_eq!(Verb::parse("GET"), None);
}
