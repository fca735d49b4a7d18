//! The object store over [`crate::storage`]: the server's shared state, keys, encryption and the
//! read-decide-CAS loop, the metadata rules every stored object follows, objects as encoded once
//! per write and decoded once per event, namespaces' lifecycle, and the indexes kept from the
//! watch caches.

pub mod decoded;
pub mod encoded;
pub mod event_convert;
pub mod metadata;
pub mod namespaces;
pub mod node_index;
pub mod resource_store;
pub mod state;
