//! Builders for SwarmNodes and Tasks created directly through the API (no controller-manager or
//! node agents needed), for scheduler tests and benchmarks; what the failover tests look at.

use std::ops::RangeInclusive;
use std::time::Duration;

use flotilla_api::{SwarmNode, Task, TaskState};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

/// Creates a Ready, active SwarmNode with `labels` and 4 CPUs / 8 GiB.
pub async fn create_node(client: &kube::Client, name: &str, labels: Value) -> anyhow::Result<()> {
    let api: Api<SwarmNode> = Api::all(client.clone());
    let node: SwarmNode = serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmNode",
        "metadata": {"name": name, "labels": labels},
        "spec": {"availability": "active", "role": "worker"},
    }))?;
    api.create(&PostParams::default(), &node).await?;
    let status = json!({"status": {
        "state": "ready", "hostname": name, "addr": "10.0.0.1",
        "platform": {"os": "linux", "architecture": "amd64"},
        "resources": {"nanoCpus": 4_000_000_000i64, "memoryBytes": 8i64 << 30},
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// A Pending task of `service` (slot `slot`), with `template` merged into a minimal one.
pub fn task(service: &str, slot: i64, template: Value, node: Option<&str>) -> anyhow::Result<Task> {
    let mut tmpl = json!({"containerSpec": {"image": "flotilla/web:latest"}});
    if let (Some(t), Some(extra)) = (tmpl.as_object_mut(), template.as_object()) {
        t.extend(extra.clone());
    }
    let name = match node {
        Some(n) => format!("{service}.{n}"),
        None => format!("{service}.{slot}"),
    };
    Ok(serde_json::from_value(json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
        "metadata": {"name": name, "labels": {flotilla_api::SERVICE_LABEL: service}},
        "spec": {"serviceName": service, "slot": slot, "desiredState": "Running",
                 "specVersion": 1, "template": tmpl, "nodeName": node},
    }))?)
}

/// Creates the task and moves it to Pending (what the allocator does).
pub async fn create_pending(client: &kube::Client, ns: &str, task: &Task) -> anyhow::Result<()> {
    let api: Api<Task> = Api::namespaced(client.clone(), ns);
    let created = api.create(&PostParams::default(), task).await?;
    let name = created.metadata.name.unwrap_or_default();
    let status = json!({"status": {"state": "Pending", "message": "pending task scheduling"}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}

/// Failover tests: the identity holding Lease `kube-system/<name>`, if any.
pub async fn lease_holder(client: &kube::Client, name: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease = leases.get_opt(name).await.unwrap()?;
    lease.spec?.holder_identity
}

/// Waits until exactly `n` Tasks in `default` are ASSIGNED to a node, failing after `timeout`.
pub async fn wait_assigned(client: &kube::Client, n: usize, timeout: Duration) {
    let api: Api<Task> = Api::namespaced(client.clone(), "default");
    let what = format!("{n} tasks assigned");
    crate::probe::wait_for(&what, timeout, || async {
        let tasks = api.list(&ListParams::default()).await.ok()?.items;
        let assigned = tasks
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::Assigned))
            .filter(|t| t.spec.node_name.is_some())
            .count();
        (assigned == n).then_some(())
    })
    .await
}

/// Creates Pending tasks of service `web` in `default` for `slots`.
pub async fn create_web_tasks(client: &kube::Client, slots: RangeInclusive<i64>) {
    for slot in slots {
        let t = task("web", slot, json!({}), None).unwrap();
        create_pending(client, "default", &t).await.unwrap();
    }
}
