//! A node identity may report its own SwarmNode's status but not change its spec or labels
//! (it could un-drain itself or attract other nodes' tasks and their secrets).

use flotilla_tests::apiserver::{client_from, TestApiServer};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::json;

fn nodes(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "flotilla.dev".into(),
        version: "v1alpha1".into(),
        api_version: "flotilla.dev/v1alpha1".into(),
        kind: "SwarmNode".into(),
        plural: "swarmnodes".into(),
    };
    Api::all_with(client, &ar)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_writes_its_status_but_not_its_spec_or_labels() {
    let server = TestApiServer::with_etcd().await.unwrap();
    let admin = nodes(server.client().await.unwrap());
    let node: DynamicObject = serde_json::from_value(json!({"apiVersion": "flotilla.dev/v1alpha1",
        "kind": "SwarmNode", "metadata": {"name": "n1"}, "spec": {"availability": "drain"}}))
    .unwrap();
    admin.create(&PostParams::default(), &node).await.unwrap();
    let kc = server
        .kubeconfig_for("system:node:n1", &["system:nodes"])
        .unwrap();
    let as_node = nodes(client_from(&kc).await.unwrap());
    let status = json!({"status": {"state": "ready", "hostname": "n1"}});
    as_node
        .patch_status("n1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("a node reports its own status");
    for patch in [
        json!({"spec": {"availability": "active"}}),
        json!({"metadata": {"labels": {"zone": "a"}}}),
    ] {
        let err = as_node
            .patch("n1", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_err();
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 403),
            "{patch}: {err:?}"
        );
    }
    let stored = admin.get("n1").await.unwrap();
    assert_eq!(
        stored.data["spec"]["availability"], "drain",
        "nothing changed"
    );
    assert_eq!(stored.data["status"]["hostname"], "n1");
}
