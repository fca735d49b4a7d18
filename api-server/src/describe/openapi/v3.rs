//! OpenAPI v3: the root (`GET /openapi/v3`) and one document per group-version
//! (`GET /openapi/v3/apis/<g>/<v>` and `/openapi/v3/api/v1`), as kubectl 1.27+ reads them for
//! `explain`, `apply`/`create`/`replace`/`edit` (fieldValidation support check) and patch type choice.

use super::meta::{self, ref_property, reference, LIST_META};
use super::operations::{
    body_schema, path_items, schema_name, Body, Method, Operation, PathItem, PATCH_CONTENT_TYPES,
};
use crate::describe::discovery::GIT_VERSION;
use crate::registry::{Registry, ResourceInfo};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};
use std::collections::BTreeMap;

/// The root key of a group-version: `api/v1` for core, `apis/<group>/<version>` otherwise (no
/// leading slash; the document is served at `/openapi/v3/<key>`).
pub fn gv_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// All v3 documents, serialized once with their hashes. Build it at startup (the registry is
/// static) and serve the bytes.
#[derive(Debug, Clone)]
pub struct OpenApiV3 {
    root: Value,
    documents: BTreeMap<String, GvDocument>,
}

#[derive(Debug, Clone)]
struct GvDocument {
    hash: String,
    bytes: Vec<u8>,
}

impl OpenApiV3 {
    pub fn build(reg: &Registry) -> OpenApiV3 {
        let mut documents = BTreeMap::new();
        for group in reg.groups() {
            for version in &group.versions {
                if let Some(doc) = gv_document(reg, &group.name, version) {
                    let bytes = serde_json::to_vec(&doc).expect("JSON values always serialize");
                    let hash = sha512_hex(&bytes);
                    documents.insert(gv_key(&group.name, version), GvDocument { hash, bytes });
                }
            }
        }
        let paths: Map<String, Value> = documents
            .iter()
            .map(|(key, d)| {
                let url = format!("/openapi/v3/{key}?hash={}", d.hash);
                (key.clone(), json!({"serverRelativeURL": url}))
            })
            .collect();
        OpenApiV3 {
            root: json!({"paths": paths}),
            documents,
        }
    }

    /// GET `/openapi/v3`: `{"paths": {"apis/flotilla.dev/v1alpha1": {"serverRelativeURL": "…?hash=…"}, …}}`.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// GET `/openapi/v3/<key>` (any `hash` query): the serialized document, or None (404).
    pub fn document(&self, key: &str) -> Option<&[u8]> {
        self.documents
            .get(key.trim_start_matches('/'))
            .map(|d| d.bytes.as_slice())
    }

    /// The current hash of a document; a request with `?hash=` equal to it may be served with
    /// `Cache-Control: public, immutable`, as kube-apiserver does.
    #[cfg(test)]
    pub fn hash(&self, key: &str) -> Option<&str> {
        self.documents
            .get(key.trim_start_matches('/'))
            .map(|d| d.hash.as_str())
    }
}

/// Uppercase hex SHA-512, kube-apiserver's document hash format.
fn sha512_hex(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The OpenAPI 3.0 document of one group-version, or None if the registry has no such GV.
pub fn gv_document(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&ResourceInfo> = reg.resources_in(group, version).collect();
    if resources.is_empty() {
        return None;
    }
    let mut schemas: Map<String, Value> = meta::schemas()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for r in &resources {
        schemas.insert(schema_name(&r.group, &r.version, &r.kind), kind_schema(r));
        schemas.insert(
            schema_name(&r.group, &r.version, &r.list_kind),
            list_schema(r),
        );
    }
    let tag = format!("{}_{}", tag_group(group), version);
    let paths: Map<String, Value> = path_items(reg, group, version)
        .iter()
        .map(|p| (p.path.clone(), path_item(p, &tag)))
        .collect();
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn tag_group(group: &str) -> String {
    if group.is_empty() {
        "core".into()
    } else {
        group.replace(['.', '-'], "_")
    }
}

fn gvk_list(group: &str, version: &str, kind: &str) -> Value {
    json!([{"group": group, "kind": kind, "version": version}])
}

/// The CRD schema plus apiVersion, kind and metadata (a `$ref` to ObjectMeta) and the GVK list
/// `kubectl explain` looks up.
fn kind_schema(r: &ResourceInfo) -> Value {
    let mut schema = if r.schema.is_object() {
        r.schema.clone()
    } else {
        json!({})
    };
    let obj = schema.as_object_mut().expect("checked object");
    obj.entry("type").or_insert(json!("object"));
    let props = obj.entry("properties").or_insert_with(|| json!({}));
    if let Some(props) = props.as_object_mut() {
        props.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."}));
        props.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase."}));
        props.insert(
            "metadata".into(),
            ref_property(meta::OBJECT_META, "Standard object's metadata."),
        );
    }
    obj.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk_list(&r.group, &r.version, &r.kind),
    );
    schema
}

fn list_schema(r: &ResourceInfo) -> Value {
    json!({
        "description": format!("{} is a list of {}", r.list_kind, r.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "items": {"type": "array", "description": format!("List of {}.", r.plural), "items": reference(&schema_name(&r.group, &r.version, &r.kind))},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": ref_property(LIST_META, "Standard list metadata."),
        },
        "x-kubernetes-group-version-kind": gvk_list(&r.group, &r.version, &r.list_kind),
    })
}

fn path_item(p: &PathItem, tag: &str) -> Value {
    let mut item = Map::new();
    let params: Vec<Value> = p
        .path_params
        .iter()
        .map(|name| {
            let description = match *name {
                "namespace" => "object name and auth scope, such as for teams and projects",
                _ => "name of the object",
            };
            json!({"name": name, "in": "path", "description": description, "required": true, "schema": {"type": "string", "uniqueItems": true}})
        })
        .collect();
    if !params.is_empty() {
        item.insert("parameters".into(), json!(params));
    }
    for op in &p.operations {
        let method = match op.method {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        };
        item.insert(method.into(), operation(op, tag));
    }
    Value::Object(item)
}

fn content(types: &[&str], schema: &str) -> Value {
    let map: Map<String, Value> = types
        .iter()
        .map(|t| (t.to_string(), json!({"schema": reference(schema)})))
        .collect();
    Value::Object(map)
}

fn operation(op: &Operation, tag: &str) -> Value {
    let parameters: Vec<Value> = op
        .query
        .iter()
        .map(|q| json!({"name": q.name, "in": "query", "description": q.description, "schema": {"type": q.type_, "uniqueItems": true}}))
        .collect();
    let ok = json!({"description": "OK", "content": content(&["application/json", "application/yaml"], &op.response)});
    let mut responses = json!({"200": ok, "401": {"description": "Unauthorized"}});
    let extra = match op.method {
        Method::Post => Some(("201", "Created")),
        Method::Put | Method::Patch => Some(("201", "Created")),
        Method::Delete => Some(("202", "Accepted")),
        Method::Get => None,
    };
    if let Some((code, description)) = extra {
        responses[code] = json!({"description": description, "content": content(&["application/json", "application/yaml"], &op.response)});
    }
    let mut out = json!({
        "tags": [tag],
        "description": op.description,
        "operationId": op.operation_id,
        "parameters": parameters,
        "responses": responses,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": {"group": op.gvk.group, "version": op.gvk.version, "kind": op.gvk.kind},
    });
    if let Some(body) = &op.body {
        let types: &[&str] = match body {
            Body::Patch => &PATCH_CONTENT_TYPES,
            Body::Object(_) | Body::DeleteOptions => &["application/json", "application/yaml"],
        };
        out["requestBody"] = json!({"content": content(types, &body_schema(body)), "required": !matches!(body, Body::DeleteOptions)});
    }
    out
}

#[cfg(test)]
#[path = "v3_tests.rs"]
mod tests;
