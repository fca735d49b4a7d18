//! Tasks that finished for good, kept compact. A task whose desired state is Shutdown or past it
//! and whose observed state is terminal never runs again and no decision changes it, except to
//! raise its desired state to Remove (garbage collection) or delete it (the reaper). After an
//! update, half of a service's tasks are such history; as typed `Task`s (768 bytes inline, most
//! of it `ObjectMeta`'s empty slots, plus ~400 bytes of strings) they were most of this
//! process's memory at 10,000 replicas (docs/benchmark.md). A [`PastTask`] keeps what the
//! reaper, garbage collection, the allocator and the scaling and update decisions read of them,
//! with the strings tasks share (service, uid, node) held once.

use std::collections::HashSet;
use std::sync::Arc;

use flotilla_api::task::NetworkAttachment;
use flotilla_api::{Task, TaskState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;

/// What the controller-manager reads of a task that finished for good.
#[derive(Clone, Debug, PartialEq)]
pub struct PastTask {
    /// `namespace/name`, shared with the cache's key.
    pub key: Arc<str>,
    pub resource_version: Option<u64>,
    pub service_name: Arc<str>,
    pub service_uid: Option<Arc<str>>,
    pub owners: Owners,
    pub slot: Option<i64>,
    pub node_name: Option<Arc<str>>,
    pub desired_state: TaskState,
    pub state: TaskState,
    /// The status timestamp, else the creation time: the reaper's "oldest first".
    pub stamp: Option<Timestamp>,
    pub spec_version: Option<i64>,
    pub job_iteration: Option<i64>,
    /// The allocator keeps a task's addresses until the task is removed.
    pub networks: Box<[NetworkAttachment]>,
}

/// A past task's owner references, as garbage collection reads them (kind, controller, name, uid).
#[derive(Clone, Debug, PartialEq)]
pub enum Owners {
    None,
    /// The one reference every task is created with: its SwarmService, as controller, with the
    /// task's `serviceName` and `serviceUid`.
    Service,
    Other(Box<[OwnerReference]>),
}

/// A task as the controller-manager's cache keeps it.
#[derive(Clone, Debug)]
pub enum CachedTask {
    Live(Arc<Task>),
    Past(Arc<PastTask>),
}

impl CachedTask {
    /// `task` under its cache key: compact if it finished for good.
    pub fn of(key: &Arc<str>, task: &Task, strings: &mut Strings) -> CachedTask {
        if is_past(task) {
            CachedTask::Past(Arc::new(PastTask::of(key.clone(), task, strings)))
        } else {
            CachedTask::Live(crate::cache::kept(task))
        }
    }

    /// What decisions read of it.
    pub fn facts(&self) -> &dyn TaskFacts {
        match self {
            CachedTask::Live(t) => t.as_ref(),
            CachedTask::Past(p) => p.as_ref(),
        }
    }

    pub fn resource_version(&self) -> Option<u64> {
        match self {
            CachedTask::Live(t) => t.metadata.resource_version.as_deref()?.parse().ok(),
            CachedTask::Past(p) => p.resource_version,
        }
    }
}

/// Whether `task` finished for good: desired Shutdown or later, and observed in a final state.
pub fn is_past(task: &Task) -> bool {
    task.spec.desired_state >= TaskState::Shutdown && crate::snapshot::observed(task).is_terminal()
}

impl PastTask {
    /// `task` (which [`is_past`]) under its cache key, with shared strings from `strings`.
    pub fn of(key: Arc<str>, task: &Task, strings: &mut Strings) -> PastTask {
        let spec = &task.spec;
        let service_uid = spec.service_uid.as_deref().map(|u| strings.get(u));
        let owners = match task.metadata.owner_references.as_deref() {
            None | Some([]) => Owners::None,
            Some([o])
                if o.kind == "SwarmService"
                    && o.controller == Some(true)
                    && o.name == spec.service_name
                    && Some(o.uid.as_str()) == spec.service_uid.as_deref() =>
            {
                Owners::Service
            }
            Some(refs) => Owners::Other(refs.into()),
        };
        PastTask {
            key,
            resource_version: task
                .metadata
                .resource_version
                .as_deref()
                .and_then(|v| v.parse().ok()),
            service_name: strings.get(&spec.service_name),
            service_uid,
            owners,
            slot: spec.slot,
            node_name: spec.node_name.as_deref().map(|n| strings.get(n)),
            desired_state: spec.desired_state,
            state: crate::snapshot::observed(task),
            stamp: crate::snapshot::age_key(task).0,
            spec_version: spec.spec_version,
            job_iteration: spec.job_iteration,
            networks: spec.networks.clone().into(),
        }
    }

    pub fn namespace(&self) -> &str {
        self.key.split_once('/').map_or("default", |(ns, _)| ns)
    }

    pub fn name(&self) -> &str {
        self.key
            .split_once('/')
            .map_or(&*self.key, |(_, name)| name)
    }

    /// The controlling SwarmService reference: (name, uid), as [`crate::gc::controller_of`].
    pub fn controller(&self) -> Option<(String, String)> {
        match &self.owners {
            Owners::None => None,
            Owners::Service => Some((
                self.service_name.to_string(),
                self.service_uid.as_deref().unwrap_or_default().to_string(),
            )),
            Owners::Other(refs) => refs
                .iter()
                .find(|o| o.kind == "SwarmService" && o.controller == Some(true))
                .map(|o| (o.name.clone(), o.uid.clone())),
        }
    }

    /// The uids of every owner.
    pub fn owner_uids(&self) -> Vec<&str> {
        match &self.owners {
            Owners::None => Vec::new(),
            Owners::Service => self.service_uid.as_deref().into_iter().collect(),
            Owners::Other(refs) => refs.iter().map(|o| o.uid.as_str()).collect(),
        }
    }

    /// Sort key for "oldest first", as [`crate::snapshot::age_key`].
    pub fn age_key(&self) -> (Option<Timestamp>, String) {
        (self.stamp, self.name().to_string())
    }
}

/// What decisions read of any task, live or past: those that count history (the reaper, jobs'
/// progress, given-up slots, garbage collection) read both kinds through it.
pub trait TaskFacts {
    /// The namespace (`default` when unset, as [`crate::snapshot::ns_of`]).
    fn namespace(&self) -> &str;
    fn name(&self) -> &str;
    /// The controlling SwarmService reference: (name, uid).
    fn controller(&self) -> Option<(String, String)>;
    /// The uids of every owner.
    fn owner_uids(&self) -> Vec<&str>;
    fn desired(&self) -> TaskState;
    fn observed(&self) -> TaskState;
    fn slot(&self) -> Option<i64>;
    fn node(&self) -> Option<&str>;
    fn spec_version(&self) -> Option<i64>;
    fn job_iteration(&self) -> Option<i64>;
    fn age_key(&self) -> (Option<Timestamp>, String);
}

macro_rules! facts_through {
    ($($ptr:ty),*) => {$(
        impl<T: TaskFacts + ?Sized> TaskFacts for $ptr {
            fn namespace(&self) -> &str { (**self).namespace() }
            fn name(&self) -> &str { (**self).name() }
            fn controller(&self) -> Option<(String, String)> { (**self).controller() }
            fn owner_uids(&self) -> Vec<&str> { (**self).owner_uids() }
            fn desired(&self) -> TaskState { (**self).desired() }
            fn observed(&self) -> TaskState { (**self).observed() }
            fn slot(&self) -> Option<i64> { (**self).slot() }
            fn node(&self) -> Option<&str> { (**self).node() }
            fn spec_version(&self) -> Option<i64> { (**self).spec_version() }
            fn job_iteration(&self) -> Option<i64> { (**self).job_iteration() }
            fn age_key(&self) -> (Option<Timestamp>, String) { (**self).age_key() }
        }
    )*};
}

// `stopped.has(t)` for a `&&Task` or an `Arc<Task>` as for a `Task`.
facts_through!(&T, Arc<T>);

impl TaskFacts for Task {
    fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }
    fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }
    fn controller(&self) -> Option<(String, String)> {
        crate::gc::controller_of(self)
    }
    fn owner_uids(&self) -> Vec<&str> {
        let refs = self
            .metadata
            .owner_references
            .as_deref()
            .unwrap_or_default();
        refs.iter().map(|o| o.uid.as_str()).collect()
    }
    fn desired(&self) -> TaskState {
        self.spec.desired_state
    }
    fn observed(&self) -> TaskState {
        crate::snapshot::observed(self)
    }
    fn slot(&self) -> Option<i64> {
        self.spec.slot
    }
    fn node(&self) -> Option<&str> {
        self.spec.node_name.as_deref()
    }
    fn spec_version(&self) -> Option<i64> {
        self.spec.spec_version
    }
    fn job_iteration(&self) -> Option<i64> {
        self.spec.job_iteration
    }
    fn age_key(&self) -> (Option<Timestamp>, String) {
        crate::snapshot::age_key(self)
    }
}

impl TaskFacts for PastTask {
    fn namespace(&self) -> &str {
        PastTask::namespace(self)
    }
    fn name(&self) -> &str {
        PastTask::name(self)
    }
    fn controller(&self) -> Option<(String, String)> {
        PastTask::controller(self)
    }
    fn owner_uids(&self) -> Vec<&str> {
        PastTask::owner_uids(self)
    }
    fn desired(&self) -> TaskState {
        self.desired_state
    }
    fn observed(&self) -> TaskState {
        self.state
    }
    fn slot(&self) -> Option<i64> {
        self.slot
    }
    fn node(&self) -> Option<&str> {
        self.node_name.as_deref()
    }
    fn spec_version(&self) -> Option<i64> {
        self.spec_version
    }
    fn job_iteration(&self) -> Option<i64> {
        self.job_iteration
    }
    fn age_key(&self) -> (Option<Timestamp>, String) {
        PastTask::age_key(self)
    }
}

/// One copy of each string many past tasks share (service names and uids, node names).
#[derive(Default)]
pub struct Strings {
    held: HashSet<Arc<str>>,
    /// Size after the last sweep; the next one comes when it has doubled.
    swept_at: usize,
}

impl Strings {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(held) = self.held.get(s) {
            return held.clone();
        }
        if self.held.len() >= 2 * self.swept_at.max(64) {
            // Strings no kept task uses any more (a deleted service's, a removed node's).
            self.held.retain(|h| Arc::strong_count(h) > 1);
            self.swept_at = self.held.len();
        }
        let held: Arc<str> = s.into();
        self.held.insert(held.clone());
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{service, task};
    use TaskState::*;

    #[test]
    fn only_a_task_stopped_for_good_is_past() {
        let svc = service("web", 1);
        assert!(is_past(&task(&svc, 1, Some("n1"), Shutdown, Shutdown, 1)));
        assert!(is_past(&task(&svc, 1, Some("n1"), Shutdown, Failed, 1)));
        assert!(is_past(&task(&svc, 1, Some("n1"), Remove, Complete, 1)));
        // Still running, or meant to: not past.
        assert!(!is_past(&task(&svc, 1, Some("n1"), Shutdown, Running, 1)));
        assert!(!is_past(&task(&svc, 1, Some("n1"), Running, Failed, 1)));
        assert!(!is_past(&task(&svc, 1, Some("n1"), Complete, Complete, 1)));
    }

    #[test]
    fn a_past_task_keeps_what_decisions_read_and_shares_its_strings() {
        let svc = service("web", 2);
        let mut strings = Strings::default();
        let a = task(&svc, 1, Some("n1"), Shutdown, Failed, 1);
        let b = task(&svc, 2, Some("n1"), Shutdown, Complete, 2);
        let pa = PastTask::of(crate::snapshot::key_of(&a).into(), &a, &mut strings);
        let pb = PastTask::of(crate::snapshot::key_of(&b).into(), &b, &mut strings);
        assert_eq!(pa.namespace(), "default");
        assert_eq!(pa.name(), a.metadata.name.as_deref().unwrap());
        assert_eq!(
            (pa.slot, pa.desired_state, pa.state),
            (Some(1), Shutdown, Failed)
        );
        assert_eq!(pa.age_key(), crate::snapshot::age_key(&a));
        assert_eq!(pa.controller(), crate::gc::controller_of(&a));
        assert_eq!(
            pa.owners,
            Owners::Service,
            "the usual owner is kept as a mark"
        );
        assert!(Arc::ptr_eq(&pa.service_name, &pb.service_name));
        assert!(Arc::ptr_eq(
            pa.node_name.as_ref().unwrap(),
            pb.node_name.as_ref().unwrap()
        ));
    }

    #[test]
    fn other_owner_references_are_kept_whole() {
        let svc = service("web", 1);
        let mut t = task(&svc, 1, Some("n1"), Shutdown, Shutdown, 1);
        let mut refs = t.metadata.owner_references.clone().unwrap();
        refs[0].controller = Some(false);
        t.metadata.owner_references = Some(refs);
        let p = PastTask::of("default/x".into(), &t, &mut Strings::default());
        assert!(matches!(p.owners, Owners::Other(_)));
        assert_eq!(p.controller(), None);
        assert_eq!(p.owner_uids(), vec!["uid-web"]);
    }
}
