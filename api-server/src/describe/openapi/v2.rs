//! OpenAPI v2 as protobuf (`GET /openapi/v2`, fallback `GET /swagger-2.0.0.pb-v1`): the gnostic
//! `openapi.v2.Document` kubectl 1.27/1.28 download before apply/create/edit/replace.
//!
//! kubectl reads two things from it: whether a resource's PATCH operation (matched by its
//! `x-kubernetes-group-version-kind` extension) lists the `fieldValidation` query parameter, and
//! `definitions` for client-side validation, which it skips when the parameter is found. So this
//! document carries every operation with its GVK extension and query parameters, and no
//! definitions. The message structs below mirror the needed subset of google/gnostic
//! `openapiv2/OpenAPIv2.proto`, with its field numbers.

use super::operations::{path_items, Method, Operation, PathItem as RestPath, QueryParam};
use crate::describe::discovery::GIT_VERSION;
use crate::registry::Registry;
use prost::Message;

/// Content-Type of the response, as kube-apiserver sends it.
pub const CONTENT_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

#[derive(Clone, PartialEq, Message)]
pub struct Document {
    #[prost(string, tag = "1")]
    pub swagger: String,
    #[prost(message, optional, tag = "2")]
    pub info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    pub paths: Option<Paths>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Info {
    #[prost(string, tag = "1")]
    pub title: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Paths {
    #[prost(message, repeated, tag = "2")]
    pub path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedPathItem {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<PathItem>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PathItem {
    #[prost(message, optional, tag = "2")]
    pub get: Option<Operation2>,
    #[prost(message, optional, tag = "3")]
    pub put: Option<Operation2>,
    #[prost(message, optional, tag = "4")]
    pub post: Option<Operation2>,
    #[prost(message, optional, tag = "5")]
    pub delete: Option<Operation2>,
    #[prost(message, optional, tag = "8")]
    pub patch: Option<Operation2>,
    #[prost(message, repeated, tag = "9")]
    pub parameters: Vec<ParametersItem>,
}

/// gnostic `Operation`.
#[derive(Clone, PartialEq, Message)]
pub struct Operation2 {
    #[prost(string, repeated, tag = "1")]
    pub tags: Vec<String>,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "5")]
    pub operation_id: String,
    #[prost(string, repeated, tag = "6")]
    pub produces: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    pub consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    pub parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    pub responses: Option<Responses>,
    #[prost(string, repeated, tag = "10")]
    pub schemes: Vec<String>,
    #[prost(message, repeated, tag = "13")]
    pub vendor_extension: Vec<NamedAny>,
}

/// gnostic `ParametersItem` (oneof: only `parameter = 1` is used).
#[derive(Clone, PartialEq, Message)]
pub struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    pub parameter: Option<Parameter>,
}

/// gnostic `Parameter` (oneof: only `non_body_parameter = 2` is used).
#[derive(Clone, PartialEq, Message)]
pub struct Parameter {
    #[prost(message, optional, tag = "2")]
    pub non_body_parameter: Option<NonBodyParameter>,
}

/// gnostic `NonBodyParameter` (oneof of the query and path sub-schemas).
#[derive(Clone, PartialEq, Message)]
pub struct NonBodyParameter {
    #[prost(message, optional, tag = "3")]
    pub query_parameter_sub_schema: Option<QueryParameterSubSchema>,
    #[prost(message, optional, tag = "4")]
    pub path_parameter_sub_schema: Option<PathParameterSubSchema>,
}

#[derive(Clone, PartialEq, Message)]
pub struct QueryParameterSubSchema {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "6")]
    pub r#type: String,
    #[prost(bool, tag = "20")]
    pub unique_items: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct PathParameterSubSchema {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "5")]
    pub r#type: String,
    #[prost(bool, tag = "19")]
    pub unique_items: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Responses {
    #[prost(message, repeated, tag = "1")]
    pub response_code: Vec<NamedResponseValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedResponseValue {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<ResponseValue>,
}

/// gnostic `ResponseValue` (oneof: only `response = 1` is used).
#[derive(Clone, PartialEq, Message)]
pub struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    pub response: Option<Response>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(string, tag = "1")]
    pub description: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct NamedAny {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Any>,
}

/// gnostic `Any`: only the `yaml = 2` form is used.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    #[prost(string, tag = "2")]
    pub yaml: String,
}

/// The whole v2 document for every served group-version.
pub fn document(reg: &Registry) -> Document {
    let mut path = Vec::new();
    for group in reg.groups() {
        for version in &group.versions {
            path.extend(
                path_items(reg, &group.name, version)
                    .iter()
                    .map(named_path_item),
            );
        }
    }
    Document {
        swagger: "2.0".into(),
        info: Some(Info {
            title: "Kubernetes".into(),
            version: GIT_VERSION.into(),
        }),
        paths: Some(Paths { path }),
    }
}

/// GET `/openapi/v2`: the protobuf-encoded [`document`].
pub fn protobuf(reg: &Registry) -> Vec<u8> {
    document(reg).encode_to_vec()
}

fn named_path_item(p: &RestPath) -> NamedPathItem {
    let mut item = PathItem {
        parameters: p.path_params.iter().map(|n| path_param(n)).collect(),
        ..PathItem::default()
    };
    for op in &p.operations {
        let encoded = Some(operation(op));
        match op.method {
            Method::Get => item.get = encoded,
            Method::Put => item.put = encoded,
            Method::Post => item.post = encoded,
            Method::Delete => item.delete = encoded,
            Method::Patch => item.patch = encoded,
        }
    }
    NamedPathItem {
        name: p.path.clone(),
        value: Some(item),
    }
}

fn path_param(name: &str) -> ParametersItem {
    let sub = PathParameterSubSchema {
        required: true,
        r#in: "path".into(),
        description: format!("{name} of the object"),
        name: name.into(),
        r#type: "string".into(),
        unique_items: true,
    };
    non_body(NonBodyParameter {
        path_parameter_sub_schema: Some(sub),
        ..NonBodyParameter::default()
    })
}

fn query_param(q: &QueryParam) -> ParametersItem {
    let sub = QueryParameterSubSchema {
        required: false,
        r#in: "query".into(),
        description: q.description.into(),
        name: q.name.into(),
        r#type: q.type_.into(),
        unique_items: true,
    };
    non_body(NonBodyParameter {
        query_parameter_sub_schema: Some(sub),
        ..NonBodyParameter::default()
    })
}

/// Path and query parameters are both `NonBodyParameter`s in the v2 proto's parameter union.
fn non_body(parameter: NonBodyParameter) -> ParametersItem {
    ParametersItem {
        parameter: Some(Parameter {
            non_body_parameter: Some(parameter),
        }),
    }
}

fn operation(op: &Operation) -> Operation2 {
    let consumes = match op.method {
        Method::Patch => super::PATCH_CONTENT_TYPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Method::Put | Method::Post => vec!["*/*".into()],
        _ => Vec::new(),
    };
    // The verifiers parse this YAML as a map of group/kind/version.
    let gvk_yaml = format!(
        "group: \"{}\"\nkind: {}\nversion: {}\n",
        op.gvk.group, op.gvk.kind, op.gvk.version
    );
    let ok = NamedResponseValue {
        name: "200".into(),
        value: Some(ResponseValue {
            response: Some(Response {
                description: "OK".into(),
            }),
        }),
    };
    Operation2 {
        tags: Vec::new(),
        description: op.description.clone(),
        operation_id: op.operation_id.clone(),
        produces: vec!["application/json".into(), "application/yaml".into()],
        consumes,
        parameters: op.query.iter().map(query_param).collect(),
        responses: Some(Responses {
            response_code: vec![ok],
        }),
        schemes: vec!["https".into()],
        vendor_extension: vec![
            NamedAny {
                name: "x-kubernetes-action".into(),
                value: Some(Any {
                    yaml: format!("{}\n", op.action),
                }),
            },
            NamedAny {
                name: "x-kubernetes-group-version-kind".into(),
                value: Some(Any { yaml: gvk_yaml }),
            },
        ],
    }
}

#[cfg(test)]
#[path = "v2_tests.rs"]
mod tests;
