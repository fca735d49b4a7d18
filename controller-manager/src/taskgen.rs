//! Building new Task objects from a service (Swarm's `orchestrator.NewTask`).

use std::collections::BTreeMap;

use flotilla_api::{SwarmService, Task, TaskSpec, TaskState, API_VERSION, SERVICE_LABEL};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use rand::Rng;

/// Where a task goes: a replica slot, or a node (global services). Tasks at one placement are
/// one "slot" for restarts, rolling updates and history.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placement {
    Slot(i64),
    Node(String),
}

impl Placement {
    /// A task's placement: its slot, else (global) its node.
    pub fn of(task: &Task) -> Placement {
        match (task.spec.slot, &task.spec.node_name) {
            (Some(slot), _) => Placement::Slot(slot),
            (None, Some(node)) => Placement::Node(node.clone()),
            (None, None) => Placement::Slot(0),
        }
    }
}

/// Swarm's 25-character base-36 random id (`identity.NewID`).
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..25)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The service's spec version: its generation (bumped by the api-server on every spec change).
pub fn spec_version(svc: &SwarmService) -> i64 {
    svc.metadata.generation.unwrap_or(1)
}

/// A task for `svc` at `placement` (`<service>.<slot>.<id>` or `<service>.<node>.<id>`), owned by
/// the service (controller reference) and labelled `flotilla.dev/service=<name>`; job tasks carry
/// the job iteration.
pub fn new_task(svc: &SwarmService, placement: &Placement, desired: TaskState) -> Task {
    let name = svc.name_any();
    let (slot, node, middle) = match placement {
        Placement::Slot(slot) => (Some(*slot), None, slot.to_string()),
        Placement::Node(node) => (None, Some(node.clone()), node.clone()),
    };
    let owner = OwnerReference {
        api_version: API_VERSION.to_string(),
        kind: "SwarmService".to_string(),
        name: name.clone(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let labels = BTreeMap::from([(SERVICE_LABEL.to_string(), name.clone())]);
    Task {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{middle}.{}", new_id())),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: TaskSpec {
            service_name: name,
            service_uid: svc.metadata.uid.clone(),
            slot,
            node_name: node,
            desired_state: desired,
            spec_version: Some(spec_version(svc)),
            template: svc.spec.task_template.clone(),
            endpoint: svc.spec.endpoint.clone(),
            networks: Vec::new(),
            job_iteration: crate::jobs::iteration(svc),
        },
        status: None,
    }
}

/// Swarm's `IsTaskDirty`: the task was made from another spec version and its template or
/// endpoint differ (replicas, update config or labels alone do not redeploy).
pub fn is_dirty(svc: &SwarmService, task: &Task) -> bool {
    if task.spec.spec_version == Some(spec_version(svc)) {
        return false;
    }
    *task.spec.template != *svc.spec.task_template || task.spec.endpoint != svc.spec.endpoint
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::service;

    #[test]
    fn task_names_labels_and_owner() {
        let svc = service("web", 3);
        let task = new_task(&svc, &Placement::Slot(2), TaskState::Running);
        let name = task.name_any();
        assert!(name.starts_with("web.2."), "{name}");
        assert_eq!(name.len(), "web.2.".len() + 25);
        assert_eq!(task.labels()[SERVICE_LABEL], "web");
        let owner = &task.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("SwarmService", "uid-web")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(task.spec.spec_version, Some(1));
        assert_eq!(task.spec.template.container_spec.image, "nginx");
        let global = new_task(&svc, &Placement::Node("n1".into()), TaskState::Running);
        assert!(global.name_any().starts_with("web.n1."));
        assert_eq!(global.spec.node_name.as_deref(), Some("n1"));
    }

    #[test]
    fn dirty_only_when_template_changed_in_a_new_version() {
        let mut svc = service("web", 3);
        let task = new_task(&svc, &Placement::Slot(1), TaskState::Running);
        svc.metadata.generation = Some(2);
        svc.spec
            .mode
            .as_mut()
            .unwrap()
            .replicated
            .as_mut()
            .unwrap()
            .replicas = Some(5);
        assert!(!is_dirty(&svc, &task), "scaling does not redeploy");
        std::sync::Arc::make_mut(&mut svc.spec.task_template)
            .container_spec
            .image = "nginx:2".into();
        assert!(is_dirty(&svc, &task));
    }
}
