//! The server's shared state: registry, store, one watch cache per resource, security.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::handlers::Req;
use crate::registry::{Registry, ResourceInfo};
use crate::resource_store::ResourceStore;
use crate::node_index::NodeIndex;
use crate::security::authn::Authenticator;
use crate::security::authz::Authorizer;
use crate::security::encryption::Transformers;
use crate::storage::{KeyValue, Store};
use crate::watchcache::WatchCache;

pub const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Tunables of the request layer (flags of the binary).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `--etcd-prefix`.
    pub etcd_prefix: String,
    /// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Events each watch cache keeps for resuming watches.
    pub watch_cache_size: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            etcd_prefix: "/registry".into(),
            bookmark_interval: Duration::from_secs(60),
            watch_cache_size: 10_000,
        }
    }
}

/// An object decoded once for every watcher: the JSON value and its serialized bytes.
pub struct Decoded {
    pub obj: Value,
    pub json: Bytes,
}

pub struct ApiServer {
    pub config: ServerConfig,
    pub registry: Registry,
    pub rs: ResourceStore,
    pub authn: Authenticator,
    pub authz: Authorizer,
    pub node_index: Arc<NodeIndex>,
    caches: HashMap<String, WatchCache<Decoded>>,
    me: Weak<ApiServer>,
}

impl ApiServer {
    /// Builds the state and starts one watch cache per resource.
    pub async fn new(
        config: ServerConfig,
        store: Arc<dyn Store>,
        transformers: Transformers,
        authn: Authenticator,
    ) -> anyhow::Result<Arc<ApiServer>> {
        let registry = Registry::flotilla();
        let rs = ResourceStore::new(store.clone(), &config.etcd_prefix, Arc::new(transformers));
        let mut caches = HashMap::new();
        for info in registry.iter() {
            let key = info.group_resource();
            if caches.contains_key(&key) {
                continue;
            }
            let (decoder_rs, decoder_info) = (rs.clone(), info.clone());
            let decode = Arc::new(move |kv: &KeyValue| -> Option<Decoded> {
                let obj = decoder_rs.decode(&decoder_info, kv).ok()?;
                let json = Bytes::from(serde_json::to_vec(&obj).ok()?);
                Some(Decoded { obj, json })
            });
            let cache = WatchCache::start(store.clone(), rs.resource_prefix(info), decode, config.watch_cache_size).await?;
            caches.insert(key, cache);
        }
        let tasks = registry
            .get(flotilla_api::GROUP, flotilla_api::VERSION, "tasks")
            .expect("tasks are registered")
            .clone();
        let node_index = NodeIndex::start(&rs, &tasks, &caches[&tasks.group_resource()]).await?;
        Ok(Arc::new_cyclic(|me| ApiServer {
            config,
            registry,
            rs,
            authn,
            authz: Authorizer::default(),
            node_index,
            caches,
            me: me.clone(),
        }))
    }

    pub fn cache(&self, info: &ResourceInfo) -> &WatchCache<Decoded> {
        self.caches
            .get(&info.group_resource())
            .expect("every registered resource has a watch cache")
    }

    pub fn self_arc(&self) -> Arc<ApiServer> {
        self.me.upgrade().expect("the server outlives its requests")
    }

    pub fn now_string(&self) -> String {
        crate::objects::timestamp(chrono::Utc::now())
    }

    pub fn table(&self, info: &ResourceInfo, objs: &[Value], req: &Req, headers: bool) -> Value {
        self.table_with(info, objs, req.query.include_object.as_deref(), headers)
    }

    pub fn table_with(&self, info: &ResourceInfo, objs: &[Value], include: Option<&str>, headers: bool) -> Value {
        let include = match include {
            Some("None") => crate::table::IncludeObject::None,
            Some("Object") => crate::table::IncludeObject::Object,
            _ => crate::table::IncludeObject::Metadata,
        };
        crate::table::render_table(info, objs, include, headers, chrono::Utc::now())
    }

    /// Records an "Update" managedFields entry for a non-apply write.
    pub fn record_update(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        subresource: Option<&str>,
        now: &str,
    ) {
        let entries = crate::handlers::patch::managed_fields(old.unwrap_or(new));
        let entries = crate::patch::apply::record_update(
            old,
            new,
            manager,
            subresource,
            &info.api_version(),
            now,
            &entries,
        );
        crate::handlers::patch::set_managed_fields(new, &entries);
    }
}
