//! Service status: desired/running counts (`kubectl get ssvc` shows `3/3`), the scale selector,
//! spec version and the previous spec (one level of rollback).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use flotilla_api::service::{ModeKind, NetworkAddresses};
use flotilla_api::{SwarmService, SwarmServiceSpec, Task, TaskState, SERVICE_LABEL};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::{json, Map, Value};

use crate::action::Action;
use crate::snapshot::{ns_of, observed, Snapshot};
use crate::taskgen::spec_version;

/// The last spec seen per service uid, so `previousSpec` can be written when a new one arrives.
#[derive(Debug, Default)]
pub struct SpecMemory {
    seen: HashMap<String, (i64, SwarmServiceSpec)>,
}

impl SpecMemory {
    /// Status patch for `svc`, or nothing when the status is already right.
    pub fn reconcile(&mut self, snap: &Snapshot, svc: &SwarmService) -> Option<Action> {
        let tasks = snap.tasks_of(svc);
        let status = svc.status.clone().unwrap_or_default();
        let version = spec_version(svc);
        let mut patch = Map::new();
        let (desired, running) = match crate::jobs::iteration(svc) {
            Some(_) => job_counts(svc, &tasks),
            None => (desired_count(snap, svc, &tasks), running_count(&tasks)),
        };
        let selector = format!("{SERVICE_LABEL}={}", svc.name_any());
        let mut set = |k: &str, changed: bool, v: Value| {
            if changed {
                patch.insert(k.to_string(), v);
            }
        };
        set("replicas", status.replicas != Some(desired), json!(desired));
        set(
            "runningReplicas",
            status.running_replicas != Some(running),
            json!(running),
        );
        let nodes = running_nodes(&tasks);
        set("runningNodes", status.running_nodes != nodes, json!(nodes));
        let addresses = task_addresses(&tasks);
        set(
            "taskAddresses",
            status.task_addresses != addresses,
            json!(addresses),
        );
        set(
            "selector",
            status.selector.as_deref() != Some(&selector),
            json!(selector),
        );
        set(
            "observedGeneration",
            status.observed_generation != Some(version),
            json!(version),
        );
        if let Some(job) = job_status(svc, &tasks) {
            patch.extend(job);
        }
        if status.spec_version != Some(version) {
            patch.insert("specVersion".into(), json!(version));
            if let Some(old) = status.spec_version {
                let previous = self.previous(svc, old, &tasks);
                patch.insert("previousSpec".into(), json!(previous));
                patch.insert("previousSpecVersion".into(), json!(old));
            }
        }
        self.seen
            .insert(svc.uid().unwrap_or_default(), (version, svc.spec.clone()));
        (!patch.is_empty()).then(|| Action::ServiceStatus {
            ns: ns_of(svc),
            name: svc.name_any(),
            patch: Value::Object(patch),
        })
    }

    /// The spec at `old_version`: remembered, else rebuilt from the current spec with the task
    /// template and endpoint of tasks created from that version.
    fn previous(
        &self,
        svc: &SwarmService,
        old_version: i64,
        tasks: &[std::sync::Arc<Task>],
    ) -> SwarmServiceSpec {
        if let Some((v, spec)) = self.seen.get(&svc.uid().unwrap_or_default()) {
            if *v == old_version {
                return spec.clone();
            }
        }
        let mut spec = svc.spec.clone();
        if let Some(t) = tasks
            .iter()
            .find(|t| t.spec.spec_version == Some(old_version))
        {
            spec.task_template = t.spec.template.clone();
            spec.endpoint = t.spec.endpoint.clone();
        }
        spec
    }
}

/// Observed RUNNING and still meant to run: counted, and served by the routing mesh.
fn serving(t: &Task) -> bool {
    observed(t) == TaskState::Running && t.spec.desired_state <= TaskState::Running
}

fn running_count(tasks: &[Arc<Task>]) -> i64 {
    tasks.iter().filter(|t| serving(t)).count() as i64
}

/// The node of every serving task, sorted: the routing mesh's backends (the scheduler bound
/// these tasks, so a node cannot add itself to a service it does not run).
fn running_nodes(tasks: &[Arc<Task>]) -> Vec<String> {
    let mut nodes: Vec<String> = tasks
        .iter()
        .filter(|t| serving(t))
        .filter_map(|t| t.spec.node_name.clone())
        .collect();
    nodes.sort();
    nodes
}

/// The addresses of every serving task per network, sorted: what nodes' DNS and VIP proxies
/// resolve and forward to (a stopping or unhealthy task is not serving, so it leaves the list).
fn task_addresses(tasks: &[Arc<Task>]) -> Vec<NetworkAddresses> {
    let mut by_network: BTreeMap<&str, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| serving(t)) {
        for att in &t.spec.networks {
            let ips = att
                .addresses
                .iter()
                .filter_map(|a| a.split('/').next()?.parse::<Ipv4Addr>().ok());
            by_network.entry(&att.network).or_default().extend(ips);
        }
    }
    by_network
        .into_iter()
        .map(|(network, ips)| NetworkAddresses {
            network: network.to_string(),
            addresses: ips.iter().map(Ipv4Addr::to_string).collect(),
        })
        .collect()
}

/// Jobs, current iteration: desired is maxConcurrent (replicated) or the tasks still to complete
/// (global), running the tasks observed RUNNING that are meant to complete, as docker service ls.
fn job_counts(svc: &SwarmService, tasks: &[Arc<Task>]) -> (i64, i64) {
    let current = crate::jobs::current(svc, tasks);
    let running = current
        .iter()
        .filter(|t| {
            observed(t) == TaskState::Running && t.spec.desired_state <= TaskState::Complete
        })
        .count() as i64;
    let desired = match crate::jobs::limits(svc) {
        Some((max_concurrent, _)) => max_concurrent,
        None => current.iter().filter(|t| crate::jobs::live(t)).count() as i64,
    };
    (desired, running)
}

/// `completedTasks` and `jobStatus` (iteration, and when it started) when they changed.
fn job_status(svc: &SwarmService, tasks: &[Arc<Task>]) -> Option<Map<String, Value>> {
    let iteration = crate::jobs::iteration(svc)?;
    let status = svc.status.clone().unwrap_or_default();
    let completed = crate::jobs::current(svc, tasks)
        .iter()
        .filter(|t| observed(t) == TaskState::Complete)
        .count() as i64;
    let mut patch = Map::new();
    if status.completed_tasks != Some(completed) {
        patch.insert("completedTasks".into(), json!(completed));
    }
    if status.job_status.map(|j| j.job_iteration) != Some(iteration) {
        let now = Time(Timestamp::now());
        patch.insert(
            "jobStatus".into(),
            json!({"jobIteration": iteration, "lastExecution": now}),
        );
    }
    Some(patch)
}

/// Replicas for replicated services, runnable tasks for global ones.
fn desired_count(_snap: &Snapshot, svc: &SwarmService, tasks: &[Arc<Task>]) -> i64 {
    match svc.spec.mode_kind() {
        Some(ModeKind::Replicated) => crate::replicated::replicas(svc),
        _ => tasks
            .iter()
            .filter(|t| t.spec.desired_state <= TaskState::Running)
            .count() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{service, snapshot, task};
    use TaskState::*;

    #[test]
    fn counts_running_and_sets_selector() {
        let svc = service("web", 3);
        let tasks = vec![
            task(&svc, 1, Some("n1"), Running, Running, 1),
            task(&svc, 2, Some("n2"), Running, Running, 2),
            task(&svc, 3, None, Running, Pending, 3),
            task(&svc, 4, Some("n3"), Shutdown, Running, 4),
        ];
        let snap = snapshot(vec![svc.clone()], tasks, vec![]);
        let Some(Action::ServiceStatus { patch, .. }) =
            SpecMemory::default().reconcile(&snap, &svc)
        else {
            panic!("expected a status patch");
        };
        assert_eq!(patch["replicas"], 3);
        assert_eq!(patch["runningReplicas"], 2);
        assert_eq!(patch["runningNodes"], json!(["n1", "n2"]));
        assert_eq!(patch["selector"], "flotilla.dev/service=web");
        assert!(
            patch.get("taskAddresses").is_none(),
            "no networks, no addresses"
        );
        assert_eq!(patch["specVersion"], 1);
    }

    #[test]
    fn task_addresses_list_serving_tasks_per_network() {
        let svc = service("api", 3);
        let attach = |mut t: Task, ip: &str| {
            t.spec.networks = vec![flotilla_api::task::NetworkAttachment {
                network: "backend".into(),
                addresses: vec![format!("{ip}/24")],
                aliases: vec![],
            }];
            t
        };
        let tasks = vec![
            attach(task(&svc, 1, Some("n1"), Running, Running, 1), "10.0.1.10"),
            attach(task(&svc, 2, Some("n2"), Running, Running, 2), "10.0.1.9"),
            // Stopping: still running, no longer served.
            attach(task(&svc, 3, Some("n2"), Shutdown, Running, 3), "10.0.1.4"),
            attach(task(&svc, 4, Some("n1"), Running, Starting, 4), "10.0.1.5"),
        ];
        let snap = snapshot(vec![svc.clone()], tasks, vec![]);
        let Some(Action::ServiceStatus { patch, .. }) =
            SpecMemory::default().reconcile(&snap, &svc)
        else {
            panic!("expected a status patch");
        };
        assert_eq!(
            patch["taskAddresses"],
            json!([{"network": "backend", "addresses": ["10.0.1.9", "10.0.1.10"]}])
        );
    }

    #[test]
    fn jobs_count_current_iteration_running_and_completed() {
        let mut svc = service("batch", 1);
        svc.spec.mode = Some(flotilla_api::service::ServiceMode {
            replicated_job: Some(flotilla_api::service::ReplicatedJob {
                max_concurrent: Some(2),
                total_completions: Some(5),
            }),
            ..Default::default()
        });
        let old = task(&svc, 0, Some("n1"), Complete, Complete, 1);
        svc.metadata.generation = Some(3);
        let tasks = vec![
            old,
            task(&svc, 0, Some("n1"), Complete, Complete, 2),
            task(&svc, 1, Some("n1"), Complete, Complete, 3),
            task(&svc, 2, Some("n1"), Complete, Running, 4),
            task(&svc, 3, Some("n1"), Complete, Pending, 5),
        ];
        let snap = snapshot(vec![svc.clone()], tasks, vec![]);
        let Some(Action::ServiceStatus { patch, .. }) =
            SpecMemory::default().reconcile(&snap, &svc)
        else {
            panic!("expected a status patch");
        };
        assert_eq!(patch["replicas"], 2, "maxConcurrent, as docker service ls");
        assert_eq!(patch["runningReplicas"], 1);
        assert_eq!(
            patch["completedTasks"], 2,
            "the old iteration's completion does not count"
        );
        assert_eq!(patch["jobStatus"]["jobIteration"], 2);
        assert!(patch["jobStatus"]["lastExecution"].is_string());
        let mut seen = svc.clone();
        seen.status = Some(
            serde_json::from_value(json!({"completedTasks": 2, "jobStatus": {"jobIteration": 2}}))
                .unwrap(),
        );
        let Some(Action::ServiceStatus { patch, .. }) =
            SpecMemory::default().reconcile(&snap, &seen)
        else {
            panic!("expected a status patch");
        };
        assert!(patch.get("jobStatus").is_none() && patch.get("completedTasks").is_none());
    }

    #[test]
    fn global_job_desires_the_tasks_still_to_complete() {
        let mut svc = service("once", 1);
        svc.spec.mode = Some(flotilla_api::service::ServiceMode {
            global_job: Some(Default::default()),
            ..Default::default()
        });
        let tasks = vec![
            task(&svc, 0, Some("n1"), Complete, Complete, 1),
            task(&svc, 0, Some("n2"), Complete, Running, 2),
            task(&svc, 0, Some("n3"), Complete, Assigned, 3),
        ];
        let snap = snapshot(vec![svc.clone()], tasks, vec![]);
        let Some(Action::ServiceStatus { patch, .. }) =
            SpecMemory::default().reconcile(&snap, &svc)
        else {
            panic!("expected a status patch");
        };
        assert_eq!(
            (
                &patch["replicas"],
                &patch["runningReplicas"],
                &patch["completedTasks"]
            ),
            (&json!(2), &json!(1), &json!(1)),
            "kubectl get ssvc shows 1/2 (1/3 completed)"
        );
    }

    #[test]
    fn new_generation_records_previous_spec() {
        let mut memory = SpecMemory::default();
        let mut svc = service("web", 1);
        svc.status = Some(Default::default());
        let snap = snapshot(vec![svc.clone()], vec![], vec![]);
        memory.reconcile(&snap, &svc);
        svc.status.as_mut().unwrap().spec_version = Some(1);
        svc.metadata.generation = Some(2);
        let old_image = svc.spec.task_template.container_spec.image.clone();
        std::sync::Arc::make_mut(&mut svc.spec.task_template)
            .container_spec
            .image = "nginx:2".into();
        let Some(Action::ServiceStatus { patch, .. }) = memory.reconcile(&snap, &svc) else {
            panic!()
        };
        assert_eq!(patch["specVersion"], 2);
        assert_eq!(patch["previousSpecVersion"], 1);
        assert_eq!(
            patch["previousSpec"]["taskTemplate"]["containerSpec"]["image"],
            old_image
        );
    }
}
