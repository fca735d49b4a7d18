//! The server's shared state: registry, store, one watch cache per resource, security.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;

use crate::registry::{Registry, ResourceInfo};
use crate::security::authn::Authenticator;
use crate::security::authz::Authorizer;
use crate::security::chain::AuthorizerChain;
use crate::security::encryption::Transformers;
use crate::storage::{KeyValue, Store};
use crate::store::namespaces;
use crate::store::node_index::NodeIndex;
use crate::store::resource_store::ResourceStore;
use crate::watchcache::{WatchCache, WatchCacheConfig};

/// Tunables of the request layer (flags of the binary).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `--etcd-prefix`.
    pub etcd_prefix: String,
    /// How often a watch with `allowWatchBookmarks` gets a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Events each watch cache keeps for resuming watches.
    pub watch_cache_size: usize,
    /// `--etcd-compaction-interval`: how often the store's history is compacted (zero: never).
    pub compaction_interval: Duration,
    /// `--event-ttl`: how long an Event outlives its last occurrence (zero: for good).
    pub event_ttl: Duration,
    /// `--read-header-timeout`: the TLS handshake and each request's headers must arrive
    /// within it (an HTTP/1.1 keep-alive connection waiting for its next request, too).
    pub read_header_timeout: Duration,
    /// `--idle-connection-timeout`: a connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// `--max-connections`: open connections at once (capped below the open-file limit).
    pub max_connections: usize,
    /// `--http2-max-streams-per-connection` (kube-apiserver's flag): 0 keeps hyper's 200.
    /// Every watch of one client is a stream of its one connection, so a client past the limit
    /// stalls: all its later requests wait for a stream that long watches never free.
    pub http2_max_streams: u32,
    /// `--max-mutating-requests-inflight` (kube-apiserver's flag): writes handled at once; 0 is
    /// no limit ([`crate::front::inflight`]).
    pub max_mutating_inflight: usize,
    /// How long a write waits for one of those slots before it is refused with a 429.
    pub inflight_wait: Duration,
}

pub use crate::store::decoded::Decoded;

/// An object as this server just wrote it, shared with the watch cache that was primed with it
/// (a write's answer is read from the cache's copy instead of a deep clone of its own).
pub struct Stored(Arc<Decoded>);

impl Stored {
    fn new(obj: Decoded) -> Stored {
        Stored(Arc::new(obj))
    }

    /// The object as the watch cache holds it.
    pub fn decoded(&self) -> &Decoded {
        &self.0
    }

    /// The object, owned (a copy only while the cache still holds it).
    pub fn into_value(self) -> Value {
        Arc::try_unwrap(self.0).map_or_else(|shared| shared.obj().into_owned(), Decoded::into_obj)
    }
}

pub struct ApiServer {
    pub(crate) config: ServerConfig,
    pub(crate) registry: Registry,
    pub(crate) rs: ResourceStore,
    pub(crate) authn: Authenticator,
    pub(crate) authz: Authorizer,
    /// Always-allowed paths, the delegator rule and delegation around [`Self::authz`].
    pub(crate) authz_chain: AuthorizerChain,
    /// What discovery lists: the registry plus the review resources ([`crate::front::access_reviews`]).
    pub(crate) discovery: Registry,
    pub(crate) node_index: Arc<NodeIndex>,
    pub(crate) openapi_v3: crate::describe::openapi::v3::OpenApiV3,
    pub(crate) openapi_v2: Vec<u8>,
    /// The join endpoints' CA and tokens, set once when this server can sign node certificates.
    pub(crate) join: std::sync::OnceLock<Arc<crate::security::join::Join>>,
    /// Slots of the writes in flight (`--max-mutating-requests-inflight`).
    pub(crate) inflight: crate::front::inflight::Inflight,
    caches: HashMap<String, Arc<WatchCache<Decoded>>>,
    /// List semantics per resource, derived once from the schemas (every write needs them).
    field_schemas: HashMap<String, Arc<crate::patch::FieldSchema>>,
    me: Weak<ApiServer>,
}

impl ApiServer {
    /// Builds the state with its authorization chain (always-allow paths, delegation) and
    /// starts one watch cache per resource.
    pub(crate) async fn new(
        config: ServerConfig,
        store: Arc<dyn Store>,
        transformers: Transformers,
        authn: Authenticator,
        authz_chain: AuthorizerChain,
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
                Some(Decoded::read(obj))
            });
            let sizing = WatchCacheConfig {
                capacity: config.watch_cache_size,
                ..Default::default()
            };
            let cache =
                WatchCache::start_with(store.clone(), &rs.resource_prefix(info), decode, sizing)
                    .await?;
            if info.kind == "Task" {
                cache.index_by(NODE_FIELD, Arc::new(|t: &Decoded| node_of(t)));
            }
            let cache = Arc::new(cache);
            crate::store::cold::spawn(&cache, key.clone());
            caches.insert(key, cache);
        }
        let tasks = registry
            .get(flotilla_api::GROUP, flotilla_api::VERSION, "tasks")
            .expect("tasks are registered")
            .clone();
        let node_index = NodeIndex::start(&caches[&tasks.group_resource()]);
        let field_schemas = registry
            .iter()
            .map(|i| {
                let schema = crate::patch::FieldSchema::from_openapi(&i.schema);
                (i.group_resource(), Arc::new(schema))
            })
            .collect();
        let openapi_v3 = crate::describe::openapi::v3::OpenApiV3::build(&registry);
        let openapi_v2 = crate::describe::openapi::v2::protobuf(&registry);
        let discovery = registry.with_reviews();
        let inflight = crate::front::inflight::Inflight::new(
            config.max_mutating_inflight,
            config.inflight_wait,
        );
        let server = Arc::new_cyclic(|me| ApiServer {
            config,
            inflight,
            registry,
            rs,
            authn,
            authz: Authorizer::new(),
            authz_chain,
            discovery,
            node_index,
            openapi_v3,
            openapi_v2,
            join: std::sync::OnceLock::new(),
            caches,
            field_schemas,
            me: me.clone(),
        });
        namespaces::ensure_system_namespaces(&server.registry, &server.rs).await?;
        Ok(server)
    }

    pub(crate) fn cache(&self, info: &ResourceInfo) -> &WatchCache<Decoded> {
        self.caches
            .get(&info.group_resource())
            .expect("every registered resource has a watch cache")
    }

    /// The list semantics (`x-kubernetes-list-type`) of a resource's fields.
    pub(crate) fn field_schema(&self, info: &ResourceInfo) -> Arc<crate::patch::FieldSchema> {
        match self.field_schemas.get(&info.group_resource()) {
            Some(s) => s.clone(),
            None => Arc::new(crate::patch::FieldSchema::from_openapi(&info.schema)),
        }
    }

    /// GuaranteedUpdate starting from the watch cache's copy of the object (see
    /// [`ResourceStore::update_from`]).
    pub(crate) async fn update<F>(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        dry_run: bool,
        decide: F,
    ) -> crate::wire::errors::Result<Stored>
    where
        F: FnMut(&Value) -> crate::wire::errors::Result<crate::store::resource_store::Decision>,
    {
        let key = self.rs.key(info, ns, name);
        let _pending = self.pending_write(info, &key, dry_run);
        let guess = self
            .cache(info)
            .get(&key)
            .map(|(rev, cached)| crate::store::resource_store::Current::cached(rev, cached));
        let (obj, stored) = self
            .rs
            .update_from(info, ns, name, dry_run, guess, decide)
            .await?;
        Ok(match stored {
            true => self.prime(info, &key, obj),
            false => Stored::new(obj),
        })
    }

    /// Stores a new object (see [`ResourceStore::create`]).
    pub(crate) async fn create(
        &self,
        info: &ResourceInfo,
        obj: Value,
        dry_run: bool,
    ) -> crate::wire::errors::Result<Stored> {
        if info.namespaced {
            let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
            let namespaces = namespaces::namespaces_info(&self.registry);
            let cache = self.cache(namespaces);
            namespaces::check_exists(namespaces, &self.rs, cache, ns).await?;
        }
        let key = self.rs.key_of(info, &obj);
        let _pending = self.pending_write(info, &key, dry_run);
        let stored = self.rs.create(info, obj, dry_run).await?;
        Ok(match dry_run {
            false => self.prime(info, &key, stored),
            true => Stored::new(stored),
        })
    }

    /// Tells the watch cache a write to `key` is in flight, so its feed waits for [`Self::prime`]
    /// instead of decoding the write's store event (`None` for what is never primed).
    fn pending_write(
        &self,
        info: &ResourceInfo,
        key: &str,
        dry_run: bool,
    ) -> Option<crate::watchcache::PendingWrite<Decoded>> {
        (!dry_run && primed(info)).then(|| self.cache(info).pending_write(key))
    }

    /// Gives the watch cache the object just stored, so it need not decode the value again; the
    /// caller's answer shares that copy.
    fn prime(&self, info: &ResourceInfo, key: &str, stored: Decoded) -> Stored {
        let stored = Stored::new(stored);
        match stored.0.written_at() {
            Some(rev) if primed(info) => self.cache(info).prime(key, rev, stored.0.clone()),
            _ => {}
        }
        stored
    }

    pub(crate) fn self_arc(&self) -> Arc<ApiServer> {
        self.me.upgrade().expect("the server outlives its requests")
    }

    pub(crate) fn now_string(&self) -> String {
        crate::store::metadata::timestamp(chrono::Utc::now())
    }

    /// Records an "Update" managedFields entry for a non-apply write.
    pub(crate) fn record_update(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &mut Value,
        manager: &str,
        subresource: Option<&str>,
        now: &str,
    ) {
        let entries = crate::patch::managed_fields_of(old.unwrap_or(new)).unwrap_or_default();
        let schema = self.field_schema(info);
        let api_version = info.api_version();
        let ctx = crate::patch::WriteContext {
            manager,
            api_version: &api_version,
            now,
            subresource,
            schema: &schema,
        };
        let entries = crate::patch::record_update_with(old, new, &entries, &ctx);
        crate::patch::managed::put_managed_fields(new, entries);
    }
}

/// Whether the watch cache is primed with this resource's writes: events are converted between
/// their two APIs on decode, so those are left to the decoder.
fn primed(info: &ResourceInfo) -> bool {
    !info.strategy().converted_on_read()
}

/// The field Task watchers are indexed by: a node's agent watches its own tasks, as a kubelet
/// watches `spec.nodeName=<node>` pods.
const NODE_FIELD: &str = "spec.nodeName";

/// A task's node, "" while unbound (a selector compares a missing field as "").
fn node_of(task: &Decoded) -> String {
    task.selectable().field(NODE_FIELD).unwrap_or_default()
}
