//! The networks a task joins, read when it is prepared: each template network's allocated
//! subnet and gateway (SwarmNetwork status) and the task's address on it (Task spec, written by
//! the allocator). The ingress network is left out: the routing mesh is the agent's own.

use flotilla_api::{SwarmNetwork, Task};
use kube::{Api, Client};

use crate::runtime::NetworkRun;

/// The task's networks in template order, or why it cannot join them (the task is rejected).
pub async fn resolve(client: &Client, task: &Task) -> Result<Vec<NetworkRun>, String> {
    let ns = task.metadata.namespace.clone().unwrap_or_default();
    let api: Api<SwarmNetwork> = Api::namespaced(client.clone(), &ns);
    let mut out = Vec::new();
    for wanted in &task.spec.template.networks {
        let net = api
            .get_opt(&wanted.target)
            .await
            .map_err(|e| format!("reading network {:?}: {e}", wanted.target))?
            .ok_or_else(|| format!("network {:?} not found", wanted.target))?;
        if net.spec.ingress == Some(true) {
            continue;
        }
        out.push(network_run(&net, task)?);
    }
    Ok(out)
}

/// One network as the runtime needs it.
pub fn network_run(net: &SwarmNetwork, task: &Task) -> Result<NetworkRun, String> {
    let name = net.metadata.name.clone().unwrap_or_default();
    let status = net.status.clone().unwrap_or_default();
    let subnet = status
        .subnet
        .ok_or_else(|| format!("network {name:?} has no subnet allocated yet"))?;
    let gateway = status.gateway.unwrap_or_default();
    let address = task
        .spec
        .networks
        .iter()
        .find(|a| a.network == name)
        .and_then(|a| a.addresses.first())
        .and_then(|a| a.split('/').next())
        .map(str::to_string);
    Ok(NetworkRun {
        name,
        subnet,
        gateway,
        internal: net.spec.internal == Some(true),
        attachable: net.spec.attachable == Some(true),
        address,
    })
}
