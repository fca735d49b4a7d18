//! The object store over [`crate::storage`]: the server's shared state, keys, encryption and the
//! read-decide-CAS loop, the metadata rules every stored object follows, objects as encoded once
//! per write and decoded once per event, namespaces' lifecycle, and the indexes kept from the
//! watch caches.

pub(crate) mod cold;
pub(crate) mod decoded;
pub(crate) mod encoded;
pub(crate) mod event_convert;
pub(crate) mod metadata;
pub(crate) mod namespaces;
pub(crate) mod node_index;
pub(crate) mod packed;
pub(crate) mod resource_store;
pub(crate) mod state;
