//! Deleting a SwarmNetwork that a service or a live task still uses is refused, as
//! `docker network rm` refuses ("network is in use by service …"): the tasks would lose their
//! addresses and name resolution while they run. Kubernetes has no direct equivalent (a CNI
//! network is not an API object); the closest is the PVC protection finalizer, which defers
//! rather than refuses. Flotilla refuses, with a 409 naming the service and the field.

use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::store::state::ApiServer;
use crate::wire::errors::{ApiError, Result};

const GROUP: &str = "flotilla.dev";

/// Ok unless `info` is swarmnetworks and `ns/name` is still attached to a service or a task.
pub async fn check(
    server: &ApiServer,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<()> {
    if info.group != GROUP || info.plural != "swarmnetworks" {
        return Ok(());
    }
    let user = match first_user(server, ns, name).await? {
        Some(user) => user,
        None => return Ok(()),
    };
    Err(ApiError::Conflict {
        resource: info.group_resource(),
        name: name.to_string(),
        message: format!("network {name} is in use by {user}"),
    })
}

/// The first service or live task attached to the network, described for the user.
async fn first_user(server: &ApiServer, ns: Option<&str>, name: &str) -> Result<Option<String>> {
    for service in list(server, "swarmservices", ns).await? {
        if let Some(i) = service_uses(&service, name) {
            return Ok(Some(format!(
                "service {:?} (spec.taskTemplate.networks[{i}].target)",
                service["metadata"]["name"].as_str().unwrap_or("")
            )));
        }
    }
    for task in list(server, "tasks", ns).await? {
        if task_uses(&task, name) {
            return Ok(Some(format!(
                "task {:?} (spec.networks)",
                task["metadata"]["name"].as_str().unwrap_or("")
            )));
        }
    }
    Ok(None)
}

async fn list(server: &ApiServer, plural: &str, ns: Option<&str>) -> Result<Vec<Value>> {
    let Some(info) = server.registry.get(GROUP, "v1alpha1", plural) else {
        return Ok(Vec::new());
    };
    Ok(server.rs.list(info, ns, "", 0, 0).await?.0)
}

/// The index of the template network naming `network`, for a service not being deleted.
pub fn service_uses(service: &Value, network: &str) -> Option<usize> {
    if crate::store::metadata::is_deleting(service) {
        return None;
    }
    service["spec"]["taskTemplate"]["networks"]
        .as_array()?
        .iter()
        .position(|n| n["target"] == network)
}

/// A task attached to `network` whose container may still run (not yet in a terminal state).
pub fn task_uses(task: &Value, network: &str) -> bool {
    const TERMINAL: [&str; 6] = [
        "Complete", "Shutdown", "Failed", "Rejected", "Remove", "Orphaned",
    ];
    let state = task["status"]["state"].as_str().unwrap_or("New");
    !TERMINAL.contains(&state)
        && task["spec"]["networks"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n["network"] == network))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn services_and_live_tasks_hold_a_network() {
        let svc = json!({"metadata": {"name": "api"},
            "spec": {"taskTemplate": {"networks": [{"target": "front"}, {"target": "backend"}]}}});
        assert_eq!(service_uses(&svc, "backend"), Some(1));
        assert_eq!(service_uses(&svc, "other"), None);
        let mut deleting = svc.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(service_uses(&deleting, "backend"), None);
        let task = |state: &str| {
            json!({"metadata": {"name": "api.1"}, "status": {"state": state},
                "spec": {"networks": [{"network": "backend", "addresses": ["10.0.1.3/24"]}]}})
        };
        assert!(task_uses(&task("Running"), "backend"));
        assert!(!task_uses(&task("Shutdown"), "backend"));
        assert!(!task_uses(&task("Running"), "front"));
    }
}
