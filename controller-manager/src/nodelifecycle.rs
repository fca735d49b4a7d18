//! Node lifecycle: a node whose heartbeat stops becomes `down` ("heartbeat failure"), and comes
//! back `ready` when it beats again.
//!
//! Swarm's dispatcher marks a node DOWN after 3 missed heartbeats (5 s period → 15 s). Here the
//! heartbeat is the node agent renewing its Lease `flotilla-node-lease/<node>`, and this is
//! Kubernetes' node lifecycle controller: it never compares the Lease's wall-clock `renewTime`
//! with its own clock (clocks drift, and the snapshot's `now` is monotonic tokio time). Instead it
//! remembers, in tokio time, when it last saw `renewTime` *change* (kube's `probeTimestamp`); a
//! node is down when that is older than the grace period (`--node-monitor-grace-period`). A node
//! seen for the first time (e.g. after a leader change) gets a full grace period, and a node the
//! agent (re)registers as ready counts as a fresh heartbeat, so the two never fight.
//!
//! Only a node this controller took down ("heartbeat failure") is brought back, and only after a
//! renewal seen since then; a node its agent stopped ("node agent stopped") stays down until the
//! agent registers again.

use std::collections::HashMap;
use std::time::Duration;

use flotilla_api::node::NodeState;
use flotilla_api::SwarmNode;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::json;
use tokio::time::Instant;

use crate::action::{Action, Event};
use crate::snapshot::{node_state, Snapshot};

/// Swarm's message for a node that missed its heartbeats.
pub const HEARTBEAT_FAILURE: &str = "heartbeat failure";

/// What was last seen of one node's heartbeat.
#[derive(Debug)]
struct Probe {
    renew: Option<Timestamp>,
    ready: bool,
    /// When a heartbeat was last observed (a renewTime change, or the node turning ready).
    at: Instant,
    /// A renewal was observed, not only the first sighting.
    renewed: bool,
}

/// Per-node heartbeat tracking (in memory, like kube-controller-manager's node health map).
#[derive(Debug)]
pub struct NodeMonitor {
    grace: Duration,
    probes: HashMap<String, Probe>,
}

impl Default for NodeMonitor {
    fn default() -> Self {
        // `--node-monitor-grace-period`'s default.
        NodeMonitor::new(crate::Options::default().node_monitor_grace_period)
    }
}

/// `renewTime` of the node's heartbeat Lease (the leases in the snapshot are that namespace's).
fn renew_time(snap: &Snapshot, node: &str) -> Option<Timestamp> {
    snap.leases
        .iter()
        .find(|l| l.metadata.name.as_deref() == Some(node))
        .and_then(|l| l.spec.as_ref()?.renew_time.as_ref())
        .map(|t| t.0)
}

impl NodeMonitor {
    pub fn new(grace: Duration) -> NodeMonitor {
        NodeMonitor {
            grace,
            probes: HashMap::new(),
        }
    }

    /// Down / back-to-ready transitions for every node, as of `now`.
    pub fn reconcile(&mut self, snap: &Snapshot, now: Instant) -> Vec<Action> {
        self.probes.retain(|name, _| snap.node(name).is_some());
        let mut actions = Vec::new();
        for node in &snap.nodes {
            let fresh = self.observe(snap, node, now);
            actions.extend(self.transition(node, fresh));
        }
        actions
    }

    /// Records what `node` shows now; whether its last heartbeat is within the grace period.
    fn observe(&mut self, snap: &Snapshot, node: &SwarmNode, now: Instant) -> bool {
        let renew = renew_time(snap, &node.name_any());
        let ready = node_state(node) == Some(NodeState::Ready);
        let probe = self.probes.entry(node.name_any()).or_insert(Probe {
            renew,
            ready,
            at: now,
            renewed: false,
        });
        if probe.renew != renew {
            tracing::trace!(node = %node.name_any(), "heartbeat Lease renewed");
            (probe.renew, probe.at, probe.renewed) = (renew, now, true);
        }
        if ready && !probe.ready {
            probe.at = now;
        }
        probe.ready = ready;
        now < probe.at + self.grace
    }

    fn transition(&self, node: &SwarmNode, fresh: bool) -> Vec<Action> {
        let name = node.name_any();
        let state = node_state(node);
        let message = node.status.as_ref().and_then(|s| s.message.as_deref());
        let renewed = self.probes.get(&name).is_some_and(|p| p.renewed);
        let status = |state: NodeState, message: Option<&str>| Action::NodeStatus {
            name: name.clone(),
            patch: json!({"state": state, "message": message}),
        };
        match state {
            Some(NodeState::Down) if fresh && renewed && message == Some(HEARTBEAT_FAILURE) => {
                vec![
                    status(NodeState::Ready, None),
                    Event::about(node, false, "NodeReady", format!("node {name} is ready: heartbeat Lease renewed")),
                ]
            }
            Some(NodeState::Down) => Vec::new(),
            _ if fresh => Vec::new(),
            _ => vec![
                status(NodeState::Down, Some(HEARTBEAT_FAILURE)),
                Event::about(
                    node,
                    true,
                    "NodeDown",
                    format!(
                        "node {name} is down: {HEARTBEAT_FAILURE} (Lease flotilla-node-lease/{name} not renewed for {:?})",
                        self.grace
                    ),
                ),
            ],
        }
    }
}

#[cfg(test)]
#[path = "nodelifecycle_tests.rs"]
mod tests;
