//! Every object in `examples/` decodes, defaults and validates without errors.

mod common;

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

fn example_objects() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable example");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc).expect("valid YAML");
            if !value.is_null() {
                objects.push((file.display().to_string(), value));
            }
        }
    }
    objects
}

#[test]
fn examples_default_and_validate_cleanly() {
    let objects = example_objects();
    assert!(
        objects.len() >= 5,
        "expected the web, global and secret-config examples"
    );
    for (file, mut obj) in objects {
        let kind = obj["kind"].as_str().expect("kind").to_string();
        assert!(
            flotilla_api::KINDS.contains(&kind.as_str()),
            "{file}: unknown kind {kind}"
        );
        assert_eq!(obj["apiVersion"], flotilla_api::API_VERSION, "{file}");
        common::assert_one_pass_is_two_steps(&kind, &obj, None);
        flotilla_api::default_object(&kind, &mut obj)
            .unwrap_or_else(|e| panic!("{file}: defaulting {kind} failed: {e:?}"));
        common::assert_one_pass_is_two_steps(&kind, &obj, Some(&obj));
        let errs = flotilla_api::validate_object(&kind, &obj, None);
        assert!(errs.is_empty(), "{file}: {kind} is invalid: {errs:#?}");
        let again = flotilla_api::validate_object(&kind, &obj, Some(&obj));
        assert!(
            again.is_empty(),
            "{file}: {kind} no-op update is invalid: {again:#?}"
        );
    }
}

#[test]
fn web_example_is_what_the_docs_promise() {
    let (_, mut web) = example_objects()
        .into_iter()
        .find(|(f, o)| f.ends_with("/web.yaml") && o["metadata"]["name"] == "web")
        .expect("web example");
    flotilla_api::default_object("SwarmService", &mut web).unwrap();
    let svc: flotilla_api::SwarmService = serde_json::from_value(web).unwrap();
    let mode = svc.spec.mode.as_ref().unwrap();
    assert_eq!(mode.replicated.as_ref().unwrap().replicas, Some(3));
    let port = &svc.spec.endpoint.as_ref().unwrap().ports[0];
    assert_eq!((port.target_port, port.published_port), (80, Some(8080)));
    assert_eq!(
        svc.spec.rollback_config.as_ref().unwrap().parallelism,
        Some(0)
    );
}
