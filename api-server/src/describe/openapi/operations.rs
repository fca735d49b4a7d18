//! The REST operations of a group-version, as data. The v3 (JSON) and v2 (protobuf) documents both
//! render from this, so they always describe the same paths.

use super::meta::{BINDING, DELETE_OPTIONS, PATCH, SCALE, STATUS};
use crate::registry::{Registry, ResourceInfo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    fn new(group: &str, version: &str, kind: &str) -> Gvk {
        Gvk {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
}

/// What a request body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A whole object of the named schema (POST/PUT).
    Object(String),
    /// A patch document (json-patch, merge-patch or apply-patch; never strategic merge).
    Patch,
    /// `DeleteOptions`.
    DeleteOptions,
}

/// Patch content types Flotilla accepts. Strategic merge is deliberately absent, so kubectl's
/// client-side apply sends merge patches, as it does for CRDs.
pub const PATCH_CONTENT_TYPES: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryParam {
    pub name: &'static str,
    /// `string`, `integer` or `boolean`.
    pub type_: &'static str,
    pub description: &'static str,
}

const fn q(name: &'static str, type_: &'static str, description: &'static str) -> QueryParam {
    QueryParam {
        name,
        type_,
        description,
    }
}

const PRETTY: QueryParam = q(
    "pretty",
    "string",
    "If 'true', then the output is pretty printed.",
);
const DRY_RUN: QueryParam = q(
    "dryRun",
    "string",
    "When present, indicates that modifications should not be persisted. Valid value: All.",
);
const FIELD_MANAGER: QueryParam = q(
    "fieldManager",
    "string",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
);
const FIELD_VALIDATION: QueryParam = q("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict.");
const FORCE: QueryParam = q("force", "boolean", "Force is going to \"force\" Apply requests: re-acquire conflicting fields owned by other people.");
const WRITE: [QueryParam; 4] = [PRETTY, DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
const PATCH_PARAMS: [QueryParam; 5] = [PRETTY, DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
const DELETE: [QueryParam; 4] = [
    PRETTY,
    DRY_RUN,
    q(
        "gracePeriodSeconds",
        "integer",
        "The duration in seconds before the object should be deleted.",
    ),
    q(
        "propagationPolicy",
        "string",
        "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
    ),
];
const LIST: [QueryParam; 11] = [
    PRETTY,
    q("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    q("continue", "string", "The continue option should be set when retrieving more results from the server."),
    q("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields."),
    q("labelSelector", "string", "A selector to restrict the list of returned objects by their labels."),
    q("limit", "integer", "limit is a maximum number of responses to return for a list call."),
    q("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
    q("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    q("sendInitialEvents", "boolean", "sendInitialEvents=true may be set together with watch=true to begin the watch stream with synthetic events of the current state."),
    q("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    q("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
];

#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// `x-kubernetes-action`: get, list, post, put, patch, delete, deletecollection.
    pub action: &'static str,
    pub operation_id: String,
    pub description: String,
    pub gvk: Gvk,
    pub query: Vec<QueryParam>,
    pub body: Option<Body>,
    /// Component schema name of the 200 response.
    pub response: String,
}

#[derive(Debug, Clone)]
pub struct PathItem {
    pub path: String,
    /// Path parameters (`namespace`, `name`), in URL order.
    pub path_params: Vec<&'static str>,
    pub operations: Vec<Operation>,
}

/// Component schema name of a kind: `dev.flotilla.v1alpha1.SwarmService` for custom groups
/// (reversed domain, like kube-apiserver does for CRDs), `io.k8s.api.<group>.<v>.<Kind>` for
/// Kubernetes groups (`coordination.k8s.io` → `io.k8s.api.coordination.v1.Lease`, core → `core`).
pub fn schema_name(group: &str, version: &str, kind: &str) -> String {
    if group.is_empty() {
        return format!("io.k8s.api.core.{version}.{kind}");
    }
    if let Some(short) = group.strip_suffix(".k8s.io") {
        return format!("io.k8s.api.{}.{version}.{kind}", short.replace('.', "_"));
    }
    let reversed: Vec<&str> = group.split('.').rev().collect();
    format!("{}.{version}.{kind}", reversed.join("."))
}

/// `FlotillaDevV1alpha1`, `CoordinationV1`, `CoreV1`: the operationId infix kube-apiserver uses.
fn id_infix(group: &str, version: &str) -> String {
    let group = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    group
        .split(['.', '-'])
        .chain(std::iter::once(version))
        .map(capitalize)
        .collect()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Every path item of one group-version, resource by resource.
pub fn path_items(reg: &Registry, group: &str, version: &str) -> Vec<PathItem> {
    reg.resources_in(group, version)
        .flat_map(resource_paths)
        .collect()
}

fn op(method: Method, action: &'static str, id: String, r: &ResourceInfo, desc: &str) -> Operation {
    Operation {
        method,
        action,
        operation_id: id,
        description: format!("{desc} {}", r.kind),
        gvk: Gvk::new(&r.group, &r.version, &r.kind),
        query: match method {
            Method::Get => vec![PRETTY],
            Method::Put | Method::Post => WRITE.to_vec(),
            Method::Patch => PATCH_PARAMS.to_vec(),
            Method::Delete => DELETE.to_vec(),
        },
        body: match method {
            Method::Put | Method::Post => {
                Some(Body::Object(schema_name(&r.group, &r.version, &r.kind)))
            }
            Method::Patch => Some(Body::Patch),
            Method::Delete => Some(Body::DeleteOptions),
            Method::Get => None,
        },
        response: schema_name(&r.group, &r.version, &r.kind),
    }
}

fn resource_paths(r: &ResourceInfo) -> Vec<PathItem> {
    let infix = id_infix(&r.group, &r.version);
    let scoped = if r.namespaced {
        format!("Namespaced{}", r.kind)
    } else {
        r.kind.clone()
    };
    let id = |verb: &str, suffix: &str| format!("{verb}{infix}{scoped}{suffix}");
    let base = r.gv_path();
    let (collection, ns_params): (String, Vec<&'static str>) = if r.namespaced {
        (
            format!("{base}/namespaces/{{namespace}}/{}", r.plural),
            vec!["namespace"],
        )
    } else {
        (format!("{base}/{}", r.plural), vec![])
    };
    let list_schema = schema_name(&r.group, &r.version, &r.list_kind);
    let mut list = op(
        Method::Get,
        "list",
        id("list", ""),
        r,
        "list or watch objects of kind",
    );
    list.query = LIST.to_vec();
    list.response = list_schema.clone();
    let mut deletecollection = op(
        Method::Delete,
        "deletecollection",
        id("deleteCollection", ""),
        r,
        "delete collection of",
    );
    deletecollection
        .query
        .extend(LIST.iter().skip(1).filter(|p| p.name != "watch"));
    deletecollection.response = STATUS.into();
    let mut delete = op(Method::Delete, "delete", id("delete", ""), r, "delete a");
    delete.response = STATUS.into();
    let item_params = [ns_params.clone(), vec!["name"]].concat();
    let mut items = vec![
        PathItem {
            path: collection.clone(),
            path_params: ns_params,
            operations: vec![
                list,
                op(Method::Post, "post", id("create", ""), r, "create a"),
                deletecollection,
            ],
        },
        PathItem {
            path: format!("{collection}/{{name}}"),
            path_params: item_params.clone(),
            operations: vec![
                op(Method::Get, "get", id("read", ""), r, "read the specified"),
                op(
                    Method::Put,
                    "put",
                    id("replace", ""),
                    r,
                    "replace the specified",
                ),
                op(
                    Method::Patch,
                    "patch",
                    id("patch", ""),
                    r,
                    "partially update the specified",
                ),
                delete,
            ],
        },
    ];
    if r.namespaced {
        let mut all = op(
            Method::Get,
            "list",
            format!("list{infix}{}ForAllNamespaces", r.kind),
            r,
            "list or watch objects of kind",
        );
        all.query = LIST.to_vec();
        all.response = list_schema;
        items.push(PathItem {
            path: format!("{base}/{}", r.plural),
            path_params: vec![],
            operations: vec![all],
        });
    }
    items.extend(subresource_paths(r, &collection, &item_params, &id));
    items
}

fn subresource_paths(
    r: &ResourceInfo,
    collection: &str,
    params: &[&'static str],
    id: &dyn Fn(&str, &str) -> String,
) -> Vec<PathItem> {
    let mut items = Vec::new();
    let read_write = |sub: &str, suffix: &str, gvk: Gvk, schema: &str| {
        let mut ops = vec![
            op(
                Method::Get,
                "get",
                id("read", suffix),
                r,
                &format!("read {sub} of the specified"),
            ),
            op(
                Method::Put,
                "put",
                id("replace", suffix),
                r,
                &format!("replace {sub} of the specified"),
            ),
            op(
                Method::Patch,
                "patch",
                id("patch", suffix),
                r,
                &format!("partially update {sub} of the specified"),
            ),
        ];
        for o in &mut ops {
            o.gvk = gvk.clone();
            o.response = schema.into();
            if o.method == Method::Put {
                o.body = Some(Body::Object(schema.into()));
            }
        }
        PathItem {
            path: format!("{collection}/{{name}}/{sub}"),
            path_params: params.to_vec(),
            operations: ops,
        }
    };
    let own = Gvk::new(&r.group, &r.version, &r.kind);
    if r.status_subresource {
        items.push(read_write(
            "status",
            "Status",
            own,
            &schema_name(&r.group, &r.version, &r.kind),
        ));
    }
    if r.scale.is_some() {
        items.push(read_write(
            "scale",
            "Scale",
            Gvk::new("autoscaling", "v1", "Scale"),
            SCALE,
        ));
    }
    if r.binding_subresource {
        let mut bind = op(
            Method::Post,
            "post",
            id("create", "Binding"),
            r,
            "create binding of",
        );
        bind.gvk = Gvk::new("", "v1", "Binding");
        bind.body = Some(Body::Object(BINDING.into()));
        bind.response = BINDING.into();
        items.push(PathItem {
            path: format!("{collection}/{{name}}/binding"),
            path_params: params.to_vec(),
            operations: vec![bind],
        });
    }
    items
}

/// Schema names a body refers to, for renderers.
pub fn body_schema(body: &Body) -> String {
    match body {
        Body::Object(name) => name.clone(),
        Body::Patch => PATCH.into(),
        Body::DeleteOptions => DELETE_OPTIONS.into(),
    }
}
