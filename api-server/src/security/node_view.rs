//! The routing view of SwarmServices: what a node lists and watches.
//!
//! Every node's routing mesh listens on every service's published ingress ports and needs each
//! service's name, ports and VIPs (kube-proxy reads every Service for the same reason; Swarm's
//! nodes learn the same load-balancer records through the ingress network's gossip). A
//! SwarmService also carries its task template, whose environment, command and secret
//! references belong only to the nodes that run its Tasks; in Kubernetes they are in pod specs,
//! which a node reads only for its own pods. So a node's list and watch of SwarmServices answer
//! with this view, and a `get` of the whole object needs a Task of that service on the node
//! (`node_rules`).
//!
//! The view keeps the identifying metadata and labels, `spec.mode`, `spec.endpoint`, the image
//! (the schema requires one), `status.endpoint`, `status.runningNodes` (where the routing mesh
//! sends a connection for a task on another node) and `status.taskAddresses` (what a node's DNS
//! answers and its VIP proxy forwards to; see docs/networking.md). It drops annotations (the last-applied
//! configuration repeats the whole spec), managed fields, the rest of the template and the rest
//! of the status (`previousSpec` is a whole earlier spec).

use serde_json::{Map, Value};

use super::attributes::{RequestAttributes, Verb, FLOTILLA_GROUP};
use super::authn::{Identity, MASTERS_GROUP};

const KEPT_METADATA: [&str; 8] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
];

/// Whether `who`'s `request` is answered with the routing view.
pub fn applies(who: &Identity, request: &RequestAttributes) -> bool {
    who.node_name().is_some()
        && !who.in_group(MASTERS_GROUP)
        && request.is(FLOTILLA_GROUP, "swarmservices")
        && request.subresource.is_none()
        && matches!(request.verb, Verb::List | Verb::Watch)
}

/// The routing view of one SwarmService object.
pub fn service(obj: &Value) -> Value {
    let mut out = Map::new();
    for key in ["apiVersion", "kind"] {
        copy(obj, &mut out, key);
    }
    let mut metadata = Map::new();
    for key in KEPT_METADATA {
        copy(&obj["metadata"], &mut metadata, key);
    }
    out.insert("metadata".into(), Value::Object(metadata));
    let spec = &obj["spec"];
    let mut view_spec = Map::new();
    copy(spec, &mut view_spec, "mode");
    copy(spec, &mut view_spec, "endpoint");
    let image = spec["taskTemplate"]["containerSpec"]["image"].clone();
    view_spec.insert(
        "taskTemplate".into(),
        serde_json::json!({"containerSpec": {"image": image}}),
    );
    out.insert("spec".into(), Value::Object(view_spec));
    let mut status = Map::new();
    copy(&obj["status"], &mut status, "endpoint");
    copy(&obj["status"], &mut status, "runningNodes");
    copy(&obj["status"], &mut status, "taskAddresses");
    if !status.is_empty() {
        out.insert("status".into(), Value::Object(status));
    }
    Value::Object(out)
}

/// A list with each item in its routing view; anything else (an error Status) unchanged.
pub fn list(mut list: Value) -> Value {
    if let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            *item = service(item);
        }
    }
    list
}

/// A watch event with its object in the routing view. BOOKMARK and ERROR events carry no
/// service and pass unchanged.
pub fn event(mut event: Value) -> Value {
    let is_object = matches!(
        event["type"].as_str(),
        Some("ADDED" | "MODIFIED" | "DELETED")
    );
    if is_object {
        let view = service(&event["object"]);
        event["object"] = view;
    }
    event
}

fn copy(from: &Value, to: &mut Map<String, Value>, key: &str) {
    if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
        to.insert(key.to_string(), v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::authn::NODES_GROUP;
    use serde_json::json;

    fn web() -> Value {
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "web"}, "managedFields": [{"manager": "kubectl"}],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"env\":[\"PASSWORD=x\"]}"}},
            "spec": {"mode": {"replicated": {"replicas": 2}},
                "taskTemplate": {"containerSpec": {"image": "nginx", "env": ["PASSWORD=x"],
                    "secrets": [{"secretName": "db"}], "command": ["run", "--token=y"]}},
                "endpoint": {"ports": [{"targetPort": 80, "publishedPort": 8080}]}},
            "status": {"endpoint": {"ports": [{"targetPort": 80, "publishedPort": 8080}],
                "virtualIps": [{"network": "ingress", "addr": "10.0.0.2/24"}]},
                "runningNodes": ["node-2"],
                "taskAddresses": [{"network": "backend", "addresses": ["10.0.1.3"]}],
                "previousSpec": {"taskTemplate": {"containerSpec": {"image": "nginx", "env": ["PASSWORD=old"]}}}}})
    }

    #[test]
    fn the_view_keeps_routing_and_drops_the_template() {
        let view = service(&web());
        let text = view.to_string();
        for secret in ["PASSWORD", "db", "--token", "last-applied", "managedFields"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(view["metadata"]["labels"]["app"], "web");
        assert_eq!(view["spec"]["endpoint"]["ports"][0]["publishedPort"], 8080);
        assert_eq!(
            view["status"]["endpoint"]["virtualIps"][0]["addr"],
            "10.0.0.2/24"
        );
        assert_eq!(
            view["spec"]["taskTemplate"]["containerSpec"]["image"],
            "nginx"
        );
        // Where the mesh forwards a connection for a task on another node.
        assert_eq!(view["status"]["runningNodes"][0], "node-2");
        // What the node's DNS answers for tasks.web and its VIP proxy forwards to.
        assert_eq!(
            view["status"]["taskAddresses"][0]["addresses"][0],
            "10.0.1.3"
        );
        let typed: flotilla_api::SwarmService = serde_json::from_value(view).unwrap();
        assert_eq!(
            typed.spec.endpoint.unwrap().ports[0].published_port,
            Some(8080)
        );
    }

    #[test]
    fn lists_and_object_events_are_viewed_bookmarks_are_not() {
        let l = list(json!({"kind": "SwarmServiceList", "items": [web()]}));
        assert!(!l.to_string().contains("PASSWORD"));
        let e = event(json!({"type": "MODIFIED", "object": web()}));
        assert!(!e.to_string().contains("PASSWORD"));
        let mark = json!({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9",
            "annotations": {"k8s.io/initial-events-end": "true"}}}});
        assert_eq!(event(mark.clone()), mark);
    }

    #[test]
    fn only_nodes_listing_or_watching_services_get_the_view() {
        let node = Identity::new("system:node:n1", [NODES_GROUP]);
        let list = RequestAttributes::resource(Verb::List, FLOTILLA_GROUP, "swarmservices");
        assert!(applies(&node, &list));
        let get = RequestAttributes::resource(Verb::Get, FLOTILLA_GROUP, "swarmservices");
        assert!(!applies(&node, &get));
        let admin = Identity::new("flotilla:admin", [MASTERS_GROUP]);
        assert!(!applies(&admin, &list));
        let tasks = RequestAttributes::resource(Verb::List, FLOTILLA_GROUP, "tasks");
        assert!(!applies(&node, &tasks));
    }
}
