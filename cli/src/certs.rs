//! `flotilla certs`: the credentials of a cluster whose components run apart (the container
//! topology's one-shot init job), as `flotilla up` provisions them for its processes — the
//! api-server's CA and serving certificate (bootstrapped exactly as the api-server would), an
//! encryption config for secrets at rest, one kubeconfig per control-loop component and per node
//! (`system:node:<name>`), and an admin kubeconfig for the host's kubectl.

use std::path::{Path, PathBuf};

use flotilla_api_server::security::kubeconfig::write_kubeconfig;
use flotilla_api_server::security::pki::Pki;

#[derive(Debug, Clone, clap::Args)]
pub struct CertsOptions {
    /// Shared directory: `api-server/` (the api-server's `--data-dir`, holding the CA),
    /// `encryption.yaml` and `kubeconfigs/<component|node>.kubeconfig`.
    #[arg(long, default_value = "/var/lib/flotilla")]
    pub data_dir: PathBuf,
    /// The api-server URL the components use.
    #[arg(long, default_value = "https://api-server:6443")]
    pub server: String,
    /// Names and IPs of the serving certificate (pass the api-server the same `--tls-san`s).
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
    /// A node to write a kubeconfig for (repeatable).
    #[arg(long = "node")]
    pub nodes: Vec<String>,
    /// Also write an admin kubeconfig (`system:masters`) here …
    #[arg(long)]
    pub admin_kubeconfig: Option<PathBuf>,
    /// … pointing at this URL (e.g. the port published on the host).
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    pub admin_server: String,
    /// `UID:GID` to own the admin kubeconfig, so a non-root user of the host can read it.
    #[arg(long)]
    pub owner: Option<String>,
}

/// The api-server's `--data-dir` under the shared directory.
pub fn api_server_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("api-server")
}

/// Where the kubeconfig of a component or node (`scheduler`, `node-1`) is written.
pub fn kubeconfig_path(data_dir: &Path, stem: &str) -> PathBuf {
    data_dir
        .join("kubeconfigs")
        .join(format!("{stem}.kubeconfig"))
}

pub fn certs(opts: CertsOptions) -> anyhow::Result<()> {
    let pki = Pki::load_or_bootstrap(&api_server_dir(&opts.data_dir), &opts.tls_sans)?;
    crate::up::encryption_config(&opts.data_dir)?;
    let ca = pki
        .client_ca_pem()
        .ok_or_else(|| anyhow::anyhow!("no cluster CA"))?;
    for component in ["scheduler", "controller-manager"] {
        let (cert, key) = pki.component_credentials(component)?;
        let path = kubeconfig_path(&opts.data_dir, component);
        write_kubeconfig(&path, &opts.server, ca, &cert, &key, component)?;
    }
    for node in &opts.nodes {
        let (cert, key) = pki.issue_client(
            &format!("system:node:{node}"),
            &["system:nodes".to_string()],
        )?;
        let path = kubeconfig_path(&opts.data_dir, node);
        write_kubeconfig(&path, &opts.server, ca, &cert, &key, node)?;
    }
    if let Some(path) = &opts.admin_kubeconfig {
        flotilla_api_server::app::write_admin_kubeconfig(&pki, path, &opts.admin_server)?;
        if let Some(owner) = &opts.owner {
            let (uid, gid) = parse_owner(owner)?;
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
    }
    println!(
        "credentials for {} node(s) in {}",
        opts.nodes.len(),
        opts.data_dir.display()
    );
    Ok(())
}

/// `1000:1000` → (1000, 1000).
pub fn parse_owner(s: &str) -> anyhow::Result<(u32, u32)> {
    let parse = || -> Option<(u32, u32)> {
        let (uid, gid) = s.split_once(':')?;
        Some((uid.parse().ok()?, gid.parse().ok()?))
    };
    parse().ok_or_else(|| anyhow::anyhow!("--owner {s:?}: expected UID:GID (numbers)"))
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
