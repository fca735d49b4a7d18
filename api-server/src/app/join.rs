//! Starting the join endpoints: which CA signs node certificates and which token is valid.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use flotilla_api::join::JoinToken;

use super::Options;
use crate::security::certs;
use crate::security::join::Join;
use crate::security::join::Signer;
use crate::security::join_tokens::{Adopted, JoinTokens};
use crate::security::pki::Pki;
use crate::storage::Store;

/// The join service, or `None` when there is no CA key to sign with (external serving
/// certificates and no `--cluster-signing-*` files).
pub async fn join_service(
    opts: &Options,
    pki: &Pki,
    store: Arc<dyn Store>,
) -> anyhow::Result<Option<Arc<Join>>> {
    let join = &opts.join;
    let signer = match (&join.signing_files, pki.dir()) {
        (Some((cert, key)), _) => Some(
            Signer::from_files(cert, key, join.duration)
                .context("--cluster-signing-cert-file/--cluster-signing-key-file")?,
        ),
        (None, Some(dir)) => Some(bootstrapped_signer(dir, join.duration)?),
        (None, None) => None,
    };
    let Some(signer) = signer else {
        anyhow::ensure!(
            join.token_file.is_none(),
            "--join-token-file needs a CA to sign node certificates: give --cluster-signing-cert-file and --cluster-signing-key-file"
        );
        tracing::info!("no cluster signing CA: nodes cannot join with tokens");
        return Ok(None);
    };
    warn_unless_trusted(pki, &signer);
    let tokens = JoinTokens::new(store, &opts.config.etcd_prefix);
    if let Some(path) = &join.token_file {
        adopt_token_file(&tokens, &signer, path).await?;
    }
    Ok(Some(crate::security::join::service(signer, tokens)))
}

fn bootstrapped_signer(dir: &Path, duration: std::time::Duration) -> anyhow::Result<Signer> {
    Signer::from_files(&dir.join("ca.crt"), &dir.join("ca.key"), duration)
        .context("the bootstrapped cluster CA")
}

/// Node certificates are useless when client certificates are checked against another CA.
fn warn_unless_trusted(pki: &Pki, signer: &Signer) {
    let trusted = pki
        .client_ca_pem()
        .and_then(|pem| certs::parse_certs(pem, "client CA").ok())
        .is_some_and(|cas| {
            cas.iter()
                .any(|ca| flotilla_api::join::ca_digest(ca) == signer.ca_digest())
        });
    if !trusted {
        tracing::warn!(
            "the cluster signing CA is not in the client CA bundle: joined nodes' certificates will be refused"
        );
    }
}

async fn adopt_token_file(tokens: &JoinTokens, signer: &Signer, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--join-token-file {}", path.display()))?;
    let token =
        JoinToken::parse(&text).with_context(|| format!("--join-token-file {}", path.display()))?;
    anyhow::ensure!(
        token.ca_digest == signer.ca_digest(),
        "--join-token-file {}: the token pins CA digest {}, but the cluster signing CA's digest is {}",
        path.display(),
        token.ca_digest,
        signer.ca_digest()
    );
    match tokens.adopt(&token.secret).await? {
        Adopted::AlreadyCurrent => {}
        Adopted::Installed => {
            tracing::info!(file = %path.display(), "join token from file is now the worker token")
        }
        Adopted::Rotated => tracing::warn!(
            file = %path.display(),
            "the join token in this file was rotated away (flotilla join-token worker --rotate); it stays invalid"
        ),
    }
    Ok(())
}
