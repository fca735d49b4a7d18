//! The resource registry: every resource the server serves, with the names, scope, subresources and
//! schema that discovery, OpenAPI, tables and the REST handlers need.
//!
//! Built from CustomResourceDefinitions (Flotilla's own, from `flotilla_api::crds()`) plus a few
//! built-in Kubernetes resources (`Lease`, `Event`, core `events` and `namespaces`) that components and
//! kubectl expect to find.

mod builtins;
mod strategy;

pub use strategy::Strategy;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion,
};
use serde_json::Value;
use std::cmp::Ordering;

/// Verbs of a full read-write resource, in the order kube-apiserver lists them.
pub const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Verbs of the `status` and `scale` subresources.
pub const SUBRESOURCE_VERBS: [&str; 3] = ["get", "patch", "update"];

/// Where the scale subresource reads and writes replicas (CRD `subresources.scale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleInfo {
    /// JSON path such as `.spec.replicas`.
    pub spec_replicas_path: String,
    /// JSON path such as `.status.replicas`.
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

/// One CRD `additionalPrinterColumns` entry, kept for generic table rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub json_path: String,
    pub description: String,
    pub priority: i32,
}

/// Everything the server knows about one resource at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    /// API group; `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub scale: Option<ScaleInfo>,
    /// A `binding` subresource (verb `create`), like core `pods/binding`: the scheduler binds Tasks
    /// with a core `v1` `Binding` body.
    pub binding_subresource: bool,
    /// The structural `openAPIV3Schema` of the whole object (apiVersion, kind, metadata, spec, status).
    pub schema: Value,
    /// Stored encrypted at rest (Swarm secrets).
    pub encrypted: bool,
    pub verbs: Vec<&'static str>,
    pub printer_columns: Vec<PrinterColumn>,
}

impl ResourceInfo {
    /// `v1` for the core group, `<group>/<version>` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `swarmservices.flotilla.dev`, or just `namespaces` in the core group (Kubernetes' GroupResource
    /// string, used in error messages such as `swarmservices.flotilla.dev "web" not found`).
    /// This kind's own rules ([`Strategy`]).
    pub fn strategy(&self) -> Strategy {
        Strategy::of(&self.group, &self.kind)
    }

    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// URL prefix of this group-version: `/api/v1` or `/apis/<group>/<version>`.
    pub fn gv_path(&self) -> String {
        gv_path(&self.group, &self.version)
    }
}

/// URL prefix of a group-version: `/api/v1` for core, `/apis/<group>/<version>` otherwise.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// One API group with its served versions, preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub versions: Vec<String>,
}

impl GroupInfo {}

/// The set of served resources. Order is stable: CRD resources in CRD order, then built-ins.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Registry {
    /// Flotilla's resources (`flotilla_api::crds()`) plus the built-ins.
    pub fn flotilla() -> Registry {
        Registry::from_crds(&flotilla_crds())
    }

    /// The given CRDs (every served version) plus the built-ins.
    pub fn from_crds(crds: &[CustomResourceDefinition]) -> Registry {
        let mut resources: Vec<ResourceInfo> = crds.iter().flat_map(resources_of_crd).collect();
        resources.extend(builtins::resources());
        Registry { resources }
    }

    /// This registry plus `extra` (e.g. resources only discovery lists).
    pub fn with(&self, extra: impl IntoIterator<Item = ResourceInfo>) -> Registry {
        let mut resources = self.resources.clone();
        resources.extend(extra);
        Registry { resources }
    }

    /// What discovery lists: these resources and the review resources
    /// ([`crate::front::access_reviews`]), which are created and answered, never stored.
    pub fn with_reviews(&self) -> Registry {
        self.with(builtins::review_resources())
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.resources.iter()
    }

    /// Resources of one group-version, in registry order.
    pub fn resources_in<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceInfo> + 'a {
        self.resources
            .iter()
            .filter(move |r| r.group == group && r.version == version)
    }

    /// Every group (core `""` included) in first-seen order, versions sorted by Kubernetes' version
    /// priority (v1 > v1beta2 > v1beta1 > v1alpha1), preferred first.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let mut groups: Vec<GroupInfo> = Vec::new();
        for r in &self.resources {
            match groups.iter_mut().find(|g| g.name == r.group) {
                Some(g) if !g.versions.contains(&r.version) => g.versions.push(r.version.clone()),
                Some(_) => {}
                None => groups.push(GroupInfo {
                    name: r.group.clone(),
                    versions: vec![r.version.clone()],
                }),
            }
        }
        for g in &mut groups {
            g.versions.sort_by(|a, b| compare_versions(a, b));
        }
        groups
    }

    /// One group by name (`""` for core).
    pub fn group(&self, name: &str) -> Option<GroupInfo> {
        self.groups().into_iter().find(|g| g.name == name)
    }
}

fn flotilla_crds() -> Vec<CustomResourceDefinition> {
    flotilla_api::crds()
}

fn resources_of_crd(crd: &CustomResourceDefinition) -> Vec<ResourceInfo> {
    crd.spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| resource_of_version(crd, v))
        .collect()
}

fn resource_of_version(
    crd: &CustomResourceDefinition,
    v: &CustomResourceDefinitionVersion,
) -> ResourceInfo {
    let spec = &crd.spec;
    let names = &spec.names;
    let subresources = v.subresources.as_ref();
    let schema = v
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .unwrap_or_else(builtins::permissive_schema);
    let plural = names.plural.clone();
    ResourceInfo {
        group: spec.group.clone(),
        version: v.name.clone(),
        kind: names.kind.clone(),
        list_kind: names
            .list_kind
            .clone()
            .unwrap_or_else(|| format!("{}List", names.kind)),
        singular: names
            .singular
            .clone()
            .unwrap_or_else(|| names.kind.to_lowercase()),
        namespaced: spec.scope == "Namespaced",
        short_names: names.short_names.clone().unwrap_or_default(),
        categories: names.categories.clone().unwrap_or_default(),
        status_subresource: subresources.is_some_and(|s| s.status.is_some()),
        scale: subresources
            .and_then(|s| s.scale.as_ref())
            .map(|s| ScaleInfo {
                spec_replicas_path: s.spec_replicas_path.clone(),
                status_replicas_path: s.status_replicas_path.clone(),
                label_selector_path: s.label_selector_path.clone(),
            }),
        // Flotilla's scheduler binds Tasks the way kube-scheduler binds Pods.
        binding_subresource: Strategy::of(&spec.group, &names.kind).binding_subresource(),
        schema,
        encrypted: Strategy::of(&spec.group, &names.kind).secret(),
        verbs: ALL_VERBS.to_vec(),
        printer_columns: printer_columns(v),
        plural,
    }
}

fn printer_columns(v: &CustomResourceDefinitionVersion) -> Vec<PrinterColumn> {
    v.additional_printer_columns
        .iter()
        .flatten()
        .map(|c| PrinterColumn {
            name: c.name.clone(),
            type_: c.type_.clone(),
            json_path: c.json_path.clone(),
            description: c.description.clone().unwrap_or_default(),
            priority: c.priority.unwrap_or(0),
        })
        .collect()
}

/// Kubernetes' version priority: GA before beta before alpha, higher numbers first, then
/// non-Kubernetes-looking versions alphabetically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (version_key(a), version_key(b)) {
        (Some(ka), Some(kb)) => kb.cmp(&ka),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// (stability 2=GA 1=beta 0=alpha, major, minor) for `v<major>[(alpha|beta)<minor>]`.
fn version_key(v: &str) -> Option<(u8, u64, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major: u64 = rest[..digits].parse().ok()?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some((2, major, 0));
    }
    let (stability, minor) = if let Some(m) = tail.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (0, m)
    } else {
        return None;
    };
    Some((stability, major, minor.parse().ok()?))
}

#[cfg(test)]
mod tests;
