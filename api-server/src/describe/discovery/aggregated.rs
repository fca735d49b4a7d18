//! Aggregated discovery: one `APIGroupDiscoveryList` describing every resource of `/api` or `/apis`.

use super::{insert_nonempty, subresources, DiscoveryFormat, DiscoveryRoot};
use crate::registry::{Registry, ResourceInfo};
use serde_json::{json, Value};

/// GET `/api` (core group only, item named `""`) or `/apis` (every named group) in aggregated
/// form. `format` chooses `apiVersion`; Legacy is treated as v2 (callers negotiate first).
pub fn aggregated_discovery(reg: &Registry, root: DiscoveryRoot, format: DiscoveryFormat) -> Value {
    let items: Vec<Value> = reg
        .groups()
        .into_iter()
        .filter(|g| g.name.is_empty() == (root == DiscoveryRoot::Api))
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> =
                        reg.resources_in(&g.name, v).map(resource).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g.name}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format.api_version(),
        "metadata": {},
        "items": items,
    })
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn resource(r: &ResourceInfo) -> Value {
    let subs: Vec<Value> = subresources(r)
        .into_iter()
        .map(|s| {
            let (group, version) = match s.group_version {
                Some((g, v)) => (g, v),
                None => (r.group.as_str(), r.version.as_str()),
            };
            json!({"subresource": s.name, "responseKind": gvk(group, version, &s.kind), "verbs": s.verbs})
        })
        .collect();
    let mut body = json!({
        "resource": r.plural,
        "responseKind": gvk(&r.group, &r.version, &r.kind),
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    let obj = body.as_object_mut().expect("object literal");
    insert_nonempty(obj, "shortNames", &r.short_names);
    insert_nonempty(obj, "categories", &r.categories);
    if !subs.is_empty() {
        obj.insert("subresources".into(), json!(subs));
    }
    body
}
