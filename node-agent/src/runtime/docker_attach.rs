//! Swarm's `attachable` on the Docker runtime. In Swarm, `docker run --network backend` is
//! refused unless the overlay network was created `--attachable`. A SwarmNetwork here is a local
//! bridge network, which the engine lets any container join, so the agent enforces the flag
//! after the fact: it follows the engine's network `connect` events and disconnects a container
//! that is not a Flotilla task from a Flotilla network that is not attachable. A container on an
//! attachable network stays, and reaches services through the node's resolver and VIPs like a
//! task of that network (docs/networking.md#attachable-networks).
//!
//! Every agent on an engine runs the guard; a second disconnect of the same container fails
//! harmlessly. A sweep at each (re)connection of the event stream catches what was missed.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{EventMessage, NetworkDisconnectRequest};
use bollard::query_parameters::{EventsOptions, ListNetworksOptionsBuilder};
use futures::StreamExt;

use super::docker_events::unix_now;
use super::docker_net::{ATTACHABLE_LABEL, NETWORK_LABEL};
use super::docker_spec::TASK_UID_LABEL;

/// Whether a container labelled `container` may stay on a Docker network labelled `network`:
/// always on networks that are not Flotilla's, always for Flotilla's tasks, and otherwise only
/// when the SwarmNetwork is attachable.
pub fn may_stay(network: &HashMap<String, String>, container: &HashMap<String, String>) -> bool {
    !network.contains_key(NETWORK_LABEL)
        || network.get(ATTACHABLE_LABEL).map(String::as_str) == Some("true")
        || container.contains_key(TASK_UID_LABEL)
}

/// The `filters` of the events request: containers joining networks.
pub fn filters() -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("type".to_string(), vec!["network".to_string()]),
        ("event".to_string(), vec!["connect".to_string()]),
    ])
}

/// The network and container a `connect` event is about.
pub fn connection(event: &EventMessage) -> Option<(&str, &str)> {
    let actor = event.actor.as_ref()?;
    let container = actor.attributes.as_ref()?.get("container")?;
    Some((actor.id.as_deref()?, container.as_str()))
}

/// Enforces [`may_stay`] until aborted, reconnecting to the event stream after a second.
pub async fn guard(client: bollard::Docker) {
    let mut since = unix_now();
    loop {
        sweep(&client).await;
        let options = EventsOptions {
            since: Some(since.to_string()),
            filters: Some(filters()),
            ..Default::default()
        };
        let mut stream = client.events(Some(options));
        while let Some(Ok(event)) = stream.next().await {
            since = event.time.unwrap_or(since).max(since);
            if let Some((network, container)) = connection(&event) {
                enforce(&client, network, container).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Checks every container on every Flotilla network.
async fn sweep(client: &bollard::Docker) {
    let filters = HashMap::from([("label", vec![NETWORK_LABEL])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let Ok(networks) = client.list_networks(Some(options)).await else {
        return;
    };
    for id in networks.into_iter().filter_map(|n| n.id) {
        let Ok(net) = client.inspect_network(&id, None).await else {
            continue;
        };
        for container in net.containers.unwrap_or_default().keys() {
            enforce(client, &id, container).await;
        }
    }
}

/// Disconnects `container` from `network` unless it [`may_stay`].
async fn enforce(client: &bollard::Docker, network: &str, container: &str) {
    let Ok(net) = client.inspect_network(network, None).await else {
        return;
    };
    let net_labels = net.labels.unwrap_or_default();
    if !net_labels.contains_key(NETWORK_LABEL) {
        return;
    }
    let Some(labels) = labels_of(client, container).await else {
        return;
    };
    if !may_stay(&net_labels, &labels) {
        let name = net.name.unwrap_or_default();
        tracing::warn!(network = %name, container = %container,
            "network not attachable: disconnecting a container that is not a task");
        disconnect(client, network, container).await;
    }
}

/// Disconnects the standalone containers from the Docker network of a deleted SwarmNetwork,
/// so that it can go (Swarm refuses to delete a network with attachments; here the
/// SwarmNetwork is already gone).
pub async fn detach_standalone(client: &bollard::Docker, network: &str) {
    let Ok(net) = client.inspect_network(network, None).await else {
        return;
    };
    for container in net.containers.unwrap_or_default().keys() {
        let labels = labels_of(client, container).await.unwrap_or_default();
        if !labels.contains_key(TASK_UID_LABEL) {
            tracing::info!(network, container = %container, "network deleted: disconnecting");
            disconnect(client, network, container).await;
        }
    }
}

async fn labels_of(client: &bollard::Docker, container: &str) -> Option<HashMap<String, String>> {
    let c = client.inspect_container(container, None).await.ok()?;
    Some(c.config.and_then(|c| c.labels).unwrap_or_default())
}

async fn disconnect(client: &bollard::Docker, network: &str, container: &str) {
    let request = NetworkDisconnectRequest {
        container: container.to_string(),
        force: Some(true),
    };
    if let Err(e) = client.disconnect_network(network, request).await {
        tracing::debug!(network, container, error = %e, "disconnect failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_tasks_stay_on_a_network_that_is_not_attachable() {
        let closed = labels(&[
            (NETWORK_LABEL, "default/backend"),
            (ATTACHABLE_LABEL, "false"),
        ]);
        let open = labels(&[
            (NETWORK_LABEL, "default/backend"),
            (ATTACHABLE_LABEL, "true"),
        ]);
        let foreign = labels(&[("com.example", "x")]);
        let task = labels(&[(TASK_UID_LABEL, "u-1")]);
        let standalone = labels(&[]);
        assert!(may_stay(&closed, &task));
        assert!(!may_stay(&closed, &standalone));
        assert!(!may_stay(
            &labels(&[(NETWORK_LABEL, "default/b")]),
            &standalone
        ));
        assert!(may_stay(&open, &standalone));
        assert!(may_stay(&foreign, &standalone), "not Flotilla's network");
    }

    #[test]
    fn a_connect_event_names_the_network_and_the_container() {
        let event = EventMessage {
            action: Some("connect".into()),
            actor: Some(EventActor {
                id: Some("net-1".into()),
                attributes: Some(labels(&[("container", "c-1"), ("name", "flotilla-x")])),
            }),
            ..Default::default()
        };
        assert_eq!(connection(&event), Some(("net-1", "c-1")));
        assert_eq!(connection(&EventMessage::default()), None);
        assert_eq!(filters()["event"], vec!["connect"]);
    }
}
