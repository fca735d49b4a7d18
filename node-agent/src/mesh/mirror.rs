//! What the mesh mirrors from the api-server, and how a watch keeps a mirror current: a re-list
//! (after an api-server restart or a compacted revision) is collected aside and swapped in when
//! complete, so the routing table never goes empty in between; errors are logged and the watch
//! goes on (the stream backs off and re-lists by itself), it never ends before the agent does.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use flotilla_api::SwarmNode;
use futures::{StreamExt, TryStreamExt};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;

use super::Mesh;

/// A keyed copy of a watched collection.
#[derive(Debug)]
pub struct Mirror<V> {
    current: BTreeMap<String, V>,
    relisting: Option<BTreeMap<String, V>>,
}

impl<V> Default for Mirror<V> {
    fn default() -> Self {
        Mirror {
            current: BTreeMap::new(),
            relisting: None,
        }
    }
}

impl<V> Mirror<V> {
    pub fn current(&self) -> &BTreeMap<String, V> {
        &self.current
    }

    /// Applies one watcher event; returns whether [`current`](Self::current) changed. An object
    /// `value` maps to `None` is dropped (e.g. a node with no address).
    pub fn apply<T>(
        &mut self,
        event: Event<T>,
        key: impl Fn(&T) -> String,
        value: impl Fn(T) -> Option<V>,
    ) -> bool {
        match event {
            Event::Apply(obj) => {
                let k = key(&obj);
                match value(obj) {
                    Some(v) => self.current.insert(k, v),
                    None => self.current.remove(&k),
                };
                true
            }
            Event::Delete(obj) => self.current.remove(&key(&obj)).is_some(),
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(obj) => {
                let k = key(&obj);
                let target = self.relisting.as_mut().unwrap_or(&mut self.current);
                if let Some(v) = value(obj) {
                    target.insert(k, v);
                }
                false
            }
            Event::InitDone => {
                if let Some(fresh) = self.relisting.take() {
                    self.current = fresh;
                }
                true
            }
        }
    }
}

/// The address a node reports in `status.addr` (its agent writes it; see docs/security.md).
pub fn node_address(node: &SwarmNode) -> Option<IpAddr> {
    node.status.as_ref()?.addr.as_deref()?.parse().ok()
}

impl Mesh {
    /// Keeps the other nodes' addresses current, until the mesh stops (the task is aborted).
    pub(super) async fn watch_nodes(self: Arc<Self>) {
        let mut nodes = watcher::watcher(
            Api::<SwarmNode>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .boxed();
        let mut mirror = Mirror::default();
        let me = self.node.clone();
        let name = |n: &SwarmNode| n.metadata.name.clone().unwrap_or_default();
        loop {
            let changed = match nodes.try_next().await {
                Ok(Some(event)) => mirror.apply(event, name, |n| {
                    (n.metadata.name.as_deref() != Some(me.as_str()))
                        .then(|| node_address(&n))
                        .flatten()
                }),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "mesh node watch failed; retrying");
                    false
                }
            };
            if changed {
                *self.peers.write().unwrap_or_else(|e| e.into_inner()) = mirror.current().clone();
            }
        }
    }
}
