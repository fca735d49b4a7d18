use super::*;
use crate::test_support::sample_registry;

fn decoded() -> Document {
    Document::decode(protobuf(&sample_registry()).as_slice()).expect("decodes")
}

fn gvk_of(op: &Operation2) -> Option<String> {
    op.vendor_extension
        .iter()
        .find(|e| e.name == "x-kubernetes-group-version-kind")
        .and_then(|e| e.value.as_ref())
        .map(|v| v.yaml.clone())
}

fn query_names(op: &Operation2) -> Vec<String> {
    op.parameters
        .iter()
        .filter_map(|p| {
            p.parameter
                .as_ref()?
                .non_body_parameter
                .as_ref()?
                .query_parameter_sub_schema
                .as_ref()
        })
        .filter(|q| q.r#in == "query")
        .map(|q| q.name.clone())
        .collect()
}

#[test]
fn protobuf_decodes_to_a_swagger_2_document() {
    let doc = decoded();
    assert_eq!(doc.swagger, "2.0");
    assert_eq!(doc.info.unwrap().version, GIT_VERSION);
    assert!(doc.paths.unwrap().path.len() > 10);
}

/// What kubectl 1.27/1.28's queryParamVerifier checks: a PATCH operation whose GVK extension
/// matches, listing `fieldValidation`. It must hold for every served kind.
#[test]
fn every_kind_has_a_patch_with_gvk_and_field_validation() {
    let reg = sample_registry();
    let doc = decoded();
    let paths = doc.paths.unwrap().path;
    for r in reg.iter() {
        let want = format!(
            "group: \"{}\"\nkind: {}\nversion: {}\n",
            r.group, r.kind, r.version
        );
        let found = paths
            .iter()
            .filter_map(|p| p.value.as_ref()?.patch.as_ref())
            .any(|op| {
                gvk_of(op).as_deref() == Some(want.as_str())
                    && query_names(op).contains(&"fieldValidation".to_string())
            });
        assert!(found, "no verifiable PATCH for {}", r.kind);
    }
}

#[test]
fn item_path_has_put_post_patch_with_write_params() {
    let doc = decoded();
    let paths = doc.paths.unwrap().path;
    let find = |name: &str| {
        paths
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap()
    };
    let item = find("/apis/flotilla.dev/v1alpha1/namespaces/{namespace}/swarmservices/{name}");
    let put = item.put.unwrap();
    assert!(query_names(&put).contains(&"fieldValidation".to_string()));
    let patch = item.patch.unwrap();
    assert_eq!(patch.consumes, super::super::PATCH_CONTENT_TYPES.to_vec());
    assert!(query_names(&patch).contains(&"force".to_string()));
    assert_eq!(item.parameters.len(), 2);
    let post = find("/apis/flotilla.dev/v1alpha1/namespaces/{namespace}/swarmservices")
        .post
        .unwrap();
    assert!(query_names(&post).contains(&"dryRun".to_string()));
    assert_eq!(
        gvk_of(&post).unwrap(),
        "group: \"flotilla.dev\"\nkind: SwarmService\nversion: v1alpha1\n"
    );
}
