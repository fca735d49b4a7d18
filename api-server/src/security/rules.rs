//! SelfSubjectRulesReview (`kubectl auth can-i --list`): the rules an identity has in a
//! namespace, derived from the authorizer itself by asking it about every served resource and
//! verb, so the list can never disagree with what requests are allowed to do. Non-resource URLs
//! come from the table the authorizer reads them from ([`paths::PATH_GRANTS`]).
//!
//! Node identities get `incomplete: true`: their rules depend on which objects are bound to
//! the node (Kubernetes' Node authorizer reports the same), so only unconditional rules are listed.

use serde::Serialize;

use super::authn::{Identity, MASTERS_GROUP};
use super::authz::{Authorizer, NodeRelations, ReferencedKind, RequestAttributes, Verb};
use super::paths;

/// The self reviews every authenticated user may create.
pub const SELF_REVIEWS: [(&str, &str); 3] = [
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    #[serde(rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

/// A SelfSubjectRulesReview `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rules {
    pub resource_rules: Vec<ResourceRule>,
    pub non_resource_rules: Vec<NonResourceRule>,
    pub incomplete: bool,
}

/// No object relations: rules that depend on specific objects are not granted.
struct NoRelations;

impl NodeRelations for NoRelations {
    fn task_node(&self, _: &str, _: &str) -> Option<String> {
        None
    }
    fn node_references(&self, _: &str, _: ReferencedKind, _: &str, _: &str) -> bool {
        false
    }
}

/// The rules of `who` in `namespace` over `resources` (`(group, resource)` pairs, subresources
/// as `tasks/status`): one rule per resource with the verbs the authorizer allows there.
pub fn rules_for(
    authz: &Authorizer,
    who: &Identity,
    namespace: &str,
    resources: &[(String, String)],
) -> Rules {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if who.in_group(MASTERS_GROUP) {
        return Rules {
            resource_rules: vec![ResourceRule {
                verbs: strings(&["*"]),
                api_groups: strings(&["*"]),
                resources: strings(&["*"]),
            }],
            non_resource_rules: vec![NonResourceRule {
                verbs: strings(&["*"]),
                non_resource_urls: strings(&["*"]),
            }],
            incomplete: false,
        };
    }
    let resource_rules = resources
        .iter()
        .filter_map(|(group, resource)| {
            let (plural, sub) = match resource.split_once('/') {
                Some((plural, sub)) => (plural, Some(sub)),
                None => (resource.as_str(), None),
            };
            let verbs: Vec<String> = Verb::ALL
                .into_iter()
                .filter(|verb| {
                    let mut attrs = RequestAttributes::resource(*verb, group, plural);
                    attrs.subresource = sub.map(str::to_string);
                    attrs.namespace = Some(namespace.to_string()).filter(|ns| !ns.is_empty());
                    authz.authorize(who, &attrs, &NoRelations).is_allowed()
                })
                .map(|verb| verb.as_str().to_string())
                .collect();
            (!verbs.is_empty()).then(|| ResourceRule {
                verbs,
                api_groups: vec![group.clone()],
                resources: vec![resource.clone()],
            })
        })
        .collect();
    Rules {
        resource_rules,
        non_resource_rules: Verb::ALL
            .iter()
            .map(|verb| NonResourceRule {
                verbs: vec![verb.as_str().to_string()],
                non_resource_urls: paths::urls_of(who, *verb),
            })
            .filter(|rule| !rule.non_resource_urls.is_empty())
            .collect(),
        incomplete: who.node_name().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::authn::{CONTROLLER_MANAGER_USER, NODES_GROUP, SCHEDULER_USER};

    fn resources() -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = [
            ("flotilla.dev", "swarmservices"),
            ("flotilla.dev", "swarmsecrets"),
            ("flotilla.dev", "tasks"),
            ("flotilla.dev", "tasks/binding"),
        ]
        .iter()
        .map(|(g, r)| (g.to_string(), r.to_string()))
        .collect();
        all.extend(
            SELF_REVIEWS
                .iter()
                .map(|(g, r)| (g.to_string(), r.to_string())),
        );
        all
    }

    fn verbs_on(rules: &Rules, resource: &str) -> Vec<String> {
        rules
            .resource_rules
            .iter()
            .find(|r| r.resources == [resource])
            .map(|r| r.verbs.clone())
            .unwrap_or_default()
    }

    #[test]
    fn non_resource_urls_come_from_the_path_table() {
        let urls = |who: &Identity| {
            rules_for(&Authorizer::new(), who, "default", &resources()).non_resource_rules[0]
                .non_resource_urls
                .clone()
        };
        let prometheus = Identity::new("prometheus", [crate::security::authn::MONITORING_GROUP]);
        assert!(urls(&prometheus).contains(&"/metrics".to_string()));
        assert!(urls(&prometheus).contains(&"/readyz/*".to_string()));
        let alice = Identity::new("alice", Vec::<String>::new());
        assert!(!urls(&alice).contains(&"/metrics".to_string()));
        assert!(urls(&alice).contains(&"/apis/*".to_string()));
    }

    #[test]
    fn admins_get_wildcards() {
        let admin = Identity::new("flotilla:admin", [MASTERS_GROUP]);
        let rules = rules_for(&Authorizer::new(), &admin, "default", &resources());
        assert_eq!(rules.resource_rules[0].resources, ["*"]);
        assert_eq!(rules.non_resource_rules[0].non_resource_urls, ["*"]);
        assert!(!rules.incomplete);
    }

    #[test]
    fn the_scheduler_reads_binds_and_never_sees_secrets() {
        let scheduler = Identity::new(SCHEDULER_USER, Vec::<String>::new());
        let rules = rules_for(&Authorizer::new(), &scheduler, "default", &resources());
        assert_eq!(verbs_on(&rules, "tasks"), ["get", "list", "watch"]);
        assert_eq!(verbs_on(&rules, "tasks/binding"), ["create"]);
        assert!(verbs_on(&rules, "swarmsecrets").is_empty());
        assert_eq!(verbs_on(&rules, "selfsubjectrulesreviews"), ["create"]);
        assert_eq!(rules.non_resource_rules[0].verbs, ["get"]);
        assert!(!rules.incomplete);
    }

    #[test]
    fn the_controller_manager_owns_swarm_objects_and_nodes_are_incomplete() {
        let cm = Identity::new(CONTROLLER_MANAGER_USER, Vec::<String>::new());
        let rules = rules_for(&Authorizer::new(), &cm, "default", &resources());
        assert_eq!(
            verbs_on(&rules, "swarmservices"),
            ["get", "list", "watch", "update", "patch"]
        );
        assert!(verbs_on(&rules, "swarmsecrets").is_empty());

        let node = Identity::new("system:node:n1", [NODES_GROUP]);
        let rules = rules_for(&Authorizer::new(), &node, "default", &resources());
        assert!(
            rules.incomplete,
            "node rules depend on what is bound to the node"
        );
        assert!(verbs_on(&rules, "swarmservices")
            .iter()
            .all(|v| v != "create"));
    }
}
