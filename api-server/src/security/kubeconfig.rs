//! Kubeconfig files for kubectl, kube-rs and Flotilla's own components: one cluster `flotilla`, one
//! user, one context `flotilla` (current), credentials embedded as base64 `*-data` fields. Written with
//! mode 0600 because it holds a private key or token. The document is kube's own
//! [`kube::config::Kubeconfig`], the type every component reads it back with.

use std::path::Path;

use base64::Engine;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext, Preferences,
};

use super::pki::{self, PkiError};

/// Cluster and context name in every generated kubeconfig.
pub const CLUSTER_NAME: &str = "flotilla";

#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("kubeconfig {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(transparent)]
    Write(#[from] PkiError),
}

/// How the user authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    /// A client certificate and key, PEM.
    ClientCert { cert_pem: &'a str, key_pem: &'a str },
    /// A bearer token.
    Token(&'a str),
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

fn require(field: &'static str, value: &str, what: &str) -> Result<(), KubeconfigError> {
    if value.trim().is_empty() {
        return Err(KubeconfigError::Invalid {
            field,
            reason: format!("{what} must not be empty"),
        });
    }
    Ok(())
}

/// Renders a kubeconfig. `server_url` must be `https://…`: kubectl sends no credentials over http.
pub fn render_kubeconfig(
    server_url: &str,
    ca_pem: &str,
    credentials: Credentials<'_>,
    user_name: &str,
) -> Result<String, KubeconfigError> {
    if !server_url.starts_with("https://") {
        return Err(KubeconfigError::Invalid {
            field: "clusters[0].cluster.server",
            reason: format!("must be an https:// URL, got {server_url:?}"),
        });
    }
    require(
        "clusters[0].cluster.certificate-authority-data",
        ca_pem,
        "the CA",
    )?;
    require("users[0].name", user_name, "the user name")?;
    let user = match credentials {
        Credentials::ClientCert { cert_pem, key_pem } => {
            require(
                "users[0].user.client-certificate-data",
                cert_pem,
                "the client certificate",
            )?;
            require("users[0].user.client-key-data", key_pem, "the client key")?;
            AuthInfo {
                client_certificate_data: Some(b64(cert_pem)),
                client_key_data: Some(b64(key_pem).into()),
                ..AuthInfo::default()
            }
        }
        Credentials::Token(token) => {
            require("users[0].user.token", token, "the token")?;
            AuthInfo {
                token: Some(token.to_string().into()),
                ..AuthInfo::default()
            }
        }
    };
    let config = document(server_url, ca_pem, user_name, user);
    serde_yaml_ng::to_string(&config).map_err(|e| KubeconfigError::Invalid {
        field: "(document)",
        reason: e.to_string(),
    })
}

/// One cluster, one user, one context naming both, current.
fn document(server_url: &str, ca_pem: &str, user_name: &str, user: AuthInfo) -> Kubeconfig {
    let cluster = Cluster {
        server: Some(server_url.to_string()),
        certificate_authority_data: Some(b64(ca_pem)),
        ..Cluster::default()
    };
    let context = Context {
        cluster: CLUSTER_NAME.to_string(),
        user: Some(user_name.to_string()),
        ..Context::default()
    };
    Kubeconfig {
        preferences: Some(Preferences::default()),
        clusters: vec![NamedCluster {
            name: CLUSTER_NAME.to_string(),
            cluster: Some(cluster),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user_name.to_string(),
            auth_info: Some(user),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: CLUSTER_NAME.to_string(),
            context: Some(context),
            other: Default::default(),
        }],
        current_context: Some(CLUSTER_NAME.to_string()),
        kind: Some("Config".to_string()),
        api_version: Some("v1".to_string()),
        ..Kubeconfig::default()
    }
}

/// Writes a client-certificate kubeconfig to `path` (mode 0600, atomically).
pub fn write_kubeconfig(
    path: &Path,
    server_url: &str,
    ca_pem: &str,
    client_cert_pem: &str,
    client_key_pem: &str,
    user_name: &str,
) -> Result<(), KubeconfigError> {
    let credentials = Credentials::ClientCert {
        cert_pem: client_cert_pem,
        key_pem: client_key_pem,
    };
    let yaml = render_kubeconfig(server_url, ca_pem, credentials, user_name)?;
    write_rendered(path, &yaml)
}

/// Writes an already rendered kubeconfig to `path` (mode 0600, atomically, parent directories created).
pub fn write_rendered(path: &Path, yaml: &str) -> Result<(), KubeconfigError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| PkiError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    pki::write_file(path, yaml.as_bytes(), 0o600)?;
    Ok(())
}

#[cfg(test)]
#[path = "kubeconfig_tests.rs"]
mod tests;
