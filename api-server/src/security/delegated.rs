//! Delegated authentication and authorization: an extension API server asks its host cluster
//! (`--authentication-kubeconfig`, `--authorization-kubeconfig`) who a bearer token belongs to
//! (`authentication.k8s.io/v1` TokenReview) and whether a user may do something
//! (`authorization.k8s.io/v1` SubjectAccessReview), so the host's RBAC governs the extension's
//! resources. Answers are cached briefly, as Kubernetes' delegating server does (10 s allowed,
//! 10 s denied, 10 s per token): the host is asked at most once per identical question per TTL.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    SubjectAccessReviewStatus,
};
use kube::api::PostParams;
use sha2::{Digest, Sha256};

use super::attributes::{Decision, RequestAttributes};
use super::authn::{AuthnError, Identity};
use super::ttl_cache::TtlCache;

/// How long one review may take before the request fails (kube's webhook default).
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DelegationError {
    #[error("asking the host cluster: {0}")]
    Host(#[from] kube::Error),
    #[error("the host cluster did not answer within {0:?}")]
    Timeout(Duration),
}

/// Review answers asked for and where they came from, for `/metrics`.
pub mod counters {
    use std::sync::atomic::{AtomicU64, Ordering};

    pub static HOST: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
    pub static CACHED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
    pub const TOKEN: usize = 0;
    pub const ACCESS: usize = 1;

    pub(super) fn count(from_cache: bool, kind: usize) {
        let c = if from_cache { &CACHED } else { &HOST };
        c[kind].fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text for the two counters.
    pub fn render() -> String {
        let mut out = String::from(
            "# HELP flotilla_delegated_reviews_total Delegated reviews by kind and where the answer came from.\n# TYPE flotilla_delegated_reviews_total counter\n",
        );
        for (kind, name) in [(TOKEN, "TokenReview"), (ACCESS, "SubjectAccessReview")] {
            for (source, c) in [("host", &HOST), ("cache", &CACHED)] {
                let n = c[kind].load(Ordering::Relaxed);
                out += &format!(
                    "flotilla_delegated_reviews_total{{kind=\"{name}\",source=\"{source}\"}} {n}\n"
                );
            }
        }
        out
    }
}

async fn ask<K>(client: &kube::Client, review: &K) -> Result<K, DelegationError>
where
    K: kube::Resource<Scope = kube::core::ClusterResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: kube::Api<K> = kube::Api::all(client.clone());
    let params = PostParams::default();
    let create = api.create(&params, review);
    match tokio::time::timeout(REVIEW_TIMEOUT, create).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(DelegationError::Timeout(REVIEW_TIMEOUT)),
    }
}

/// Bearer tokens → the host cluster's TokenReview.
pub struct TokenReviewer {
    client: kube::Client,
    ttl: Duration,
    /// Keyed by the token's SHA-256, so tokens themselves are not kept.
    cache: TtlCache<[u8; 32], Result<Identity, AuthnError>>,
}

impl std::fmt::Debug for TokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenReviewer {
    /// `ttl` is `--authentication-token-webhook-cache-ttl` (for valid and invalid tokens alike).
    pub fn new(client: kube::Client, ttl: Duration) -> TokenReviewer {
        TokenReviewer {
            client,
            ttl,
            cache: TtlCache::default(),
        }
    }

    /// The token's identity, or `InvalidToken`; a host that cannot answer is an error that
    /// is not cached.
    pub async fn review(&self, token: &str) -> Result<Identity, AuthnError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cache.get(&key) {
            counters::count(true, counters::TOKEN);
            return answer;
        }
        counters::count(false, counters::TOKEN);
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let answered = ask(&self.client, &review)
            .await
            .map_err(|e| AuthnError::TokenReview(e.to_string()))?;
        let status = answered.status.unwrap_or_default();
        let answer = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => identity_of(user),
            _ => Err(AuthnError::InvalidToken),
        };
        self.cache.insert(key, answer.clone(), self.ttl);
        answer
    }
}

/// A TokenReview's `status.user` as an identity.
pub fn identity_of(user: UserInfo) -> Result<Identity, AuthnError> {
    let name = user.username.filter(|u| !u.is_empty());
    let mut identity = Identity::asserted(
        name.ok_or(AuthnError::InvalidToken)?,
        user.groups.unwrap_or_default(),
    );
    identity.uid = user.uid.unwrap_or_default();
    identity.extra = user.extra.unwrap_or_default();
    identity.from_host = true;
    Ok(identity)
}

/// Requests → the host cluster's SubjectAccessReview.
pub struct DelegatedAuthorizer {
    client: kube::Client,
    allowed_ttl: Duration,
    denied_ttl: Duration,
    /// Keyed by the review's spec as JSON (its maps are ordered, so equal specs are equal keys).
    cache: TtlCache<String, Decision>,
}

impl std::fmt::Debug for DelegatedAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatedAuthorizer")
            .field("allowed_ttl", &self.allowed_ttl)
            .field("denied_ttl", &self.denied_ttl)
            .finish_non_exhaustive()
    }
}

impl DelegatedAuthorizer {
    /// The TTLs are `--authorization-webhook-cache-authorized-ttl` and `…-unauthorized-ttl`.
    pub fn new(client: kube::Client, allowed_ttl: Duration, denied_ttl: Duration) -> Self {
        DelegatedAuthorizer {
            client,
            allowed_ttl,
            denied_ttl,
            cache: TtlCache::default(),
        }
    }

    pub async fn authorize(
        &self,
        who: &Identity,
        request: &RequestAttributes,
    ) -> Result<Decision, DelegationError> {
        let spec = review_spec(who, request);
        let key = serde_json::to_string(&spec).expect("a review spec serializes");
        if let Some(decision) = self.cache.get(&key) {
            counters::count(true, counters::ACCESS);
            return Ok(decision);
        }
        counters::count(false, counters::ACCESS);
        let review = SubjectAccessReview {
            spec,
            ..SubjectAccessReview::default()
        };
        let answered = ask(&self.client, &review).await?;
        let decision = decision_of(answered.status.unwrap_or_default());
        let ttl = match decision {
            Decision::Allow => self.allowed_ttl,
            Decision::Deny(_) => self.denied_ttl,
        };
        self.cache.insert(key, decision.clone(), ttl);
        Ok(decision)
    }
}

/// The SubjectAccessReview spec for a request, as Kubernetes' delegating server writes it.
pub fn review_spec(who: &Identity, r: &RequestAttributes) -> SubjectAccessReviewSpec {
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let (resource_attributes, non_resource_attributes) = if r.is_resource_request() {
        let attributes = ResourceAttributes {
            verb: Some(r.verb.as_str().to_string()),
            group: Some(r.api_group.clone()),
            resource: Some(r.resource.clone()),
            subresource: r.subresource.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            ..ResourceAttributes::default()
        };
        (Some(attributes), None)
    } else {
        let attributes = NonResourceAttributes {
            path: Some(r.path.clone()),
            verb: Some(r.verb.as_str().to_string()),
        };
        (None, Some(attributes))
    };
    SubjectAccessReviewSpec {
        user: Some(who.user.clone()),
        groups: Some(who.groups.clone()),
        uid: nonempty(&who.uid),
        extra: (!who.extra.is_empty()).then(|| who.extra.clone()),
        resource_attributes,
        non_resource_attributes,
    }
}

/// A review's status as a decision; the host's reason (or evaluation error) is kept for the
/// 403 message.
pub fn decision_of(status: SubjectAccessReviewStatus) -> Decision {
    if status.allowed {
        return Decision::Allow;
    }
    let reason = status
        .reason
        .filter(|r| !r.is_empty())
        .or(status.evaluation_error)
        .unwrap_or_default();
    Decision::Deny(reason)
}

#[cfg(test)]
#[path = "delegated_tests.rs"]
mod tests;
