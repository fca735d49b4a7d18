//! The node's own objects: its SwarmNode (registered once, status kept current) and its
//! heartbeat Lease `flotilla-node-lease/<node>`, renewed every heartbeat period.

use flotilla_api::node::{EngineDescription, NodeState};
use flotilla_api::template::{Platform, Resources};
use flotilla_api::{SwarmNode, SwarmNodeSpec, SwarmNodeStatus};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::runtime::NodeDescription;

/// Namespace of node heartbeat Leases (the api-server's node authorizer allows exactly this one).
pub const LEASE_NAMESPACE: &str = "flotilla-node-lease";

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("registering SwarmNode {node}: {source}")]
    Register { node: String, source: kube::Error },
    #[error("renewing Lease {LEASE_NAMESPACE}/{node}: {source}")]
    Lease { node: String, source: kube::Error },
}

/// The SwarmNode status this agent reports.
pub fn node_status(desc: &NodeDescription, addr: &str, state: NodeState) -> SwarmNodeStatus {
    SwarmNodeStatus {
        state: Some(state),
        message: None,
        addr: Some(addr.to_string()),
        hostname: Some(desc.hostname.clone()),
        platform: Some(Platform {
            os: Some(desc.os.clone()),
            architecture: Some(desc.architecture.clone()),
        }),
        resources: Some(Resources {
            nano_cpus: Some(desc.nano_cpus),
            memory_bytes: Some(desc.memory_bytes),
            generic: Vec::new(),
        }),
        engine: Some(EngineDescription {
            engine_version: Some(desc.engine_version.clone()),
            labels: desc.engine_labels.clone(),
        }),
        // The controller-manager's to write: the agent's merge patch leaves them alone.
        network_attachments: Vec::new(),
    }
}

/// Creates the SwarmNode if missing, then writes its status (Ready).
pub async fn register(
    client: &Client,
    node: &str,
    status: &SwarmNodeStatus,
) -> Result<(), NodeError> {
    let err = |source| NodeError::Register {
        node: node.to_string(),
        source,
    };
    let api: Api<SwarmNode> = Api::all(client.clone());
    if api.get_opt(node).await.map_err(err)?.is_none() {
        let obj = SwarmNode {
            metadata: ObjectMeta {
                name: Some(node.to_string()),
                ..Default::default()
            },
            spec: SwarmNodeSpec::default(),
            status: None,
        };
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => tracing::info!(node, "registered SwarmNode"),
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(err(e)),
        }
    }
    set_status(client, node, status).await
}

/// Replaces the SwarmNode's status (merge patch of the status subresource).
pub async fn set_status(
    client: &Client,
    node: &str,
    status: &SwarmNodeStatus,
) -> Result<(), NodeError> {
    let api: Api<SwarmNode> = Api::all(client.clone());
    let patch = json!({ "status": status });
    api.patch_status(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| NodeError::Register {
            node: node.to_string(),
            source,
        })?;
    Ok(())
}

/// Creates or renews the heartbeat Lease.
pub async fn renew_lease(client: &Client, node: &str, duration_secs: i32) -> Result<(), NodeError> {
    let err = |source| NodeError::Lease {
        node: node.to_string(),
        source,
    };
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(Timestamp::now());
    let patch = json!({ "spec": { "renewTime": now, "holderIdentity": node } });
    match api
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node.to_string()),
                    namespace: Some(LEASE_NAMESPACE.to_string()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node.to_string()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                Err(e) => Err(err(e)),
            }
        }
        Err(e) => Err(err(e)),
    }
}
