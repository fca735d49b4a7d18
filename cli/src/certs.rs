//! `flotilla certs`: the credentials of a cluster whose components run apart (the container
//! topology's one-shot init job), one directory per component so that each container mounts
//! only its own (Kubernetes' Node authorizer and Swarm's dispatcher rule, on the disk side):
//!
//! | directory | holds | mounted by |
//! |---|---|---|
//! | `ca/` | the cluster CA and etcd's CA with their keys (`ca/pki/`, `ca/etcd/`) | this job only |
//! | `api-server/` | `tls.crt`/`tls.key` (serving), `client-ca.crt`, `cluster-signing.crt`/`.key` (the cluster CA, to sign joining nodes' certificates), `etcd-ca.crt`, `etcd-client.crt`/`.key`, `encryption.yaml` | the api-server |
//! | `join/` | `token` (the worker join token), `ca.crt` (the cluster CA certificate, no key) | the api-server (`--join-token-file`) and every node agent |
//! | `<member>/` | `ca.crt` (etcd's CA), `server.crt`/`.key`, `peer.crt`/`.key` | that etcd member |
//! | `scheduler/`, `controller-manager/` | `kubeconfig` | that component |
//! | `<node>/` (`--node`) | `kubeconfig` (`system:node:<node>`, the CA certificate embedded) | that node's agent, when it does not join with the token |
//!
//! etcd has a CA of its own: with `--client-cert-auth` etcd accepts any certificate its CA
//! signed, so a CA that also signs node certificates would let a node into etcd.
//!
//! The api-server holds the cluster CA key, as kube-controller-manager does for
//! `--cluster-signing-*`: it signs the certificate of each node that joins with the token, so no
//! node credential is made in advance.

use std::os::unix::fs::PermissionsExt;

use anyhow::Context;
use std::path::{Path, PathBuf};

use flotilla_api::join::{ca_digest, JoinToken};
use flotilla_api_server::security::certs::{issue_leaf, parse_certs, LeafKind};
use flotilla_api_server::security::encryption_default::ensure_config_file;
use flotilla_api_server::security::join_tokens::new_secret;
use flotilla_api_server::security::pki::{load_or_create_ca, write_file, CaIssuer, Pki, PKI_DIR};

use crate::credentials::{write_kubeconfig, Identity};

/// The file names `api-server/` holds (the compose file passes them as flags).
pub mod api_server_files {
    pub const TLS_CERT: &str = "tls.crt";
    pub const TLS_KEY: &str = "tls.key";
    pub const CLIENT_CA: &str = "client-ca.crt";
    pub const ETCD_CA: &str = "etcd-ca.crt";
    pub const ETCD_CERT: &str = "etcd-client.crt";
    pub const ETCD_KEY: &str = "etcd-client.key";
    pub const ENCRYPTION: &str = "encryption.yaml";
    /// The cluster CA and its key, for `--cluster-signing-cert-file`/`--cluster-signing-key-file`.
    pub const SIGNING_CERT: &str = "cluster-signing.crt";
    pub const SIGNING_KEY: &str = "cluster-signing.key";
}

/// The directory the api-server and the node agents share, and its files.
pub mod join_files {
    pub const DIR: &str = "join";
    /// The worker join token, `FLTKN-1-<CA digest>-<secret>` (`--join-token-file`).
    pub const TOKEN: &str = "token";
    /// The cluster CA certificate the token pins.
    pub const CA: &str = "ca.crt";
}

#[derive(Debug, Clone, clap::Args)]
pub struct CertsOptions {
    /// Parent of the per-component directories (see `flotilla certs --help` and docs/deploy.md).
    #[arg(long, default_value = "/var/lib/flotilla")]
    pub data_dir: PathBuf,
    /// The api-server URL the components use.
    #[arg(long, default_value = "https://api-server:6443")]
    pub server: String,
    /// Names and IPs of the serving certificate (pass the api-server the same `--tls-san`s).
    #[arg(long = "tls-san")]
    pub tls_sans: Vec<String>,
    /// A node to write a kubeconfig for (repeatable); nodes that join with the token in
    /// `join/token` need none.
    #[arg(long = "node")]
    pub nodes: Vec<String>,
    /// An etcd member as `NAME=HOST` (repeatable): server and peer certificates for HOST (an IP
    /// or DNS name), and a client certificate for the api-server.
    #[arg(long = "etcd-member")]
    pub etcd_members: Vec<String>,
    /// Also write an admin kubeconfig (`system:masters`) here …
    #[arg(long)]
    pub admin_kubeconfig: Option<PathBuf>,
    /// … pointing at this URL (e.g. the port published on the host).
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    pub admin_server: String,
    /// `UID:GID` to own the admin kubeconfig, so a non-root user of the host can read it.
    #[arg(long)]
    pub owner: Option<String>,
    /// `UID:GID` to own every component directory (except `ca/`): the user the component
    /// containers run as.
    #[arg(long)]
    pub run_as: Option<String>,
}

/// One etcd member of `--etcd-member NAME=HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    pub name: String,
    pub host: String,
}

/// `etcd-1=10.0.0.11` → the member; the name becomes a directory, so it is one path segment.
pub fn parse_member(s: &str) -> anyhow::Result<EtcdMember> {
    let bad = || anyhow::anyhow!("--etcd-member {s:?}: expected NAME=HOST, e.g. etcd-1=10.0.0.11");
    let (name, host) = s.split_once('=').ok_or_else(bad)?;
    let segment = !name.is_empty() && !name.contains('/') && name != "." && name != "..";
    anyhow::ensure!(segment && !host.is_empty(), bad());
    Ok(EtcdMember {
        name: name.to_string(),
        host: host.to_string(),
    })
}

/// The directory of a component, node or etcd member under the data dir.
pub fn component_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(name)
}

/// The CAs' directory, which only this job mounts.
pub fn ca_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ca")
}

/// Where the kubeconfig of a component or node (`scheduler`, `node-1`) is written.
pub fn kubeconfig_path(data_dir: &Path, name: &str) -> PathBuf {
    component_dir(data_dir, name).join("kubeconfig")
}

pub fn certs(opts: CertsOptions) -> anyhow::Result<()> {
    let run_as = opts
        .run_as
        .as_deref()
        .map(|s| parse_owner(s).context("--run-as"))
        .transpose()?;
    let members = opts
        .etcd_members
        .iter()
        .map(|m| parse_member(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cas = ca_dir(&opts.data_dir);
    let pki = Pki::load_or_bootstrap(&cas, &opts.tls_sans)?;
    let mut dirs = vec![api_server(&opts, &pki, &members)?, join(&opts, &pki)?];
    let components = ["scheduler", "controller-manager"].map(Identity::Component);
    let nodes = opts.nodes.iter().map(|node| Identity::Node(node));
    for identity in components.into_iter().chain(nodes) {
        let path = kubeconfig_path(&opts.data_dir, identity.name());
        write_kubeconfig(&pki, identity, &opts.server, &path)?;
        dirs.push(component_dir(&opts.data_dir, identity.name()));
    }
    dirs.extend(etcd_members(&opts.data_dir, &members)?);
    for dir in &dirs {
        seal(dir, run_as)?;
    }
    seal(&cas, None)?;
    if let Some(path) = &opts.admin_kubeconfig {
        write_kubeconfig(&pki, Identity::Admin, &opts.admin_server, path)?;
        if let Some(owner) = &opts.owner {
            let (uid, gid) = parse_owner(owner).context("--owner")?;
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
    }
    println!(
        "credentials in {}: a worker join token, kubeconfigs for {} node(s), {} etcd member(s)",
        opts.data_dir.display(),
        opts.nodes.len(),
        members.len()
    );
    Ok(())
}

/// The api-server's directory: its serving pair, the CA it verifies clients with and its key
/// (to sign joining nodes' certificates; etcd's CA key stays in `ca/`), etcd's CA and a client
/// certificate etcd accepts, the encryption config.
fn api_server(opts: &CertsOptions, pki: &Pki, members: &[EtcdMember]) -> anyhow::Result<PathBuf> {
    use api_server_files::*;
    let dir = component_dir(&opts.data_dir, "api-server");
    std::fs::create_dir_all(&dir)?;
    let ca = pki.client_ca_pem().unwrap_or_default();
    write_file(
        &dir.join(TLS_CERT),
        pki.serving_cert_pem().as_bytes(),
        0o644,
    )?;
    write_file(&dir.join(TLS_KEY), pki.serving_key_pem().as_bytes(), 0o600)?;
    write_file(&dir.join(CLIENT_CA), ca.as_bytes(), 0o644)?;
    let ca_key_path = ca_dir(&opts.data_dir).join(PKI_DIR).join("ca.key");
    let ca_key = std::fs::read(&ca_key_path)
        .with_context(|| format!("the cluster CA key {}", ca_key_path.display()))?;
    write_file(&dir.join(SIGNING_CERT), ca.as_bytes(), 0o644)?;
    write_file(&dir.join(SIGNING_KEY), &ca_key, 0o600)?;
    ensure_config_file(&dir.join(ENCRYPTION))?;
    if !members.is_empty() {
        let (issuer, etcd_ca) = etcd_ca(&opts.data_dir)?;
        let kind = LeafKind::Client {
            user: "flotilla-api-server".to_string(),
            groups: vec![],
        };
        let client = issue_leaf(&issuer, &kind)?;
        write_file(&dir.join(ETCD_CA), etcd_ca.as_bytes(), 0o644)?;
        write_file(&dir.join(ETCD_CERT), client.cert_pem.as_bytes(), 0o644)?;
        write_file(&dir.join(ETCD_KEY), client.key_pem.as_bytes(), 0o600)?;
    }
    Ok(dir)
}

/// The join directory: the worker token pinning the cluster CA, and that CA's certificate. A
/// token written earlier for the same CA is kept, so a re-run does not change it under running
/// agents.
fn join(opts: &CertsOptions, pki: &Pki) -> anyhow::Result<PathBuf> {
    use join_files::*;
    let dir = component_dir(&opts.data_dir, DIR);
    std::fs::create_dir_all(&dir)?;
    let ca = pki
        .client_ca_pem()
        .ok_or_else(|| anyhow::anyhow!("no cluster CA"))?;
    let der = parse_certs(ca, "the cluster CA")?.remove(0);
    let digest = ca_digest(&der);
    let path = dir.join(TOKEN);
    let kept = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| JoinToken::parse(&text).ok())
        .filter(|token| token.ca_digest == digest);
    let token = kept.unwrap_or_else(|| JoinToken::new(&digest, &new_secret()));
    write_file(&path, format!("{token}\n").as_bytes(), 0o600)?;
    write_file(&dir.join(CA), ca.as_bytes(), 0o644)?;
    Ok(dir)
}

fn etcd_ca(data_dir: &Path) -> anyhow::Result<(CaIssuer, String)> {
    let dir = ca_dir(data_dir).join("etcd");
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(load_or_create_ca(&dir, "flotilla-etcd-ca")?)
}

/// Each member's directory: etcd's CA, a serving and a peer certificate for its host (etcd
/// checks a peer's certificate against the address it connects from), their keys.
fn etcd_members(data_dir: &Path, members: &[EtcdMember]) -> anyhow::Result<Vec<PathBuf>> {
    if members.is_empty() {
        return Ok(vec![]);
    }
    let (issuer, ca) = etcd_ca(data_dir)?;
    let mut dirs = Vec::new();
    for member in members {
        let dir = component_dir(data_dir, &member.name);
        std::fs::create_dir_all(&dir)?;
        write_file(&dir.join("ca.crt"), ca.as_bytes(), 0o644)?;
        let sans = vec![member.host.clone(), member.name.clone(), "localhost".into()];
        for stem in ["server", "peer"] {
            let kind = LeafKind::Peer {
                name: member.name.clone(),
                sans: sans.clone(),
            };
            let issued = issue_leaf(&issuer, &kind)?;
            write_file(
                &dir.join(format!("{stem}.crt")),
                issued.cert_pem.as_bytes(),
                0o644,
            )?;
            write_file(
                &dir.join(format!("{stem}.key")),
                issued.key_pem.as_bytes(),
                0o600,
            )?;
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Directory 0700, and everything in it owned by `owner` when given.
fn seal(dir: &Path, owner: Option<(u32, u32)>) -> anyhow::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    for entry in std::fs::read_dir(dir)? {
        std::os::unix::fs::chown(entry?.path(), Some(uid), Some(gid))?;
    }
    Ok(())
}

/// `1000:1000` → (1000, 1000).
pub fn parse_owner(s: &str) -> anyhow::Result<(u32, u32)> {
    let parse = || -> Option<(u32, u32)> {
        let (uid, gid) = s.split_once(':')?;
        Some((uid.parse().ok()?, gid.parse().ok()?))
    };
    parse().ok_or_else(|| anyhow::anyhow!("UID:GID expected (numbers), got {s:?}"))
}

#[cfg(test)]
#[path = "certs_tests.rs"]
mod tests;
