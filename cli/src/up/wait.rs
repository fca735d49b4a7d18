//! Waiting for the api-server and for the example service to converge.

use std::time::Duration;

use flotilla_api::service::SwarmService;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;

/// Retries until the api-server answers `/version` through the kubeconfig's credentials.
pub async fn api_server(client: &kube::Client, patience: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match client.apiserver_version().await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("the api-server did not answer within {patience:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Server-side applies every document of a manifest (as `kubectl apply --server-side`).
/// Returns the SwarmService names it applied.
pub async fn apply_manifest(client: &kube::Client, yaml: &str) -> anyhow::Result<Vec<String>> {
    let mut services = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let obj: serde_json::Value = serde::Deserialize::deserialize(doc)?;
        if obj.is_null() {
            continue;
        }
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (group, version) = obj["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .split_once('/')
            .unwrap_or(("", "v1"));
        let plural = format!("{}s", kind.to_lowercase());
        let ar = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: format!("{group}/{version}"),
            kind: kind.clone(),
            plural,
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
        let dynamic: DynamicObject = serde_json::from_value(obj)?;
        api.patch(
            &name,
            &PatchParams::apply("flotilla-up").force(),
            &Patch::Apply(&dynamic),
        )
        .await?;
        println!("  applied {kind}/{name}");
        if kind == "SwarmService" {
            services.push(name);
        }
    }
    Ok(services)
}

/// `running/desired` of a service, as `kubectl get ssvc` shows it.
pub async fn replicas(api: &Api<SwarmService>, name: &str) -> anyhow::Result<(i64, i64)> {
    let svc = api.get(name).await?;
    let desired = svc
        .spec
        .mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .unwrap_or(1);
    let running = svc
        .status
        .as_ref()
        .and_then(|s| s.running_replicas)
        .unwrap_or(0);
    Ok((running, desired))
}
