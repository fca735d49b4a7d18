use std::collections::{HashMap, HashSet};

use super::*;
use crate::security::authn::{ADMIN_USER, NODES_GROUP};

/// In-memory relations: task (ns, name) → node, and (node, kind, ns, name) references.
#[derive(Default)]
struct FakeRelations {
    tasks: HashMap<(String, String), String>,
    refs: HashSet<(String, ReferencedKind, String, String)>,
}

impl FakeRelations {
    fn cluster() -> FakeRelations {
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

fn node(name: &str) -> Identity {
    Identity::new(format!("system:node:{name}"), [NODES_GROUP])
}

fn flotilla(verb: Verb, resource: &str) -> RequestAttributes {
    RequestAttributes::resource(verb, FLOTILLA_GROUP, resource)
}

fn allowed(who: &Identity, r: &RequestAttributes) -> bool {
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
fn a_node_writes_only_its_own_swarm_node_and_lease() {
    let n1 = node("node-1");
    assert!(allowed(
        &n1,
        &flotilla(Verb::Create, "swarmnodes").named("node-1")
    ));
    assert!(allowed(
        &n1,
        &flotilla(Verb::Patch, "swarmnodes")
            .named("node-1")
            .with_subresource("status")
    ));
    assert!(allowed(&n1, &flotilla(Verb::List, "swarmnodes")));
    assert!(
        !allowed(&n1, &flotilla(Verb::Create, "swarmnodes")),
        "create without a name"
    );
    assert!(!allowed(
        &n1,
        &flotilla(Verb::Update, "swarmnodes")
            .named("node-2")
            .with_subresource("status")
    ));
    assert!(!allowed(
        &n1,
        &flotilla(Verb::Delete, "swarmnodes").named("node-1")
    ));

    let lease = |ns: &str, name: &str, verb| {
        RequestAttributes::resource(verb, COORDINATION_GROUP, "leases")
            .in_namespace(ns)
            .named(name)
    };
    assert!(allowed(
        &n1,
        &lease(NODE_LEASE_NAMESPACE, "node-1", Verb::Create)
    ));
    assert!(allowed(
        &n1,
        &lease(NODE_LEASE_NAMESPACE, "node-1", Verb::Update)
    ));
    assert!(!allowed(
        &n1,
        &lease(NODE_LEASE_NAMESPACE, "node-2", Verb::Update)
    ));
    assert!(!allowed(&n1, &lease("default", "node-1", Verb::Update)));
    assert!(!allowed(
        &n1,
        &lease(NODE_LEASE_NAMESPACE, "node-1", Verb::Delete)
    ));
    let custom = Authorizer::with_node_lease_namespace("leases-here");
    let decision = custom.authorize(
        &n1,
        &lease("leases-here", "node-1", Verb::Get),
        &FakeRelations::cluster(),
    );
    assert!(decision.is_allowed());
}

#[test]
fn a_node_sees_only_tasks_bound_to_it() {
    let n1 = node("node-1");
    let list = flotilla(Verb::Watch, "tasks");
    assert!(allowed(
        &n1,
        &list.clone().with_field_selector("spec.nodeName=node-1")
    ));
    assert!(allowed(
        &n1,
        &list
            .clone()
            .with_field_selector("status.state=RUNNING,spec.nodeName==node-1")
    ));
    assert!(!allowed(&n1, &list.clone()));
    assert!(!allowed(
        &n1,
        &list.clone().with_field_selector("spec.nodeName=node-2")
    ));
    assert!(!allowed(
        &n1,
        &list.clone().with_field_selector("spec.nodeName!=node-1")
    ));
    assert!(!allowed(
        &n1,
        &list.clone().with_field_selector("spec.nodeName=node-10")
    ));
    // The authorizer reads the selector with the query's parser: an escaped comma is part of a
    // value, not a second term.
    for selector in [
        r"spec.nodeName!=x\,spec.nodeName=node-1",
        r"metadata.name!=x\,spec.nodeName=node-1",
        r"status.state!=x\\\,spec.nodeName=node-1",
        r"spec.nodeName=node-1\,x",
        " spec.nodeName = node-1",
        "spec.nodeName=node-1,=",
    ] {
        assert!(
            !allowed(&n1, &list.clone().with_field_selector(selector)),
            "{selector}"
        );
    }
    assert!(allowed(
        &n1,
        &list.with_field_selector(r"metadata.name!=a\,b,spec.nodeName=node-1")
    ));

    let task = |name: &str, verb| flotilla(verb, "tasks").in_namespace("default").named(name);
    assert!(allowed(&n1, &task("web.1", Verb::Get)));
    assert!(allowed(
        &n1,
        &task("web.1", Verb::Patch).with_subresource("status")
    ));
    assert!(!allowed(&n1, &task("web.2", Verb::Get)));
    assert!(!allowed(
        &n1,
        &task("web.2", Verb::Update).with_subresource("status")
    ));
    assert!(!allowed(&n1, &task("missing", Verb::Get)));
    assert!(
        !allowed(&n1, &task("web.1", Verb::Update)),
        "spec writes are not the node's"
    );
    assert!(!allowed(&n1, &task("web.1", Verb::Delete)));
}

#[test]
fn a_node_reads_only_secrets_and_configs_its_tasks_reference() {
    let (n1, n2) = (node("node-1"), node("node-2"));
    let get = |kind: &str, name: &str| {
        flotilla(Verb::Get, kind)
            .in_namespace("default")
            .named(name)
    };
    assert!(allowed(&n1, &get("swarmsecrets", "db-pass")));
    assert!(allowed(&n1, &get("swarmconfigs", "nginx")));
    assert!(!allowed(&n2, &get("swarmsecrets", "db-pass")));
    assert!(
        !allowed(&n1, &get("swarmsecrets", "nginx")),
        "kinds are not interchangeable"
    );
    assert!(!allowed(
        &n1,
        &flotilla(Verb::List, "swarmsecrets").in_namespace("default")
    ));
    assert!(!allowed(&n1, &flotilla(Verb::Watch, "swarmconfigs")));
}

#[test]
fn a_node_gets_only_the_services_of_its_tasks_and_lists_their_routing_view() {
    let (n1, n2) = (node("node-1"), node("node-2"));
    let web = flotilla(Verb::Get, "swarmservices")
        .in_namespace("default")
        .named("web");
    assert!(allowed(&n1, &web));
    assert!(!allowed(&n2, &web), "no task of web on node-2");
    assert!(!allowed(
        &n1,
        &flotilla(Verb::Get, "swarmservices")
            .in_namespace("other")
            .named("web")
    ));
    assert!(!allowed(&n1, &web.clone().with_subresource("status")));
    // List and watch are allowed; the HTTP layer answers them with the routing view.
    let list = flotilla(Verb::List, "swarmservices");
    assert!(allowed(&n2, &list));
    assert!(crate::security::node_view::applies(&n2, &list));
}

#[test]
fn a_node_records_events_and_reads_layout_but_nothing_else() {
    let n1 = node("node-1");
    assert!(allowed(
        &n1,
        &RequestAttributes::resource(Verb::Create, "", "events").in_namespace("default")
    ));
    assert!(allowed(
        &n1,
        &RequestAttributes::resource(Verb::Patch, EVENTS_GROUP, "events")
            .in_namespace("default")
            .named("e")
    ));
    assert!(allowed(&n1, &flotilla(Verb::Watch, "swarmservices")));
    assert!(allowed(
        &n1,
        &flotilla(Verb::Get, "swarmnetworks")
            .in_namespace("default")
            .named("ingress")
    ));
    assert!(!allowed(
        &n1,
        &flotilla(Verb::Update, "swarmservices")
            .in_namespace("default")
            .named("web")
    ));
    assert!(!allowed(
        &n1,
        &flotilla(Verb::Create, "tasks").in_namespace("default")
    ));
    assert!(!allowed(
        &n1,
        &RequestAttributes::resource(Verb::List, "", "namespaces")
    ));
    // The node prefix alone is not enough: without the group it is an ordinary user.
    let impostor = Identity::new("system:node:node-1", Vec::<String>::new());
    assert!(!allowed(&impostor, &flotilla(Verb::List, "swarmnodes")));
}

#[test]
fn deny_reasons_explain_node_denials() {
    let d = Authorizer::new().authorize(
        &node("node-1"),
        &flotilla(Verb::Get, "swarmsecrets")
            .in_namespace("default")
            .named("other"),
        &FakeRelations::cluster(),
    );
    assert_eq!(
        d,
        Decision::Deny("no relationship found between node 'node-1' and this object".into())
    );
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
