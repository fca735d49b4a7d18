//! Non-resource paths (`/healthz`, `/version`, `/apis`, `/openapi/v3`, `/metrics`, `/join/v1/…`):
//! which groups may do what on which, as Kubernetes' bootstrap ClusterRoles grant them. One table
//! serves the authorizer and `kubectl auth can-i --list`, so what the server does and what it
//! lists agree.
//!
//! A URL ending in `*` matches every path with that prefix (`/apis/*` matches `/apis/flotilla.dev`),
//! any other URL matches only itself: Kubernetes' `nonResourceURLs` rule.

use super::attributes::Verb;
use super::authn::{Identity, AUTHENTICATED_GROUP, MONITORING_GROUP, UNAUTHENTICATED_GROUP};

/// Some verbs on some non-resource URLs, granted to the members of some groups (a ClusterRole
/// and its binding, in Kubernetes' terms).
#[derive(Debug)]
pub struct PathGrant {
    pub groups: &'static [&'static str],
    pub verbs: &'static [Verb],
    pub urls: &'static [&'static str],
}

/// Everyone, with or without credentials.
const EVERYONE: &[&str] = &[AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP];

/// Every non-resource grant; `system:masters` may do anything besides (the join token paths,
/// `/join/v1/tokens/worker[/rotate]`, are in no grant: administrators only).
pub const PATH_GRANTS: [PathGrant; 5] = [
    // Load balancers and probes ask without credentials.
    PathGrant {
        // Mirrors the Kubernetes ClusterRole system:public-info-viewer.
        groups: EVERYONE,
        verbs: &[Verb::Get],
        urls: &["/healthz", "/livez", "/readyz", "/version", "/version/"],
    },
    // A joining node fetches the cluster CA before it has credentials and trusts it only if
    // its token's digest matches (kubeadm's anonymous `cluster-info` ConfigMap).
    PathGrant {
        // Mirrors the Kubernetes ClusterRole kubeadm:bootstrap-signer-clusterinfo.
        groups: EVERYONE,
        verbs: &[Verb::Get],
        urls: &[flotilla_api::join::CA_PATH],
    },
    // A joining node asks for its certificate with a join token, which is no identity: the
    // endpoint checks the token itself, or that a renewing node asks for its own name.
    PathGrant {
        // Mirrors the Kubernetes ClusterRole system:node-bootstrapper.
        groups: EVERYONE,
        verbs: &[Verb::Create],
        urls: &[flotilla_api::join::NODE_CERTIFICATES_PATH],
    },
    // Clients discover the API before they use it.
    PathGrant {
        // Mirrors the Kubernetes ClusterRole system:discovery.
        groups: &[AUTHENTICATED_GROUP],
        verbs: &[Verb::Get],
        urls: &[
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/openapi",
            "/openapi/*",
        ],
    },
    // Request counts and latencies by resource and user agent, and each health check by name,
    // describe the cluster's workload: monitoring systems only.
    PathGrant {
        // Mirrors the Kubernetes ClusterRole system:monitoring.
        groups: &[MONITORING_GROUP],
        verbs: &[Verb::Get],
        urls: &[
            "/metrics",
            "/healthz",
            "/healthz/*",
            "/livez",
            "/livez/*",
            "/readyz",
            "/readyz/*",
        ],
    },
];

/// Whether the rule URL `url` covers `path`.
pub fn url_matches(url: &str, path: &str) -> bool {
    match url.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => path == url,
    }
}

/// The grants that apply to `who`.
fn grants_of(who: &Identity) -> impl Iterator<Item = &'static PathGrant> + '_ {
    PATH_GRANTS
        .iter()
        .filter(|g| g.groups.iter().any(|group| who.in_group(group)))
}

/// Whether `who` may `verb` `path` (not counting `system:masters`, which may do anything).
pub fn may(who: &Identity, verb: Verb, path: &str) -> bool {
    grants_of(who)
        .filter(|g| g.verbs.contains(&verb))
        .any(|g| g.urls.iter().any(|url| url_matches(url, path)))
}

/// The URLs `who` may `verb`, each once, in table order (`kubectl auth can-i --list`).
pub fn urls_of(who: &Identity, verb: Verb) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    let grants = grants_of(who).filter(|g| g.verbs.contains(&verb));
    for url in grants.flat_map(|g| g.urls.iter()) {
        if !urls.iter().any(|u| u == url) {
            urls.push(url.to_string());
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::authn::{Identity, NODES_GROUP};

    fn may_get(who: &Identity, path: &str) -> bool {
        may(who, Verb::Get, path)
    }

    #[test]
    fn health_and_version_are_public_and_per_check_health_is_for_monitoring() {
        let anonymous = Identity::anonymous();
        for path in ["/healthz", "/livez", "/readyz", "/version", "/version/"] {
            assert!(may_get(&anonymous, path), "{path}");
        }
        for path in [
            "/readyz/etcd",
            "/metrics",
            "/apis",
            "/healthzx",
            "/",
            "/openapi/v2",
        ] {
            assert!(!may_get(&anonymous, path), "{path}");
        }
        let prometheus = Identity::new("prometheus", [MONITORING_GROUP]);
        for path in ["/metrics", "/readyz/etcd", "/livez/ping", "/apis"] {
            assert!(may_get(&prometheus, path), "{path}");
        }
        assert!(!may_get(&prometheus, "/metricsx"));
    }

    #[test]
    fn authenticated_users_discover_but_do_not_monitor() {
        let node = Identity::new("system:node:n1", [NODES_GROUP]);
        for path in [
            "/api",
            "/api/v1",
            "/apis/",
            "/apis/flotilla.dev/v1alpha1",
            "/openapi/v3",
        ] {
            assert!(may_get(&node, path), "{path}");
        }
        for path in ["/metrics", "/healthz/etcd", "/apisx", "/swagger.json"] {
            assert!(!may_get(&node, path), "{path}");
        }
        let urls = urls_of(&node, Verb::Get);
        assert!(urls.contains(&"/version".to_string()) && !urls.contains(&"/metrics".to_string()));
        assert_eq!(urls.len(), 12, "each URL once: {urls:?}");
        assert_eq!(urls_of(&node, Verb::Create), ["/join/v1/nodecertificates"]);
    }

    #[test]
    fn joining_nodes_get_the_ca_and_post_a_csr_but_never_the_token() {
        let anonymous = Identity::anonymous();
        assert!(may(&anonymous, Verb::Get, "/join/v1/ca.crt"));
        assert!(may(&anonymous, Verb::Create, "/join/v1/nodecertificates"));
        for (verb, path) in [
            (Verb::Create, "/join/v1/ca.crt"),
            (Verb::Get, "/join/v1/nodecertificates"),
            (Verb::Create, "/join/v1/nodecertificates/"),
            (Verb::Get, "/join/v1/tokens/worker"),
            (Verb::Create, "/join/v1/tokens/worker/rotate"),
            (Verb::Get, "/join/v1/ca.crt/../tokens/worker"),
        ] {
            assert!(!may(&anonymous, verb, path), "{verb:?} {path}");
        }
        let alice = Identity::new("alice", Vec::<String>::new());
        assert!(!may(&alice, Verb::Get, "/join/v1/tokens/worker"));
        assert!(may(&alice, Verb::Get, "/join/v1/ca.crt"));
    }
}
