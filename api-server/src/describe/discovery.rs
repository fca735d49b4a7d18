//! Discovery documents: `/version`, legacy `/api`, `/apis`, `/apis/<g>`, `/api/v1` and `/apis/<g>/<v>`,
//! and aggregated discovery (`apidiscovery.k8s.io` v2 and v2beta1) with exact Accept negotiation.
//!
//! Pure functions over the [`Registry`]; the HTTP layer picks the function by path and writes the
//! returned Content-Type.

mod aggregated;
mod negotiate;

pub use aggregated::aggregated_discovery;
pub use negotiate::{negotiate_discovery, DiscoveryFormat};

use crate::registry::{Registry, ResourceInfo, SUBRESOURCE_VERBS};
use serde_json::{json, Map, Value};

/// Kubernetes version Flotilla presents: mid-range of the supported kubectl 1.27–1.33, so kubectl's
/// version-skew warning (more than one minor apart) stays quiet for most clients.
pub const KUBERNETES_MAJOR: &str = "1";
pub const KUBERNETES_MINOR: &str = "30";
pub const GIT_VERSION: &str = "v1.30.0-flotilla";
/// Flotilla's own version, reported as `flotillaVersion` in `/version`.
pub const FLOTILLA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which discovery root a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryRoot {
    /// `/api`: the core group.
    Api,
    /// `/apis`: every named group.
    Apis,
}

/// GET `/version` (Content-Type `application/json`): a `version.Info`, plus `flotillaVersion`.
pub fn version_info() -> Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    json!({
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": option_env!("FLOTILLA_GIT_COMMIT").unwrap_or("unknown"),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "n/a (rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, arch),
        "flotillaVersion": FLOTILLA_VERSION,
    })
}

/// GET `/api` or `/apis`: negotiates the format from the Accept header and returns
/// `(Content-Type, body)`. `server_address` (`host:port`) fills `serverAddressByClientCIDRs`.
pub fn discovery_root(
    reg: &Registry,
    root: DiscoveryRoot,
    accept: Option<&str>,
    server_address: &str,
) -> (&'static str, Value) {
    let format = negotiate_discovery(accept);
    let body = match (format, root) {
        (DiscoveryFormat::Legacy, DiscoveryRoot::Api) => legacy_api_versions(reg, server_address),
        (DiscoveryFormat::Legacy, DiscoveryRoot::Apis) => api_group_list(reg),
        (_, root) => aggregated_discovery(reg, root, format),
    };
    (format.content_type(), body)
}

/// Legacy GET `/api`: `APIVersions` listing the core versions the registry serves.
pub fn legacy_api_versions(reg: &Registry, server_address: &str) -> Value {
    let versions = reg.group("").map(|g| g.versions).unwrap_or_default();
    json!({
        "kind": "APIVersions",
        "apiVersion": "v1",
        "versions": versions,
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// Legacy GET `/apis`: `APIGroupList` of every named group (core is served under `/api`).
pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|g| !g.name.is_empty())
        .map(|g| group_body(&g.name, &g.versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// GET `/apis/<group>`: one `APIGroup`, or None (404) for an unknown or the core group.
pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    let g = reg.group(group).filter(|g| !g.name.is_empty())?;
    let mut body = group_body(&g.name, &g.versions);
    let obj = body.as_object_mut()?;
    obj.insert("kind".into(), json!("APIGroup"));
    obj.insert("apiVersion".into(), json!("v1"));
    Some(body)
}

fn group_body(name: &str, versions: &[String]) -> Value {
    let gvs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": gvs, "preferredVersion": gvs[0]})
}

/// GET `/api/v1` (group `""`) or `/apis/<group>/<version>`: the `APIResourceList`, or None (404).
/// Every entry has `singularName` (`""` on subresources) and `verbs`: some clients deserialize strictly.
pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&ResourceInfo> = reg.resources_in(group, version).collect();
    if resources.is_empty() {
        return None;
    }
    let group_version = resources[0].api_version();
    let entries: Vec<Value> = resources.into_iter().flat_map(resource_entries).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }))
}

/// The resource's own entry followed by one per subresource.
fn resource_entries(r: &ResourceInfo) -> Vec<Value> {
    let mut main = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs,
    });
    let obj = main.as_object_mut().expect("object literal");
    insert_nonempty(obj, "shortNames", &r.short_names);
    insert_nonempty(obj, "categories", &r.categories);
    let mut entries = vec![main];
    for sub in subresources(r) {
        let mut e = json!({
            "name": format!("{}/{}", r.plural, sub.name),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": sub.kind,
            "verbs": sub.verbs,
        });
        if let Some((group, version)) = sub.group_version {
            let obj = e.as_object_mut().expect("object literal");
            obj.insert("group".into(), json!(group));
            obj.insert("version".into(), json!(version));
        }
        entries.push(e);
    }
    entries
}

pub(crate) fn insert_nonempty(obj: &mut Map<String, Value>, key: &str, values: &[String]) {
    if !values.is_empty() {
        obj.insert(key.into(), json!(values));
    }
}

/// A subresource as discovery describes it.
pub(crate) struct Subresource {
    pub name: &'static str,
    pub kind: String,
    /// Group and version of `kind` when it differs from the parent's.
    pub group_version: Option<(&'static str, &'static str)>,
    pub verbs: Vec<&'static str>,
}

pub(crate) fn subresources(r: &ResourceInfo) -> Vec<Subresource> {
    let mut subs = Vec::new();
    if r.status_subresource {
        subs.push(Subresource {
            name: "status",
            kind: r.kind.clone(),
            group_version: None,
            verbs: SUBRESOURCE_VERBS.to_vec(),
        });
    }
    if r.scale.is_some() {
        subs.push(Subresource {
            name: "scale",
            kind: "Scale".into(),
            group_version: Some(("autoscaling", "v1")),
            verbs: SUBRESOURCE_VERBS.to_vec(),
        });
    }
    if r.binding_subresource {
        subs.push(Subresource {
            name: "binding",
            kind: "Binding".into(),
            group_version: Some(("", "v1")),
            verbs: vec!["create"],
        });
    }
    subs
}

#[cfg(test)]
mod tests;
