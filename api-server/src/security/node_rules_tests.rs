//! The node rules: Kubernetes' Node authorizer and NodeRestriction, Swarm's dispatcher rule.

use serde_json::json;

use super::selects_node;
use crate::security::attributes::*;
use crate::security::authn::Identity;
use crate::security::authz::tests::{allowed, flotilla, node, FakeRelations};
use crate::security::authz::Authorizer;
use crate::selectors::FieldSelector;

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

/// Pieces selectors are built from: field names, operators, escapes, separators, values.
const PIECES: [&str; 16] = [
    "spec.nodeName=node-1",
    "metadata.name!=x",
    "status.state",
    "spec.nodeName",
    "metadata.name",
    "=",
    "==",
    "!=",
    ",",
    "\\",
    "\\,",
    "node-1",
    "node-2",
    "x",
    " ",
    "\\=",
];

/// Every selector of up to `len` pieces.
fn selectors(len: usize) -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..len {
        last = last
            .iter()
            .flat_map(|s| PIECES.iter().map(move |p| format!("{s}{p}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// The property the node authorizer rests on: whenever it lets `node-1` list or watch with
/// a selector, the query with that selector selects no Task bound elsewhere.
#[test]
fn an_allowed_selector_never_matches_another_nodes_task() {
    let tasks: Vec<_> = ["node-2", "", "x", "node-1,x", "node-1\\"]
        .iter()
        .map(|node| json!({"metadata": {"name": "x"}, "spec": {"nodeName": node}}))
        .collect();
    let mut allowed = 0;
    for selector in selectors(4) {
        if !selects_node(Some(&selector), "node-1") {
            continue;
        }
        allowed += 1;
        let query = FieldSelector::parse(&selector).expect("an allowed selector parses");
        for task in &tasks {
            assert!(
                !query.matches_object(task),
                "{selector:?} was allowed for node-1 and selects {task}"
            );
        }
    }
    assert!(allowed >= 50, "the search allowed only {allowed} selectors");
}
