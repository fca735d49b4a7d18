//! Kubeconfig files for kubectl, kube-rs and Flotilla's own components: one cluster `flotilla`, one
//! user, one context `flotilla` (current), credentials embedded as base64 `*-data` fields. Written with
//! mode 0600 because it holds a private key or token.

use std::path::Path;

use base64::Engine;
use serde::Serialize;

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

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    clusters: [Named<'a, ClusterEntry>; 1],
    users: [Named<'a, UserEntry<'a>>; 1],
    contexts: [Named<'a, ContextEntry<'a>>; 1],
    current_context: &'a str,
    preferences: Empty,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Named<'a, T> {
    name: &'a str,
    #[serde(flatten)]
    entry: T,
}

#[derive(Serialize)]
struct ClusterEntry {
    cluster: Cluster,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority_data: String,
}

#[derive(Serialize)]
struct UserEntry<'a> {
    user: User<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct User<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_certificate_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

#[derive(Serialize)]
struct ContextEntry<'a> {
    context: Context<'a>,
}

#[derive(Serialize)]
struct Context<'a> {
    cluster: &'a str,
    user: &'a str,
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
            User {
                client_certificate_data: Some(b64(cert_pem)),
                client_key_data: Some(b64(key_pem)),
                token: None,
            }
        }
        Credentials::Token(token) => {
            require("users[0].user.token", token, "the token")?;
            User {
                client_certificate_data: None,
                client_key_data: None,
                token: Some(token),
            }
        }
    };
    let config = Kubeconfig {
        api_version: "v1",
        kind: "Config",
        clusters: [Named {
            name: CLUSTER_NAME,
            entry: ClusterEntry {
                cluster: Cluster {
                    server: server_url.to_string(),
                    certificate_authority_data: b64(ca_pem),
                },
            },
        }],
        users: [Named {
            name: user_name,
            entry: UserEntry { user },
        }],
        contexts: [Named {
            name: CLUSTER_NAME,
            entry: ContextEntry {
                context: Context {
                    cluster: CLUSTER_NAME,
                    user: user_name,
                },
            },
        }],
        current_context: CLUSTER_NAME,
        preferences: Empty {},
    };
    serde_yaml_ng::to_string(&config).map_err(|e| KubeconfigError::Invalid {
        field: "(document)",
        reason: e.to_string(),
    })
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
