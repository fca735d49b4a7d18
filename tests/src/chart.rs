//! Renders the Helm chart (`charts/flotilla`) with the real `helm` and reads what it produced.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/flotilla")
}

/// `helm <args>` in the chart's directory: (exit code, stdout, stderr).
pub fn helm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(crate::tools::require("helm"))
        .args(args)
        .current_dir(chart_dir())
        .output()
        .expect("helm runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `helm template` of the chart as release `flotilla` in namespace `flotilla-system`, with the
/// given extra arguments (`-f values.yaml`, `--set k=v`); panics when helm fails.
pub fn render(extra: &[&str]) -> String {
    let mut args = vec![
        "template",
        "flotilla",
        ".",
        "--namespace",
        "flotilla-system",
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = helm(&args);
    assert_eq!(code, 0, "helm template {extra:?} failed:\n{stderr}");
    stdout
}

/// The rendered objects (empty documents dropped).
pub fn objects(rendered: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|doc| Value::deserialize(doc).expect("rendered YAML parses"))
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

/// The object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// The Pod template of a workload (Deployment, StatefulSet, DaemonSet).
pub fn pod_spec(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]
}

/// A string field, or "".
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The names of the Secrets a Pod can read: mounted as volumes or referenced from env.
pub fn secrets_used(pod: &Value) -> Vec<String> {
    let mut names: Vec<String> = pod["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v["secret"]["secretName"].as_str().map(str::to_string))
        .collect();
    for c in pod["containers"].as_sequence().into_iter().flatten() {
        for e in c["env"].as_sequence().into_iter().flatten() {
            if let Some(n) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
                names.push(n.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// A Secret's `data[key]`, decoded.
pub fn secret_data(objects: &[Value], name: &str, key: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = s(&find(objects, "Secret", name)["data"][key]).to_string();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|e| panic!("{name}.{key} is not base64: {e}"))
}
