//! All controllers as one decision over a snapshot: `--controllers` picks which run.

use std::collections::BTreeSet;

use flotilla_api::service::ModeKind;
use tokio::time::Instant;

use crate::action::Action;
use crate::nodelifecycle::NodeMonitor;
use crate::restart::RestartState;
use crate::snapshot::Snapshot;
use crate::status::SpecMemory;
use crate::update::UpdateState;

/// A service orchestrator (replicated, global): decisions for one service.
type Orchestrate = fn(
    &Snapshot,
    &flotilla_api::SwarmService,
    &mut RestartState,
    &mut UpdateState,
    Instant,
) -> Vec<Action>;

/// Controller names accepted by `--controllers`.
pub const ALL: [&str; 9] = [
    "replicated",
    "global",
    "nodelifecycle",
    "jobs",
    "constraintenforcer",
    "allocator",
    "reaper",
    "garbagecollector",
    "status",
];

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("--controllers: unknown controller {0:?} (known: *, {known})", known = ALL.join(", "))]
    Unknown(String),
}

/// Which controllers run: `*` (all), names, and `-name` to leave one out (kube-controller-manager style).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection(BTreeSet<&'static str>);

impl Selection {
    pub fn all() -> Selection {
        Selection(ALL.into_iter().collect())
    }

    pub fn parse(spec: &str) -> Result<Selection, SelectError> {
        let mut on = BTreeSet::new();
        let mut off = BTreeSet::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                on.extend(ALL);
                continue;
            }
            let (set, name) = match item.strip_prefix('-') {
                Some(name) => (&mut off, name),
                None => (&mut on, item),
            };
            let known = ALL
                .iter()
                .find(|k| **k == name)
                .ok_or_else(|| SelectError::Unknown(name.to_string()))?;
            set.insert(*known);
        }
        Ok(Selection(on.difference(&off).copied().collect()))
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// Controllers' in-memory state (restart history, rollouts, last specs) and settings.
pub struct Controllers {
    pub selection: Selection,
    pub history_limit: i64,
    restarts: RestartState,
    updates: UpdateState,
    specs: SpecMemory,
    nodes: NodeMonitor,
}

impl Controllers {
    pub fn new(selection: Selection, history_limit: i64) -> Controllers {
        Controllers {
            selection,
            history_limit,
            restarts: RestartState::default(),
            updates: UpdateState::default(),
            specs: SpecMemory::default(),
            nodes: NodeMonitor::default(),
        }
    }

    /// How long a node may go without renewing its heartbeat Lease before it is marked down.
    pub fn with_node_grace(mut self, grace: std::time::Duration) -> Controllers {
        self.nodes = NodeMonitor::new(grace);
        self
    }

    /// Every write the enabled controllers want, given the cluster as `snap` shows it at `now`.
    pub fn decide(&mut self, snap: &Snapshot, now: Instant) -> Vec<Action> {
        let on = |name| self.selection.has(name);
        let mut actions = Vec::new();
        if on("nodelifecycle") {
            actions.extend(self.nodes.reconcile(snap, now));
        }
        if on("constraintenforcer") {
            actions.extend(crate::enforcer::reconcile(snap));
        }
        if on("garbagecollector") {
            actions.extend(crate::gc::reconcile(snap));
        }
        if on("allocator") {
            actions.extend(crate::allocator::reconcile(snap));
        }
        self.restarts.retain(snap);
        self.updates.retain(snap);
        for svc in snap
            .services
            .iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
        {
            let orchestrate: Option<Orchestrate> = match svc.spec.mode_kind() {
                Some(ModeKind::Replicated) if on("replicated") => {
                    Some(crate::replicated::reconcile)
                }
                Some(ModeKind::Global) if on("global") => Some(crate::global::reconcile),
                _ => None,
            };
            if let Some(orchestrate) = orchestrate {
                let rollback = crate::update::manual_rollback(svc);
                if !rollback.is_empty() {
                    actions.extend(rollback);
                    continue;
                }
                let (restarts, updates) = (&mut self.restarts, &mut self.updates);
                actions.extend(orchestrate(snap, svc, restarts, updates, now));
            }
            if on("jobs") && svc.spec.mode_kind().is_some_and(ModeKind::is_job) {
                actions.extend(crate::jobs::reconcile(snap, svc, &mut self.restarts, now));
            }
            if on("reaper") {
                actions.extend(crate::reaper::reconcile(snap, svc, self.history_limit));
            }
            if on("status") {
                actions.extend(self.specs.reconcile(snap, svc));
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_parses_star_names_and_exclusions() {
        assert_eq!(Selection::parse("*").unwrap(), Selection::all());
        let s = Selection::parse("*,-reaper").unwrap();
        assert!(s.has("replicated") && !s.has("reaper"));
        let s = Selection::parse("replicated,status").unwrap();
        assert!(s.has("status") && !s.has("allocator"));
        let err = Selection::parse("replicated,bogus")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown controller \"bogus\""), "{err}");
    }
}
