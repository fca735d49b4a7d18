//! This node's Running tasks and their container addresses: what the routing mesh forwards to
//! locally and what the agent publishes for the other nodes' meshes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::runtime::TaskKey;

/// `<namespace>/<service>`.
pub type ServiceKey = String;

/// Local backends, with a change counter the publisher waits on.
#[derive(Debug)]
pub struct Endpoints {
    entries: Mutex<BTreeMap<TaskKey, (ServiceKey, IpAddr)>>,
    changed: watch::Sender<u64>,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            entries: Mutex::new(BTreeMap::new()),
            changed: watch::channel(0).0,
        }
    }
}

impl Endpoints {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TaskKey, (ServiceKey, IpAddr)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn contains(&self, key: &TaskKey) -> bool {
        self.lock().contains_key(key)
    }

    pub fn insert(&self, key: TaskKey, service: ServiceKey, addr: IpAddr) {
        let fresh = self
            .lock()
            .insert(key, (service, addr.to_owned()))
            .is_none();
        if fresh {
            self.changed.send_modify(|v| *v += 1);
        }
    }

    pub fn remove(&self, key: &TaskKey) {
        if self.lock().remove(key).is_some() {
            self.changed.send_modify(|v| *v += 1);
        }
    }

    /// Addresses of this node's Running tasks of `service`.
    pub fn backends(&self, service: &str) -> Vec<IpAddr> {
        self.lock()
            .values()
            .filter(|(s, _)| s == service)
            .map(|(_, a)| *a)
            .collect()
    }

    /// service → addresses, for publishing on the SwarmNode.
    pub fn snapshot(&self) -> BTreeMap<ServiceKey, BTreeSet<IpAddr>> {
        let mut out: BTreeMap<ServiceKey, BTreeSet<IpAddr>> = BTreeMap::new();
        for (s, a) in self.lock().values() {
            out.entry(s.clone()).or_default().insert(*a);
        }
        out
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
