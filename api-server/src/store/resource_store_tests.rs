//! Key rotation through GuaranteedUpdate: a value under an old key is rewritten by a no-op update.

use std::sync::Arc;

use base64::Engine;
use serde_json::json;

use super::*;
use crate::registry::Registry;
use crate::storage::memory::MemoryStore;

const KEY: &str = "/registry/flotilla.dev/swarmsecrets/default/db";

fn transformers(keys: &[(&str, u8)]) -> Arc<Transformers> {
    let keys: String = keys
        .iter()
        .map(|(name, byte)| {
            let secret = base64::engine::general_purpose::STANDARD.encode([*byte; 32]);
            format!("            - name: {name}\n              secret: {secret}\n")
        })
        .collect();
    let yaml = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [swarmsecrets.flotilla.dev]\n    providers:\n      - aesgcm:\n          keys:\n{keys}      - identity: {{}}\n"
    );
    Arc::new(Transformers::from_yaml(&yaml).unwrap())
}

async fn raw(store: &Arc<dyn Store>) -> KeyValue {
    store.get(KEY).await.unwrap().expect("stored")
}

#[tokio::test]
async fn a_no_op_update_rewrites_values_under_a_rotated_key_and_only_those() {
    let registry = Registry::flotilla();
    let info = registry
        .get("flotilla.dev", "v1alpha1", "swarmsecrets")
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let secret = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmSecret",
        "metadata": {"name": "db", "namespace": "default"}, "spec": {"data": "aGk="}});

    let old = ResourceStore::new(store.clone(), "/registry", transformers(&[("old", 1)]));
    old.create(info, secret, false).await.unwrap();
    let before = raw(&store).await;
    assert!(before.value.starts_with(b"k8s:enc:aesgcm:v1:old:"));

    // Not stale: a no-op update writes nothing.
    old.update_from(info, Some("default"), "db", false, None, |cur| {
        Ok(Decision::Write(cur.clone()))
    })
    .await
    .unwrap();
    assert_eq!(raw(&store).await.mod_revision, before.mod_revision);

    // After rotation the same no-op update moves the value to the new primary key.
    let rotated = ResourceStore::new(
        store.clone(),
        "/registry",
        transformers(&[("new", 2), ("old", 1)]),
    );
    let (obj, _) = rotated
        .update_from(info, Some("default"), "db", false, None, |cur| {
            Ok(Decision::Write(cur.clone()))
        })
        .await
        .unwrap();
    let after = raw(&store).await;
    assert!(after.mod_revision > before.mod_revision);
    assert!(after.value.starts_with(b"k8s:enc:aesgcm:v1:new:"));
    assert_eq!(obj.obj()["spec"]["data"], "aGk=");
    // The old key can now be dropped.
    let new_only = ResourceStore::new(store.clone(), "/registry", transformers(&[("new", 2)]));
    assert_eq!(
        new_only.get(info, Some("default"), "db").await.unwrap()["spec"]["data"],
        "aGk="
    );
}

fn services() -> (ResourceStore, ResourceInfo) {
    let registry = Registry::flotilla();
    let info = registry
        .get("flotilla.dev", "v1alpha1", "swarmservices")
        .unwrap()
        .clone();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let rs = ResourceStore::new(store, "/registry", Arc::new(Transformers::default()));
    (rs, info)
}

fn labelled(obj: &Value, k: &str) -> Value {
    let mut obj = obj.clone();
    obj["metadata"]["labels"][k] = json!("yes");
    obj
}

#[tokio::test]
async fn an_update_from_a_stale_guess_decides_again_on_the_stored_object() {
    let (rs, info) = services();
    let svc = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": "web", "namespace": "default", "labels": {}}, "spec": {}});
    let created = rs.create(&info, svc, false).await.unwrap().into_obj();
    let old_rev = metadata::resource_version(&created).unwrap();
    rs.update_from(&info, Some("default"), "web", false, None, |cur| {
        Ok(Decision::Write(labelled(cur, "first")))
    })
    .await
    .unwrap();

    // The guess is the object as created: the write must not lose the first label.
    let guess = Current::cached(old_rev, Arc::new(Decoded::new(created.clone())));
    let mut seen = Vec::new();
    let (obj, stored) = rs
        .update_from(&info, Some("default"), "web", false, Some(guess), |cur| {
            seen.push(cur["metadata"]["labels"].clone());
            Ok(Decision::Write(labelled(cur, "second")))
        })
        .await
        .unwrap();
    let obj = obj.into_obj();
    assert!(stored);
    assert_eq!(obj["metadata"]["labels"]["first"], "yes");
    assert_eq!(obj["metadata"]["labels"]["second"], "yes");
    assert_eq!(
        seen.len(),
        2,
        "decided on the guess, then on the stored object"
    );

    // A decision that answers without writing is not trusted on a stale guess either.
    let guess = Current::cached(old_rev, Arc::new(Decoded::new(created)));
    let (kept, stored) = rs
        .update_from(&info, Some("default"), "web", false, Some(guess), |cur| {
            Ok(Decision::Keep(cur.clone()))
        })
        .await
        .unwrap();
    let kept = kept.into_obj();
    assert!(!stored);
    assert_eq!(kept["metadata"]["labels"]["second"], "yes", "{kept}");
}

#[tokio::test]
async fn a_written_object_is_the_object_stored_at_its_revision() {
    let (rs, info) = services();
    let svc = json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": "web", "namespace": "default", "labels": {"a": "b"}}, "spec": {}});
    let created = rs.create(&info, svc, false).await.unwrap();
    let read = rs.get(&info, Some("default"), "web").await.unwrap();
    assert_eq!(*created.obj(), read, "the answer is what a read gives");
    assert_eq!(created.written_at(), metadata::resource_version(&read));
    // What selectors read was taken from the written tree: the same as the stored JSON gives.
    assert_eq!(*created.selectable(), Selectable::of(&read));
    let (updated, _) = rs
        .update_from(&info, Some("default"), "web", false, None, |cur| {
            Ok(Decision::Write(labelled(cur, "second")))
        })
        .await
        .unwrap();
    let read = rs.get(&info, Some("default"), "web").await.unwrap();
    assert_eq!(*updated.obj(), read);
    assert_eq!(read["metadata"]["labels"]["second"], "yes");
    assert_eq!(*updated.selectable(), Selectable::of(&read));
    assert_eq!(updated.selectable().labels.get("second"), Some("yes"));
    assert_ne!(updated.written_at(), created.written_at());
}
