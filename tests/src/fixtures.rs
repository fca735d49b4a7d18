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

/// The kubectl minor versions every kubectl test runs with: the oldest and newest supported.
pub const KUBECTL_VERSIONS: [u32; 2] = [27, 33];
