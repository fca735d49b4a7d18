//! URL paths to routes. Kubernetes' layout: `/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]`
//! and `/api/v1/...` for the core group.

/// A request for a resource collection or object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    /// `/api` (core versions).
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<g>/<v>`: the APIResourceList.
    GroupVersion(String, String),
    OpenApiV2,
    OpenApiV3Root,
    /// `/openapi/v3/<rest>` e.g. `apis/flotilla.dev/v1alpha1`.
    OpenApiV3(String),
    Health(String),
    Metrics,
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`.
    SelfSubjectAccessReview,
    /// `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews` (`kubectl auth can-i --list`).
    SelfSubjectRulesReview,
    /// `POST /apis/authentication.k8s.io/<v1|v1beta1>/selfsubjectreviews` (`kubectl auth whoami`).
    SelfSubjectReview(String),
    /// `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` (an extension server delegating).
    SubjectAccessReview,
    /// `POST /apis/authentication.k8s.io/v1/tokenreviews` (an extension server delegating).
    TokenReview,
    /// `/join/<rest>`: the node-join endpoints ([`crate::front::join_http`]).
    Join(String),
    Resource(ResourcePath),
    /// A resource path whose namespace or name could name no object (`..`, `a/b`): a 400.
    InvalidSegment(String),
    NotFound,
}

impl Route {
    pub fn parse(path: &str) -> Route {
        // Percent-decoded per segment, as Go's router sees paths (`%2e%2e` is `..`).
        let decoded: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode_segment)
            .collect();
        let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["version"] => Route::Version,
            ["api"] => Route::CoreVersions,
            ["apis"] => Route::Groups,
            ["apis", g] => Route::Group(g.to_string()),
            ["api", v] => Route::GroupVersion(String::new(), v.to_string()),
            ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] => {
                Route::SelfSubjectAccessReview
            }
            ["apis", "authorization.k8s.io", "v1", "selfsubjectrulesreviews"] => {
                Route::SelfSubjectRulesReview
            }
            ["apis", "authentication.k8s.io", v @ ("v1" | "v1beta1"), "selfsubjectreviews"] => {
                Route::SelfSubjectReview(v.to_string())
            }
            ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"] => {
                Route::SubjectAccessReview
            }
            ["apis", "authentication.k8s.io", "v1", "tokenreviews"] => Route::TokenReview,
            ["apis", g, v] => Route::GroupVersion(g.to_string(), v.to_string()),
            ["openapi", "v2"] | ["swagger-2.0.0.pb-v1"] => Route::OpenApiV2,
            ["openapi", "v3"] => Route::OpenApiV3Root,
            ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
            [h @ ("healthz" | "livez" | "readyz"), ..] => Route::Health(h.to_string()),
            ["metrics"] => Route::Metrics,
            ["join", rest @ ..] if !rest.is_empty() => Route::Join(rest.join("/")),
            ["api", v, rest @ ..] => resource("", v, rest),
            ["apis", g, v, rest @ ..] => resource(g, v, rest),
            _ => Route::NotFound,
        }
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (p, None, None),
        [p, n] => (p, Some(n.to_string()), None),
        [p, n, s] => (p, Some(n.to_string()), Some(s.to_string())),
        _ => return Route::NotFound,
    };
    for (what, value) in [("namespace", &namespace), ("name", &name)] {
        if let Some(problem) = value.as_deref().and_then(segment_problem) {
            return Route::InvalidSegment(format!(
                "{what} parameter invalid: {:?}: {problem}",
                value.as_deref().unwrap_or("")
            ));
        }
    }
    Route::Resource(ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        plural: plural.to_string(),
        name,
        subresource: sub,
    })
}

/// kube-apiserver's `IsValidPathSegmentName`: what no stored object's namespace or name can be.
fn segment_problem(s: &str) -> Option<&'static str> {
    match s {
        "." | ".." => Some("may not be '.' or '..'"),
        _ if s.contains('/') => Some("may not contain '/'"),
        _ if s.contains('%') => Some("may not contain '%'"),
        _ => None,
    }
}

/// Percent-decoding of one path segment (unlike a query, `+` is itself).
fn decode_segment(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    crate::wire::request::decode(&s.replace('+', "%2B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_paths_are_routed() {
        assert_eq!(
            Route::parse("/join/v1/tokens/worker/rotate"),
            Route::Join("v1/tokens/worker/rotate".into())
        );
        assert_eq!(Route::parse("/join"), Route::NotFound);
    }

    #[test]
    fn encoded_dot_segments_and_slashes_are_refused() {
        for path in [
            "/apis/flotilla.dev/v1alpha1/namespaces/%2e%2e/swarmservices",
            "/apis/flotilla.dev/v1alpha1/namespaces/%2E%2E/swarmservices/web",
            "/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices/a%2Fb",
            "/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices/%252e",
        ] {
            assert!(
                matches!(Route::parse(path), Route::InvalidSegment(_)),
                "{path}: {:?}",
                Route::parse(path)
            );
        }
        assert_eq!(
            Route::parse("/api/v1/namespaces/team%2Da/events"),
            rp("", Some("team-a"), "events", None, None)
        );
    }

    #[test]
    fn self_reviews_are_routed() {
        let rules = Route::parse("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews");
        assert_eq!(rules, Route::SelfSubjectRulesReview);
        let access = Route::parse("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
        assert_eq!(access, Route::SelfSubjectAccessReview);
    }

    fn rp(g: &str, ns: Option<&str>, p: &str, n: Option<&str>, s: Option<&str>) -> Route {
        Route::Resource(ResourcePath {
            group: g.into(),
            version: if g.is_empty() { "v1" } else { "v1alpha1" }.into(),
            namespace: ns.map(Into::into),
            plural: p.into(),
            name: n.map(Into::into),
            subresource: s.map(Into::into),
        })
    }

    #[test]
    fn parses_kubernetes_paths() {
        assert_eq!(Route::parse("/apis"), Route::Groups);
        assert_eq!(
            Route::parse("/apis/flotilla.dev/v1alpha1"),
            Route::GroupVersion("flotilla.dev".into(), "v1alpha1".into())
        );
        assert_eq!(
            Route::parse("/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices"),
            rp("flotilla.dev", Some("default"), "swarmservices", None, None)
        );
        assert_eq!(
            Route::parse("/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices/web/scale"),
            rp(
                "flotilla.dev",
                Some("default"),
                "swarmservices",
                Some("web"),
                Some("scale")
            )
        );
        assert_eq!(
            Route::parse("/apis/flotilla.dev/v1alpha1/swarmservices"),
            rp("flotilla.dev", None, "swarmservices", None, None)
        );
        assert_eq!(
            Route::parse("/apis/flotilla.dev/v1alpha1/swarmnodes/node-1/status"),
            rp(
                "flotilla.dev",
                None,
                "swarmnodes",
                Some("node-1"),
                Some("status")
            )
        );
        // The namespaces resource itself, and a namespace named like a resource.
        assert_eq!(
            Route::parse("/api/v1/namespaces"),
            rp("", None, "namespaces", None, None)
        );
        assert_eq!(
            Route::parse("/api/v1/namespaces/default"),
            rp("", None, "namespaces", Some("default"), None)
        );
        assert_eq!(
            Route::parse("/api/v1/namespaces/default/events"),
            rp("", Some("default"), "events", None, None)
        );
        assert_eq!(
            Route::parse("/openapi/v3/apis/flotilla.dev/v1alpha1"),
            Route::OpenApiV3("apis/flotilla.dev/v1alpha1".into())
        );
    }
}
