//! Credentials in one place: every kubeconfig `flotilla up`, `flotilla certs` and
//! `flotilla all-in-one` write is issued here, from the cluster CA, for one [`Identity`].

use std::path::Path;

use flotilla_api_server::security::kubeconfig::write_kubeconfig as write_file;
use flotilla_api_server::security::pki::Pki;

/// Who a kubeconfig authenticates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// `flotilla:admin` in `system:masters`.
    Admin,
    /// A control-plane component's identity, bootstrapped with the CA, by its file stem
    /// (`scheduler` is `system:flotilla-scheduler`, `controller-manager`
    /// `system:flotilla-controller-manager`).
    Component(&'a str),
    /// A node: `system:node:<name>` in `system:nodes`, which the api-server's node authorizer
    /// confines to its own SwarmNode, Lease and Tasks.
    Node(&'a str),
}

impl Identity<'_> {
    /// The kubeconfig's user name, and what its file or directory is named after.
    pub fn name(&self) -> &str {
        match self {
            Identity::Admin => "admin",
            Identity::Component(name) | Identity::Node(name) => name,
        }
    }
}

/// Issues `identity`'s client certificate from `pki` and writes its kubeconfig for `server`
/// (`https://…`) to `path` (mode 0600, parent directories created).
pub fn write_kubeconfig(
    pki: &Pki,
    identity: Identity<'_>,
    server: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let (cert, key, user) = match identity {
        Identity::Admin => {
            return flotilla_api_server::app::write_admin_kubeconfig(pki, path, server);
        }
        Identity::Component(stem) => {
            let (cert, key) = pki.component_credentials(stem)?;
            (cert, key, stem)
        }
        Identity::Node(name) => {
            let groups = ["system:nodes".to_string()];
            let (cert, key) = pki.issue_client(&format!("system:node:{name}"), &groups)?;
            (cert, key, name)
        }
    };
    let ca = pki
        .client_ca_pem()
        .ok_or_else(|| anyhow::anyhow!("no cluster CA"))?;
    write_file(path, server, ca, &cert, &key, user)?;
    Ok(())
}

/// [`write_kubeconfig`], then an HTTP/2 client of it, as the split layout's binaries speak.
pub async fn client(
    pki: &Pki,
    identity: Identity<'_>,
    server: &str,
    path: &Path,
) -> anyhow::Result<kube::Client> {
    write_kubeconfig(pki, identity, server, path)?;
    Ok(flotilla_component::http2_client_from_kubeconfig(Some(path)).await?)
}
