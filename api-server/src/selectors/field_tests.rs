use super::*;
use serde_json::json;

fn task() -> Value {
    json!({"kind": "Task", "metadata": {"name": "web.1", "namespace": "default"},
           "spec": {"nodeName": "node-a", "serviceName": "web", "desiredState": "running",
                    "slot": 1},
           "status": {"state": "running"}})
}

#[test]
fn kubectl_wait_name_selector() {
    let s = FieldSelector::parse("metadata.name=web.1").unwrap();
    assert!(s.matches_object(&task()));
    assert!(!FieldSelector::parse("metadata.name=web.2")
        .unwrap()
        .matches_object(&task()));
    assert_eq!(s.required_value("metadata.name"), Some("web.1"));
    assert_eq!(s.required_value("metadata.namespace"), None);
}

#[test]
fn operators_and_conjunction() {
    let obj = task();
    let yes = [
        "spec.nodeName==node-a",
        "spec.nodeName!=node-b",
        "spec.nodeName=node-a,status.state=running",
        "spec.slot=1",
        "",
    ];
    for s in yes {
        assert!(FieldSelector::parse(s).unwrap().matches_object(&obj), "{s}");
    }
    let no = [
        "spec.nodeName!=node-a",
        "spec.nodeName=node-a,status.state=failed",
    ];
    for s in no {
        assert!(
            !FieldSelector::parse(s).unwrap().matches_object(&obj),
            "{s}"
        );
    }
}

#[test]
fn missing_fields_compare_as_empty() {
    let node = json!({"metadata": {"name": "n1"}});
    assert!(FieldSelector::parse("metadata.namespace=")
        .unwrap()
        .matches_object(&node));
    assert!(FieldSelector::parse("metadata.namespace!=default")
        .unwrap()
        .matches_object(&node));
    assert!(!FieldSelector::parse("metadata.namespace=default")
        .unwrap()
        .matches_object(&node));
}

#[test]
fn escaped_separators_in_values() {
    let s = FieldSelector::parse(r"metadata.name=a\,b\=c,metadata.namespace=x").unwrap();
    assert_eq!(s.terms().len(), 2);
    assert_eq!(s.terms()[0].value, "a,b=c");
    assert!(s.matches(|f| Some(if f == "metadata.name" { "a,b=c" } else { "x" }.to_string())));
}

#[test]
fn kubectl_describe_event_selector() {
    let event = json!({"kind": "Event", "involvedObject": {"uid": "u1", "name": "web",
                       "namespace": "default", "kind": "SwarmService"}});
    let s = FieldSelector::parse(
        "involvedObject.uid=u1,involvedObject.name=web,involvedObject.namespace=default,\
         involvedObject.kind=SwarmService",
    )
    .unwrap();
    assert!(s.check_supported("Event").is_ok());
    assert!(s.matches_object(&event));
    assert_eq!(
        s.check_supported("SwarmService").unwrap_err().to_string(),
        "field label not supported: involvedObject.uid"
    );
}

#[test]
fn unsupported_fields_get_the_kubernetes_message() {
    let s = FieldSelector::parse("metadata.name=x,spec.foo=1").unwrap();
    assert_eq!(
        s.check_supported("SwarmService").unwrap_err(),
        SelectorError::UnsupportedField("spec.foo".into())
    );
    assert_eq!(
        s.check_supported("Task").unwrap_err().to_string(),
        "field label not supported: spec.foo"
    );
    let ok = FieldSelector::parse(
        "spec.nodeName=n,spec.serviceName=s,spec.desiredState=running,\
                                   status.state=running,metadata.namespace=d",
    )
    .unwrap();
    assert!(ok.check_supported("Task").is_ok());
    assert!(ok.check_supported("SwarmNode").is_err());
}

#[test]
fn syntax_errors() {
    let err = FieldSelector::parse("metadata.name").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid field selector: \"metadata.name\": expected an operator ('=', '==' or '!=')"
    );
    let err = FieldSelector::parse("=x").unwrap_err();
    assert!(err.to_string().contains("missing the field name"), "{err}");
}

#[test]
fn field_value_reads_scalars_only() {
    let obj = task();
    assert_eq!(
        field_value(&obj, "spec.nodeName").as_deref(),
        Some("node-a")
    );
    assert_eq!(field_value(&obj, "spec.slot").as_deref(), Some("1"));
    assert_eq!(field_value(&obj, "spec"), None);
    assert_eq!(field_value(&obj, "spec.nope"), None);
    let event = json!({"source": {"component": "scheduler"}});
    assert_eq!(field_value(&event, "source").as_deref(), Some("scheduler"));
}
