//! Namespaces as kube-apiserver keeps them: the system ones exist from the first start, and an
//! object may be created only in a namespace that exists (the NamespaceLifecycle admission
//! plugin), so a typo or a crafted path (`Bad_NS`, `..`) stores nothing.

use serde_json::json;

use crate::registry::{Registry, ResourceInfo};
use crate::store::decoded::Decoded;
use crate::store::resource_store::ResourceStore;
use crate::watchcache::WatchCache;
use crate::wire::errors::{ApiError, Result};

use crate::security::authz::NODE_LEASE_NAMESPACE;

/// Created on start when missing, as kube-apiserver's system-namespaces controller does, with
/// the one Flotilla's node agents keep their heartbeat Leases in.
pub const SYSTEM_NAMESPACES: [&str; 5] = [
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    NODE_LEASE_NAMESPACE,
];
/// Namespaces that may not be deleted: kube-apiserver's three, and the node Leases' (without
/// it every node would stop heartbeating).
pub const IMMORTAL_NAMESPACES: [&str; 4] = [
    "default",
    "kube-system",
    "kube-public",
    NODE_LEASE_NAMESPACE,
];

pub(crate) fn namespaces_info(registry: &Registry) -> &ResourceInfo {
    registry
        .get("", "v1", "namespaces")
        .expect("namespaces are registered")
}

/// Creates the system namespaces that do not exist yet.
pub async fn ensure_system_namespaces(registry: &Registry, rs: &ResourceStore) -> Result<()> {
    let info = namespaces_info(registry);
    let now = crate::store::metadata::timestamp(chrono::Utc::now());
    for name in SYSTEM_NAMESPACES {
        let mut ns = json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"},
        });
        crate::store::metadata::prepare_create(info, &mut ns, &now);
        match rs.create(info, ns, false).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A create in namespace `ns` needs `ns` to exist: 404 `namespaces "x" not found` otherwise.
/// The watch cache answers almost always; a namespace created a moment ago may not be in it
/// yet, so a miss is checked against the store (as the admission plugin's live lookup).
/// `cache` is the namespaces' watch cache.
pub async fn check_exists(
    info: &ResourceInfo,
    rs: &ResourceStore,
    cache: &WatchCache<Decoded>,
    ns: &str,
) -> Result<()> {
    let key = rs.key(info, None, ns);
    if cache.get(&key).is_some() {
        return Ok(());
    }
    rs.get(info, None, ns).await.map(drop)
}

/// kube-apiserver's answer to deleting `default`, `kube-system` or `kube-public`.
pub fn check_deletable(info: &ResourceInfo, name: &str) -> Result<()> {
    if info.strategy().namespace() && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(ApiError::Forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    Ok(())
}
