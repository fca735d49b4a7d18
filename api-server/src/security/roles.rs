//! The control-plane components' roles: exactly the reads and writes their loops make, nothing
//! more (kube-scheduler's and kube-controller-manager's bootstrap ClusterRoles play this part in
//! Kubernetes). Neither may read a SwarmSecret or SwarmConfig: only the node that runs a Task
//! needs those (see `node_rules`).
//!
//! * the scheduler watches Tasks and SwarmNodes, binds Tasks (`tasks/binding`), writes Task
//!   status when a Task cannot be placed, records events and elects a leader with a Lease;
//! * the controller-manager watches SwarmServices, Tasks, SwarmNodes, SwarmNetworks and the nodes'
//!   heartbeat Leases; it creates, patches and deletes Tasks, writes the status of services,
//!   networks and nodes, rolls back a service's spec and removes its finalizers (an update),
//!   records events and elects a leader.

use super::attributes::{
    RequestAttributes, Verb, COORDINATION_GROUP, EVENTS_GROUP, FLOTILLA_GROUP,
};

/// Some verbs on one resource (or subresource) of one API group.
struct Grant {
    group: &'static str,
    resource: &'static str,
    subresource: Option<&'static str>,
    verbs: &'static [Verb],
}

const READ: &[Verb] = &[Verb::Get, Verb::List, Verb::Watch];
const WRITE_STATUS: &[Verb] = &[Verb::Get, Verb::Update, Verb::Patch];
const RECORD: &[Verb] = &[Verb::Create, Verb::Update, Verb::Patch];
const ELECT: &[Verb] = &[
    Verb::Get,
    Verb::List,
    Verb::Watch,
    Verb::Create,
    Verb::Update,
    Verb::Patch,
];

const fn grant(
    group: &'static str,
    resource: &'static str,
    subresource: Option<&'static str>,
    verbs: &'static [Verb],
) -> Grant {
    Grant {
        group,
        resource,
        subresource,
        verbs,
    }
}

const SCHEDULER: &[Grant] = &[
    grant(FLOTILLA_GROUP, "tasks", None, READ),
    grant(FLOTILLA_GROUP, "tasks", Some("binding"), &[Verb::Create]),
    grant(FLOTILLA_GROUP, "tasks", Some("status"), WRITE_STATUS),
    grant(FLOTILLA_GROUP, "swarmnodes", None, READ),
    grant(COORDINATION_GROUP, "leases", None, ELECT),
    grant("", "events", None, RECORD),
    grant(EVENTS_GROUP, "events", None, RECORD),
];

const CONTROLLER_MANAGER: &[Grant] = &[
    grant(
        FLOTILLA_GROUP,
        "swarmservices",
        None,
        &[
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Update,
            Verb::Patch,
        ],
    ),
    grant(
        FLOTILLA_GROUP,
        "swarmservices",
        Some("status"),
        WRITE_STATUS,
    ),
    grant(
        FLOTILLA_GROUP,
        "tasks",
        None,
        &[
            Verb::Get,
            Verb::List,
            Verb::Watch,
            Verb::Create,
            Verb::Update,
            Verb::Patch,
            Verb::Delete,
        ],
    ),
    grant(FLOTILLA_GROUP, "tasks", Some("status"), WRITE_STATUS),
    grant(FLOTILLA_GROUP, "swarmnodes", None, READ),
    grant(FLOTILLA_GROUP, "swarmnodes", Some("status"), WRITE_STATUS),
    grant(FLOTILLA_GROUP, "swarmnetworks", None, READ),
    grant(
        FLOTILLA_GROUP,
        "swarmnetworks",
        Some("status"),
        WRITE_STATUS,
    ),
    grant(COORDINATION_GROUP, "leases", None, ELECT),
    grant("", "events", None, RECORD),
    grant(EVENTS_GROUP, "events", None, RECORD),
];

fn allows(grants: &[Grant], r: &RequestAttributes) -> bool {
    grants.iter().any(|g| {
        g.group == r.api_group
            && g.resource == r.resource
            && g.subresource == r.subresource.as_deref()
            && g.verbs.contains(&r.verb)
    })
}

pub(crate) fn scheduler_may(r: &RequestAttributes) -> bool {
    allows(SCHEDULER, r)
}

pub(crate) fn controller_manager_may(r: &RequestAttributes) -> bool {
    allows(CONTROLLER_MANAGER, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flotilla(verb: Verb, resource: &str) -> RequestAttributes {
        RequestAttributes::resource(verb, FLOTILLA_GROUP, resource).in_namespace("default")
    }

    #[test]
    fn neither_component_reads_secrets_or_configs() {
        for resource in ["swarmsecrets", "swarmconfigs"] {
            for verb in Verb::ALL {
                let r = flotilla(verb, resource);
                assert!(
                    !scheduler_may(&r) && !controller_manager_may(&r),
                    "{verb} {resource}"
                );
            }
        }
    }

    #[test]
    fn the_controller_manager_manages_tasks_but_only_updates_services() {
        assert!(controller_manager_may(&flotilla(Verb::Delete, "tasks")));
        assert!(controller_manager_may(&flotilla(
            Verb::Update,
            "swarmservices"
        )));
        assert!(controller_manager_may(
            &flotilla(Verb::Patch, "swarmnetworks").with_subresource("status")
        ));
        for verb in [Verb::Create, Verb::Delete, Verb::DeleteCollection] {
            assert!(
                !controller_manager_may(&flotilla(verb, "swarmservices")),
                "{verb}"
            );
        }
        assert!(!controller_manager_may(&flotilla(
            Verb::Update,
            "swarmnodes"
        )));
        let namespaces = RequestAttributes::resource(Verb::Delete, "", "namespaces");
        assert!(!controller_manager_may(&namespaces));
    }

    #[test]
    fn the_scheduler_reads_tasks_and_nodes_and_binds() {
        assert!(scheduler_may(&flotilla(Verb::Watch, "tasks")));
        assert!(scheduler_may(
            &flotilla(Verb::Create, "tasks").with_subresource("binding")
        ));
        assert!(!scheduler_may(&flotilla(Verb::Create, "tasks")));
        assert!(!scheduler_may(&flotilla(Verb::List, "swarmservices")));
        assert!(!scheduler_may(
            &flotilla(Verb::Update, "swarmnodes").with_subresource("status")
        ));
    }
}
