//! Query parameters and media types, parsed leniently the way real clients send them
//! (kube-rs sends `?&limit=1`; client-go adds `timeout=32s`).

use crate::wire::errors::{ApiError, Result};

/// The query parameters Kubernetes verbs understand.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub watch: bool,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: Option<String>,
    pub force: bool,
    pub propagation_policy: Option<String>,
    pub include_object: Option<String>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query> {
        let mut q = Query::default();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v);
            match k {
                "watch" => q.watch = v == "true" || v == "1",
                "resourceVersion" => q.resource_version = Some(v).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v).filter(|s| !s.is_empty())
                }
                "limit" => q.limit = Some(parse_num(k, &v)?).filter(|n| *n > 0),
                "continue" => q.continue_token = Some(v).filter(|s| !s.is_empty()),
                "labelSelector" => q.label_selector = Some(v).filter(|s| !s.is_empty()),
                "fieldSelector" => q.field_selector = Some(v).filter(|s| !s.is_empty()),
                "timeoutSeconds" => q.timeout_seconds = Some(timeout_seconds(&v)?),
                "allowWatchBookmarks" => q.allow_bookmarks = v == "true" || v == "1",
                "sendInitialEvents" => q.send_initial_events = Some(v == "true"),
                "dryRun" => q.dry_run = v == "All",
                "fieldManager" => q.field_manager = Some(v).filter(|s| !s.is_empty()),
                "fieldValidation" => q.field_validation = Some(v),
                "force" => q.force = v == "true",
                "propagationPolicy" => q.propagation_policy = Some(v),
                "includeObject" => q.include_object = Some(v),
                _ => {} // timeout, pretty, gracePeriodSeconds, orphanDependents…: accepted, ignored
            }
        }
        Ok(q)
    }
}

/// The longest a watch may ask to run (`timeoutSeconds` above it is lowered to it): as long as
/// kube-apiserver's longest default (twice `--min-request-timeout`'s 1800 s).
pub const MAX_TIMEOUT_SECONDS: u64 = 3600;

/// `timeoutSeconds`: negative is a 400 naming the parameter; beyond [`MAX_TIMEOUT_SECONDS`] it
/// is capped (a deadline that far out would overflow the clock and take the connection down).
fn timeout_seconds(v: &str) -> Result<u64> {
    let n = parse_num("timeoutSeconds", v)?;
    let n = u64::try_from(n).map_err(|_| {
        ApiError::BadRequest(format!(
            "timeoutSeconds: Invalid value: {n}: must be greater than or equal to 0"
        ))
    })?;
    Ok(n.min(MAX_TIMEOUT_SECONDS))
}

fn parse_num(key: &str, v: &str) -> Result<i64> {
    v.parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid value for {key}: {v:?}")))
}

/// Percent-decoding (and `+` as space) for query values.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).map(|h| u8::from_str_radix(h, 16)) {
                    Ok(Ok(b)) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the client wants back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    /// `application/json;as=Table;v=v1;g=meta.k8s.io`
    Table,
}

pub fn wants_table(accept: Option<&str>) -> Output {
    match accept {
        Some(a) if a.split(',').any(|m| m.contains("as=Table")) => Output::Table,
        _ => Output::Json,
    }
}

/// Request body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Yaml,
    MergePatch,
    JsonPatch,
    ApplyPatch,
    StrategicMergePatch,
    Other,
}

pub fn body_type(content_type: Option<&str>) -> BodyType {
    let ct = content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    match ct {
        "" | "application/json" | "*/*" => BodyType::Json,
        "application/yaml" => BodyType::Yaml,
        "application/merge-patch+json" => BodyType::MergePatch,
        "application/json-patch+json" => BodyType::JsonPatch,
        "application/apply-patch+yaml" => BodyType::ApplyPatch,
        "application/strategic-merge-patch+json" => BodyType::StrategicMergePatch,
        _ => BodyType::Other,
    }
}

pub const PATCH_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_query_with_empty_first_pair() {
        let q = Query::parse(Some("&limit=1&labelSelector=app%3Dweb&timeout=32s")).unwrap();
        assert_eq!(q.limit, Some(1));
        assert_eq!(q.label_selector.as_deref(), Some("app=web"));
    }

    #[test]
    fn watch_params() {
        let q = Query::parse(Some(
            "watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=12",
        ))
        .unwrap();
        assert!(q.watch && q.allow_bookmarks);
        assert_eq!(q.timeout_seconds, Some(290));
        assert_eq!(q.resource_version.as_deref(), Some("12"));
    }

    #[test]
    fn timeout_seconds_is_never_negative_nor_unbounded() {
        let err = Query::parse(Some("watch=1&timeoutSeconds=-1")).unwrap_err();
        assert_eq!(err.code(), 400);
        assert!(err.to_string().starts_with("timeoutSeconds"), "{err}");
        for huge in ["9223372036854775807", "99999999999"] {
            let q = Query::parse(Some(&format!("timeoutSeconds={huge}"))).unwrap();
            assert_eq!(q.timeout_seconds, Some(MAX_TIMEOUT_SECONDS));
        }
        let too_big = Query::parse(Some("timeoutSeconds=18446744073709551616")).unwrap_err();
        assert_eq!(too_big.code(), 400);
    }

    #[test]
    fn bad_limit_is_a_400() {
        assert_eq!(Query::parse(Some("limit=x")).unwrap_err().code(), 400);
    }

    #[test]
    fn table_accept_from_kubectl() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(wants_table(Some(a)), Output::Table);
        assert_eq!(wants_table(None), Output::Json);
        assert_eq!(wants_table(Some("application/json")), Output::Json);
    }

    #[test]
    fn missing_content_type_is_json() {
        assert_eq!(body_type(None), BodyType::Json);
        assert_eq!(
            body_type(Some("application/merge-patch+json; charset=utf-8")),
            BodyType::MergePatch
        );
    }
}
