//! Manifests used across tests.

/// A replicated web service publishing 8080 → 80, labelled `app=<name>`.
pub fn web(name: &str, replicas: i64) -> String {
    format!(
        r#"apiVersion: flotilla.dev/v1alpha1
kind: SwarmService
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  mode:
    replicated:
      replicas: {replicas}
  taskTemplate:
    containerSpec:
      image: flotilla/web:latest
  endpoint:
    ports:
    - targetPort: 80
      publishedPort: 8080
"#
    )
}

/// A SwarmService of `flotilla/web:latest` labelled `tier=<tier>`, as a typed object.
pub fn tiered_service(name: &str, tier: &str) -> flotilla_api::SwarmService {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "flotilla.dev/v1alpha1", "kind": "SwarmService",
        "metadata": {"name": name, "labels": {"tier": tier}},
        "spec": {"taskTemplate": {"containerSpec": {"image": "flotilla/web:latest"}}},
    }))
    .expect("a valid SwarmService")
}

/// The kubectl minor versions every kubectl test runs with: the oldest and newest supported.
pub const KUBECTL_VERSIONS: [u32; 2] = [27, 33];
