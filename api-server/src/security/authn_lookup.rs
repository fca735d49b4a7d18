//! Where an extension server finds the request-header settings when no
//! `--requestheader-client-ca-file` is given: kube-apiserver publishes them in ConfigMap
//! `kube-system/extension-apiserver-authentication`, readable through the host's API (a Pod
//! cannot mount another namespace's ConfigMap). Read once at start; a rotated front-proxy CA
//! needs a restart.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::requestheader::HeaderNames;

pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "extension-apiserver-authentication";

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("reading ConfigMap {NAMESPACE}/{NAME} from the host cluster: {0} (give --requestheader-client-ca-file, or --authentication-skip-lookup)")]
    Host(#[from] kube::Error),
    #[error("ConfigMap {NAMESPACE}/{NAME}: {key}: {reason}")]
    Value { key: &'static str, reason: String },
}

/// What the ConfigMap says about the authenticating proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaderSettings {
    pub ca_pem: String,
    pub allowed_names: Vec<String>,
    pub names: HeaderNames,
}

/// The settings, `None` when the host publishes no request-header CA (or no ConfigMap at all:
/// then the aggregator is not set up and only bearer tokens reach this server).
pub async fn lookup(host: &kube::Client) -> Result<Option<RequestHeaderSettings>, LookupError> {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(host.clone(), NAMESPACE);
    let Some(map) = api.get_opt(NAME).await? else {
        tracing::warn!(
            "ConfigMap {NAMESPACE}/{NAME} not found: request-header authentication is off"
        );
        return Ok(None);
    };
    settings(&map.data.unwrap_or_default())
}

/// Parses the ConfigMap's data. Its list values are JSON arrays (`["X-Remote-User"]`), as
/// kube-apiserver writes them; absent header lists keep Kubernetes' defaults.
pub fn settings(
    data: &BTreeMap<String, String>,
) -> Result<Option<RequestHeaderSettings>, LookupError> {
    let Some(ca_pem) = data
        .get("requestheader-client-ca-file")
        .filter(|p| !p.trim().is_empty())
    else {
        return Ok(None);
    };
    let list = |key: &'static str| -> Result<Option<Vec<String>>, LookupError> {
        let Some(raw) = data.get(key) else {
            return Ok(None);
        };
        serde_json::from_str::<Vec<String>>(raw)
            .map(Some)
            .map_err(|e| LookupError::Value {
                key,
                reason: format!("not a JSON list of strings: {e}"),
            })
    };
    let defaults = HeaderNames::default();
    Ok(Some(RequestHeaderSettings {
        ca_pem: ca_pem.clone(),
        allowed_names: list("requestheader-allowed-names")?.unwrap_or_default(),
        names: HeaderNames {
            username: list("requestheader-username-headers")?.unwrap_or(defaults.username),
            group: list("requestheader-group-headers")?.unwrap_or(defaults.group),
            extra_prefix: list("requestheader-extra-headers-prefix")?
                .unwrap_or(defaults.extra_prefix),
            uid: list("requestheader-uid-headers")?.unwrap_or(defaults.uid),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_what_kube_apiserver_publishes() {
        let map = data(&[
            ("client-ca-file", "CLIENT CA"),
            ("requestheader-client-ca-file", "PROXY CA"),
            ("requestheader-allowed-names", r#"["front-proxy-client"]"#),
            ("requestheader-username-headers", r#"["X-Remote-User"]"#),
            ("requestheader-group-headers", r#"["X-Remote-Group"]"#),
            (
                "requestheader-extra-headers-prefix",
                r#"["X-Remote-Extra-"]"#,
            ),
        ]);
        let s = settings(&map).unwrap().unwrap();
        assert_eq!(s.ca_pem, "PROXY CA");
        assert_eq!(s.allowed_names, ["front-proxy-client"]);
        assert_eq!(s.names, HeaderNames::default());
    }

    #[test]
    fn no_proxy_ca_means_no_request_header_authentication() {
        assert_eq!(settings(&data(&[("client-ca-file", "CA")])).unwrap(), None);
    }

    #[test]
    fn a_malformed_list_names_its_key() {
        let map = data(&[
            ("requestheader-client-ca-file", "PROXY CA"),
            ("requestheader-allowed-names", "front-proxy-client"),
        ]);
        let err = settings(&map).unwrap_err().to_string();
        assert!(err.contains("requestheader-allowed-names"), "{err}");
    }
}
