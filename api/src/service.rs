//! `SwarmService`: Swarm's ServiceSpec as a namespaced custom resource.

// Repeated `printcolumn(type_ = …)` arguments are distinct columns, not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::endpoint::{EndpointSpec, EndpointStatus};
use crate::template::TaskTemplate;
use crate::update::{UpdateConfig, UpdateStatus};

/// A Swarm service: keep N tasks (or one per node) running from `taskTemplate`.
///
/// The `scale` subresource reads and writes `.spec.mode.replicated.replicas`, so
/// `kubectl scale ssvc/web --replicas=5` works for replicated services exactly like
/// `docker service scale web=5`. Scaling a global service or a job writes a `replicated` block next
/// to the other mode, which validation rejects ("exactly one of …"), as Swarm refuses to scale
/// non-replicated services. `status.replicas` is the desired count, `status.selector` the label
/// selector matching the service's tasks.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "SwarmService",
    plural = "swarmservices",
    namespaced,
    status = "SwarmServiceStatus",
    derive = "PartialEq",
    derive = "Default",
    shortname = "ssvc",
    category = "swarm",
    category = "all",
    doc = "A Docker-Swarm-style service: keeps tasks running from a template (flotilla.dev).",
    scale(
        spec_replicas_path = ".spec.mode.replicated.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".spec.taskTemplate.containerSpec.image"
    ),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".status.replicas"),
    printcolumn(
        name = "Running",
        type_ = "integer",
        json_path = ".status.runningReplicas"
    ),
    printcolumn(
        name = "Update",
        type_ = "string",
        json_path = ".status.updateStatus.state",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SwarmServiceSpec {
    /// Exactly one of replicated / global / replicatedJob / globalJob. Default `replicated: {replicas: 1}`.
    /// The mode type can never change on update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServiceMode>,
    // Behind an `Arc` (serialized as the template itself) so that the tasks made from one
    // version of the spec share it with the service instead of each holding a copy.
    pub task_template: Arc<TaskTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointSpec>,
    /// Rolling-update policy. Jobs may not have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// Policy used while rolling back (`failureAction` may not be `rollback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
}

/// Swarm's mode oneof: exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicated: Option<ReplicatedService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicated_job: Option<ReplicatedJob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_job: Option<GlobalJob>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicatedService {
    /// Number of tasks to keep running; 0 is legal. Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GlobalService {}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicatedJob {
    /// Tasks running at once. Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<i64>,
    /// Successful completions wanted. Default = maxConcurrent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_completions: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GlobalJob {}

/// Which of the four modes a [`ServiceMode`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModeKind {
    Replicated,
    Global,
    ReplicatedJob,
    GlobalJob,
}

impl ModeKind {
    /// The spec field name (`replicatedJob`).
    pub fn field(self) -> &'static str {
        match self {
            ModeKind::Replicated => "replicated",
            ModeKind::Global => "global",
            ModeKind::ReplicatedJob => "replicatedJob",
            ModeKind::GlobalJob => "globalJob",
        }
    }

    /// How `docker service ls` prints it (`replicated job`).
    pub fn display(self) -> &'static str {
        match self {
            ModeKind::Replicated => "replicated",
            ModeKind::Global => "global",
            ModeKind::ReplicatedJob => "replicated job",
            ModeKind::GlobalJob => "global job",
        }
    }

    pub fn is_job(self) -> bool {
        matches!(self, ModeKind::ReplicatedJob | ModeKind::GlobalJob)
    }
}

impl ServiceMode {
    /// Every mode that is set (valid specs have exactly one).
    pub fn kinds(&self) -> Vec<ModeKind> {
        let mut kinds = Vec::new();
        if self.replicated.is_some() {
            kinds.push(ModeKind::Replicated);
        }
        if self.global.is_some() {
            kinds.push(ModeKind::Global);
        }
        if self.replicated_job.is_some() {
            kinds.push(ModeKind::ReplicatedJob);
        }
        if self.global_job.is_some() {
            kinds.push(ModeKind::GlobalJob);
        }
        kinds
    }

    /// The mode, if exactly one is set.
    pub fn kind(&self) -> Option<ModeKind> {
        match self.kinds().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

impl SwarmServiceSpec {
    /// The mode, treating an unset mode as replicated (the default).
    pub fn mode_kind(&self) -> Option<ModeKind> {
        match &self.mode {
            None => Some(ModeKind::Replicated),
            Some(mode) => mode.kind(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SwarmServiceStatus {
    /// Desired task count (replicas, maxConcurrent for replicated jobs, eligible nodes for global).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    /// Tasks whose observed state is RUNNING.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_replicas: Option<i64>,
    /// The node of each task observed RUNNING and still desired RUNNING (one entry per task,
    /// sorted), written by the controller-manager from the Tasks the scheduler bound. The routing
    /// mesh sends the service's ingress traffic only to these nodes' addresses, never to an
    /// address a node claims for itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running_nodes: Vec<String>,
    /// The addresses of those same tasks, per network (sorted, without prefix length): what a
    /// node's DNS answers for `tasks.<service>` (and for the name in `dnsrr` mode) and where
    /// its VIP proxy sends connections. Written by the controller-manager, like `runningNodes`
    /// (Kubernetes' EndpointSlices, read by kube-proxy and CoreDNS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_addresses: Vec<NetworkAddresses>,
    /// Jobs: tasks that reached COMPLETE in the current iteration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_tasks: Option<i64>,
    /// Label selector of the service's tasks (for the scale subresource), `flotilla.dev/service=<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Version of the spec the tasks should run; copied into every task (`spec_version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The spec before the last update: one level of rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_spec: Option<Box<SwarmServiceSpec>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_spec_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_status: Option<UpdateStatus>,
    /// Allocated published ports and virtual IPs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Incremented on every update of a job; tasks of older iterations are removed.
    pub job_iteration: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_execution: Option<Time>,
}

/// The addresses of a service's serving tasks on one network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkAddresses {
    /// SwarmNetwork name.
    pub network: String,
    /// IP addresses, e.g. `10.0.1.3`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}
