//! Options that make the api-server an extension (aggregated) API server behind a host
//! cluster's kube-apiserver: request-header authentication for the aggregator's proxied
//! requests, and delegated authentication and authorization. Flag names and defaults are
//! Kubernetes' (kube-apiserver's `--requestheader-*`, the generic server's `--authentication-*`
//! and `--authorization-*`).

use std::path::PathBuf;
use std::time::Duration;

use crate::security::authn::Authenticator;
use crate::security::authn_lookup;
use crate::security::chain::AuthorizerChain;
use crate::security::delegated::{DelegatedAuthorizer, TokenReviewer};
use crate::security::requestheader::{HeaderNames, RequestHeaderAuth};

#[derive(Debug, Clone)]
pub struct ExtensionOptions {
    /// `--requestheader-client-ca-file`: the CA of the proxy's (aggregator's) client certificate.
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// `--requestheader-allowed-names`: proxy certificate CNs allowed (empty: any).
    pub requestheader_allowed_names: Vec<String>,
    /// `--requestheader-username-headers`, `--requestheader-group-headers`,
    /// `--requestheader-extra-headers-prefix`, `--requestheader-uid-headers`.
    pub requestheader_headers: HeaderNames,
    /// `--authentication-kubeconfig`: the host cluster for TokenReviews (and, without
    /// `--requestheader-client-ca-file`, for the request-header settings it publishes).
    pub authentication_kubeconfig: Option<PathBuf>,
    /// `--authentication-skip-lookup`: do not read the request-header settings from the host.
    pub authentication_skip_lookup: bool,
    /// `--authorization-kubeconfig`: the host cluster for SubjectAccessReviews.
    pub authorization_kubeconfig: Option<PathBuf>,
    /// `--authorization-always-allow-paths`.
    pub always_allow_paths: Vec<String>,
    /// `--authentication-token-webhook-cache-ttl`.
    pub token_cache_ttl: Duration,
    /// `--authorization-webhook-cache-authorized-ttl`.
    pub authorized_cache_ttl: Duration,
    /// `--authorization-webhook-cache-unauthorized-ttl`.
    pub unauthorized_cache_ttl: Duration,
}

impl ExtensionOptions {
    /// Adds request-header authentication and delegated TokenReview to `authn`.
    /// `client_ca_pem` is the ordinary client CA, kept apart from the proxy's.
    pub async fn authenticator(
        &self,
        mut authn: Authenticator,
        client_ca_pem: Option<&str>,
    ) -> anyhow::Result<Authenticator> {
        let host = match &self.authentication_kubeconfig {
            Some(path) => Some(host_client(path, "--authentication-kubeconfig").await?),
            None => None,
        };
        if let Some(proxy) = self.request_header(host.as_ref()).await? {
            authn = authn.with_request_header(proxy, client_ca_pem)?;
        }
        if let Some(client) = host {
            authn = authn.with_token_review(TokenReviewer::new(client, self.token_cache_ttl));
        }
        Ok(authn)
    }

    /// From the flags when the CA file is given, else from the host's ConfigMap (as
    /// Kubernetes' generic server does), else none.
    async fn request_header(
        &self,
        host: Option<&kube::Client>,
    ) -> anyhow::Result<Option<RequestHeaderAuth>> {
        if let Some(path) = &self.requestheader_client_ca_file {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("--requestheader-client-ca-file {}: {e}", path.display())
            })?;
            let names = self.requestheader_headers.clone();
            let allowed = self.requestheader_allowed_names.clone();
            return Ok(Some(RequestHeaderAuth::new(&pem, allowed, names)?));
        }
        let Some(host) = host.filter(|_| !self.authentication_skip_lookup) else {
            return Ok(None);
        };
        let Some(found) = authn_lookup::lookup(host).await? else {
            return Ok(None);
        };
        tracing::info!(
            allowed_names = ?found.allowed_names,
            "request-header authentication from ConfigMap {}/{}",
            authn_lookup::NAMESPACE,
            authn_lookup::NAME
        );
        let proxy = RequestHeaderAuth::new(&found.ca_pem, found.allowed_names, found.names)?;
        Ok(Some(proxy))
    }

    /// The authorization chain: always-allow paths, and delegation when configured.
    pub async fn authorizer_chain(&self) -> anyhow::Result<AuthorizerChain> {
        let delegated = match &self.authorization_kubeconfig {
            Some(path) => Some(DelegatedAuthorizer::new(
                host_client(path, "--authorization-kubeconfig").await?,
                self.authorized_cache_ttl,
                self.unauthorized_cache_ttl,
            )),
            None => None,
        };
        Ok(AuthorizerChain::new(
            self.always_allow_paths.clone(),
            delegated,
        ))
    }
}

async fn host_client(path: &std::path::Path, flag: &str) -> anyhow::Result<kube::Client> {
    flotilla_component::client::client_from_kubeconfig(Some(path))
        .await
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}
