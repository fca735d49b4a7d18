//! The routing mesh's UDP flow table, kept pure (the caller passes the time): one flow per client
//! address, so every datagram of a client goes to the same task and the task's replies go back to
//! that client. A flow expires once idle (no datagram either way) for `idle`; the table holds at
//! most `capacity` flows, making room for a new client by dropping the least recently active one
//! (as a full conntrack table would rather than refuse the client).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

struct Entry<F> {
    flow: F,
    last: Instant,
}

pub struct FlowTable<F> {
    flows: HashMap<SocketAddr, Entry<F>>,
    idle: Duration,
    capacity: usize,
}

impl<F> FlowTable<F> {
    pub fn new(idle: Duration, capacity: usize) -> FlowTable<F> {
        FlowTable {
            flows: HashMap::new(),
            idle,
            capacity: capacity.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The client's flow, unless it is idle past its expiry; marks it active at `now`.
    pub fn get(&mut self, client: &SocketAddr, now: Instant) -> Option<&F> {
        let idle = self.idle;
        let entry = self.flows.get_mut(client)?;
        if now.saturating_duration_since(entry.last) >= idle {
            return None;
        }
        entry.last = now;
        Some(&entry.flow)
    }

    /// Marks the client's flow active at `now` (a reply went back to it).
    pub fn touch(&mut self, client: &SocketAddr, now: Instant) {
        if let Some(entry) = self.flows.get_mut(client) {
            entry.last = entry.last.max(now);
        }
    }

    /// Records the client's flow; returns the flows it displaces (the client's previous one, and
    /// the least recently active one when the table is full) for the caller to close.
    pub fn insert(&mut self, client: SocketAddr, flow: F, now: Instant) -> Vec<F> {
        let mut gone: Vec<F> = self
            .flows
            .remove(&client)
            .map(|e| e.flow)
            .into_iter()
            .collect();
        if self.flows.len() >= self.capacity {
            let oldest = self
                .flows
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(c, _)| *c);
            gone.extend(oldest.and_then(|c| self.flows.remove(&c)).map(|e| e.flow));
        }
        self.flows.insert(client, Entry { flow, last: now });
        gone
    }

    /// Removes the client's flow if `is_it` says it is the one the caller means (a newer flow of
    /// the same client stays).
    pub fn remove_if(&mut self, client: &SocketAddr, is_it: impl FnOnce(&F) -> bool) -> Option<F> {
        if !is_it(&self.flows.get(client)?.flow) {
            return None;
        }
        self.flows.remove(client).map(|e| e.flow)
    }

    /// Removes and returns every flow.
    pub fn drain(&mut self) -> Vec<F> {
        self.flows.drain().map(|(_, e)| e.flow).collect()
    }

    /// Removes and returns every flow idle for `idle` or longer at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<F> {
        let idle = self.idle;
        let expired: Vec<SocketAddr> = self
            .flows
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last) >= idle)
            .map(|(c, _)| *c)
            .collect();
        expired
            .iter()
            .filter_map(|c| self.flows.remove(c))
            .map(|e| e.flow)
            .collect()
    }
}

#[cfg(test)]
#[path = "flows_tests.rs"]
mod tests;
