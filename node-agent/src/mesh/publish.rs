//! Publishes this node's Running tasks' addresses on its own SwarmNode: what its mesh serves
//! locally, for people (`kubectl get swarmnode -o yaml`) and tests. No mesh routes by it: a node
//! writes its own annotations, so they are only its claim (see `mesh.rs`).

use std::sync::Arc;

use flotilla_api::SwarmNode;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;

use crate::endpoints::Endpoints;

/// SwarmNode annotation: JSON `{"<namespace>/<service>": ["<container ip>", …]}`.
pub const ENDPOINTS_ANNOTATION: &str = "flotilla.dev/mesh-endpoints";

/// Writes the annotation whenever the local endpoints change, until `stop` flips.
pub async fn publish(
    client: Client,
    node: String,
    endpoints: Arc<Endpoints>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<SwarmNode> = Api::all(client);
    let mut changes = endpoints.subscribe();
    let mut last: Option<String> = None;
    loop {
        let value = serde_json::to_string(&endpoints.snapshot()).unwrap_or_default();
        if last.as_deref() != Some(value.as_str()) {
            let patch = json!({ "metadata": { "annotations": { ENDPOINTS_ANNOTATION: value } } });
            match api
                .patch(&node, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => last = Some(value),
                Err(e) => tracing::warn!(%node, error = %e, "publishing mesh endpoints failed"),
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = changes.changed() => {}
            // Retry a failed write.
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)), if last.is_none() => {}
        }
    }
}
