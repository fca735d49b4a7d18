//! `kubectl describe swarmsecret` shows the size of the data, not the data, as `kubectl
//! describe secret` does for a core Secret.
//!
//! kubectl describes a kind it has no describer for (every CRD) with its generic describer,
//! which GETs the object and prints every field, so no client-side setting can hide the data.
//! What tells the server that a GET is a describe is the `Kubectl-Command` header that kubectl
//! (1.22 and later, unless `KUBECTL_COMMAND_HEADERS=false`) sends with each request. For such a
//! GET of a SwarmSecret the data is answered as `<N bytes>`. It is a courtesy against
//! shoulder-surfing and pasted terminal logs, not access control: whoever may describe a secret
//! may also `kubectl get -o yaml` it, and that answer keeps the data.

use base64::Engine;
use serde_json::{json, Value};

use crate::registry::ResourceInfo;

/// Whether a request came from `kubectl describe`.
pub fn is_describe(kubectl_command: Option<&str>) -> bool {
    kubectl_command.is_some_and(|c| c.split_whitespace().nth(1) == Some("describe"))
}

/// Whether this resource's answers to a describe are redacted.
pub fn redacts(info: &ResourceInfo) -> bool {
    info.strategy().secret()
}

/// `spec.data` replaced by its decoded size.
pub fn redact_secret(obj: &mut Value) {
    let Some(data) = obj["spec"]["data"].as_str() else {
        return;
    };
    let size = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_or(data.len(), |d| d.len());
    obj["spec"]["data"] = json!(format!("<{size} bytes>"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_describe_is_redacted_and_only_the_data() {
        assert!(is_describe(Some("kubectl describe")));
        assert!(!is_describe(Some("kubectl get")));
        assert!(!is_describe(None));
        let mut s =
            json!({"spec": {"data": "czNjcjN0LXBhc3N3b3Jk", "templating": {"name": "golang"}}});
        redact_secret(&mut s);
        assert_eq!(
            s,
            json!({"spec": {"data": "<15 bytes>", "templating": {"name": "golang"}}})
        );
    }
}
