//! The authorization chain around Flotilla's own [`Authorizer`], in the order requests meet it:
//!
//! 1. `--authorization-always-allow-paths` (non-resource paths such as `/healthz`), as
//!    Kubernetes' generic server has;
//! 2. the delegator rule: Flotilla's own identities in group [`AUTH_DELEGATORS_GROUP`] may
//!    create TokenReviews and SubjectAccessReviews (Kubernetes' `system:auth-delegator`);
//! 3. `system:masters` may do anything (the generic server's always-allowed group);
//! 4. whoever vouched for the identity decides what it may do: an identity the host cluster
//!    vouched for (proxy headers, delegated TokenReview) is judged by the host's
//!    SubjectAccessReview when `--authorization-kubeconfig` is given; every other identity
//!    (Flotilla's client certificates and static tokens: nodes, scheduler, controller-manager,
//!    admins) by Flotilla's own authorizer, node rules included. So a host user merely named
//!    `system:node:<n>` never gets a Flotilla node's rights, and the host's RBAC can neither
//!    widen nor narrow what a Flotilla node may do.

use std::sync::Arc;

use super::authn::{Identity, MASTERS_GROUP};
use super::authz::{Authorizer, Decision, NodeRelations, RequestAttributes, Verb};
use super::delegated::{DelegatedAuthorizer, DelegationError};

/// Members may create TokenReviews and SubjectAccessReviews: what an extension API server
/// delegating to this one needs (the counterpart of binding `system:auth-delegator`).
pub const AUTH_DELEGATORS_GROUP: &str = "flotilla:auth-delegators";

#[derive(Debug, Clone, Default)]
pub struct AuthorizerChain {
    always_allow_paths: Vec<String>,
    delegated: Option<Arc<DelegatedAuthorizer>>,
}

impl AuthorizerChain {
    pub fn new(always_allow_paths: Vec<String>, delegated: Option<DelegatedAuthorizer>) -> Self {
        AuthorizerChain {
            always_allow_paths: always_allow_paths
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect(),
            delegated: delegated.map(Arc::new),
        }
    }

    pub async fn authorize(
        &self,
        local: &Authorizer,
        who: &Identity,
        request: &RequestAttributes,
        relations: &dyn NodeRelations,
    ) -> Result<Decision, DelegationError> {
        let always = always_allowed(&self.always_allow_paths, request) || may_review(who, request);
        if always || who.in_group(MASTERS_GROUP) {
            return Ok(Decision::Allow);
        }
        match &self.delegated {
            Some(host) if who.from_host => host.authorize(who, request).await,
            _ => Ok(local.authorize(who, request, relations)),
        }
    }
}

/// A non-resource path in the list: exact, or a prefix when the entry ends in `*`.
pub fn always_allowed(paths: &[String], request: &RequestAttributes) -> bool {
    !request.is_resource_request()
        && paths.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => request.path.starts_with(prefix),
            None => request.path == *p,
        })
}

/// The delegator rule (step 2), for Flotilla's own identities: a group the host asserts is
/// the host's to judge.
pub fn may_review(who: &Identity, r: &RequestAttributes) -> bool {
    !who.from_host
        && who.in_group(AUTH_DELEGATORS_GROUP)
        && r.verb == Verb::Create
        && r.subresource.is_none()
        && (r.is("authentication.k8s.io", "tokenreviews")
            || r.is("authorization.k8s.io", "subjectaccessreviews"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_allow_paths_match_exactly_or_by_star_prefix() {
        let paths = vec!["/healthz".to_string(), "/debug/*".to_string()];
        let get = |p: &str| RequestAttributes::non_resource(Verb::Get, p);
        assert!(always_allowed(&paths, &get("/healthz")));
        assert!(!always_allowed(&paths, &get("/healthz/etcd")));
        assert!(always_allowed(&paths, &get("/debug/pprof")));
        assert!(!always_allowed(&paths, &get("/metrics")));
        let resource = RequestAttributes::resource(Verb::Get, "", "healthz");
        assert!(!always_allowed(&paths, &resource));
    }

    #[test]
    fn only_delegators_may_create_reviews() {
        let delegator = Identity::new("ext", [AUTH_DELEGATORS_GROUP]);
        let sar = RequestAttributes::resource(
            Verb::Create,
            "authorization.k8s.io",
            "subjectaccessreviews",
        );
        let tr = RequestAttributes::resource(Verb::Create, "authentication.k8s.io", "tokenreviews");
        assert!(may_review(&delegator, &sar));
        assert!(may_review(&delegator, &tr));
        assert!(!may_review(&Identity::new("bob", ["devs"]), &sar));
        let mut proxied = delegator.clone();
        proxied.from_host = true;
        assert!(!may_review(&proxied, &sar));
        let list = RequestAttributes::resource(Verb::List, "authentication.k8s.io", "tokenreviews");
        assert!(!may_review(&delegator, &list));
        let tasks = RequestAttributes::resource(Verb::Create, "flotilla.dev", "tasks");
        assert!(!may_review(&delegator, &tasks));
    }

    struct NoTasks;
    impl NodeRelations for NoTasks {
        fn task_node(&self, _: &str, _: &str) -> Option<String> {
            None
        }
        fn node_references(
            &self,
            _: &str,
            _: super::super::authz::ReferencedKind,
            _: &str,
            _: &str,
        ) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn without_a_host_the_local_decision_stands() {
        let chain = AuthorizerChain::new(vec!["/healthz".into()], None);
        let local = Authorizer::new();
        let alice = Identity::new("alice", ["devs"]);
        let write = RequestAttributes::resource(Verb::Create, "flotilla.dev", "swarmservices");
        let decision = chain.authorize(&local, &alice, &write, &NoTasks).await;
        assert!(!decision.unwrap().is_allowed());
        let health = RequestAttributes::non_resource(Verb::Get, "/healthz");
        let decision = chain.authorize(&local, &alice, &health, &NoTasks).await;
        assert!(decision.unwrap().is_allowed());
    }
}
