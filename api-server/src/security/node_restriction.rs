//! NodeRestriction (an admission check, Kubernetes' plugin of that name): the authorizer lets a node
//! write its own SwarmNode, but not every field of it. The managers own `spec` (availability, role)
//! and the labels that placement constraints match (`node.labels.*`). A node that could relabel or
//! un-drain itself could attract Tasks meant for other nodes, and with them their secrets. A node
//! may change its status (subresource) and its annotations (e.g. published mesh endpoints), but
//! not its load-balancer addresses (`status.networkAttachments`): the allocator hands them out
//! of the networks' pools, and one a node picked could be another task's.

use serde_json::Value;

use super::authn::Identity;

/// Fields of a SwarmNode a node must not change on itself, as JSON pointers.
const MANAGER_OWNED: [&str; 6] = [
    "/spec",
    "/status/networkAttachments",
    "/metadata/labels",
    "/metadata/finalizers",
    "/metadata/ownerReferences",
    "/metadata/deletionTimestamp",
];

/// Checks a write of a SwarmNode (`old` = `None` for create) by `who`. Non-node identities are not
/// restricted here. Returns the reason for a 403 naming the field, e.g.
/// `node "node-1" may not change spec of its SwarmNode`.
pub fn check_swarm_node_write(
    who: &Identity,
    old: Option<&Value>,
    new: &Value,
) -> Result<(), String> {
    let Some(node) = who.node_name() else {
        return Ok(());
    };
    let empty = Value::Null;
    for pointer in MANAGER_OWNED {
        let before = old.and_then(|o| o.pointer(pointer)).unwrap_or(&empty);
        let after = new.pointer(pointer).unwrap_or(&empty);
        // On create a node may send the default spec (before or after defaulting), nothing more.
        let unchanged =
            before == after || (old.is_none() && pointer == "/spec" && is_default_spec(after));
        if !unchanged {
            let field = pointer.trim_start_matches('/').replace('/', ".");
            return Err(format!(
                "node {node:?} may not change {field} of its SwarmNode"
            ));
        }
    }
    Ok(())
}

/// `spec` absent, `{}` or only the defaults `availability: active`, `role: worker`.
fn is_default_spec(spec: &Value) -> bool {
    match spec {
        Value::Null => true,
        Value::Object(map) => map.iter().all(|(k, v)| match k.as_str() {
            "availability" => v.is_null() || v == "active",
            "role" => v.is_null() || v == "worker",
            _ => false,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::security::authn::NODES_GROUP;

    fn node() -> Identity {
        Identity::new("system:node:node-1", [NODES_GROUP])
    }

    fn swarm_node(labels: Value, availability: &str) -> Value {
        json!({"metadata": {"name": "node-1", "labels": labels, "annotations": {"a": "1"}},
               "spec": {"availability": availability, "role": "worker"}})
    }

    #[test]
    fn a_node_may_change_annotations_but_not_spec_or_labels() {
        let old = swarm_node(json!({"zone": "a"}), "drain");
        let mut annotated = old.clone();
        annotated["metadata"]["annotations"]["flotilla.dev/endpoints"] = json!("{}");
        assert_eq!(
            check_swarm_node_write(&node(), Some(&old), &annotated),
            Ok(())
        );

        let undrained = swarm_node(json!({"zone": "a"}), "active");
        assert_eq!(
            check_swarm_node_write(&node(), Some(&old), &undrained),
            Err("node \"node-1\" may not change spec of its SwarmNode".into())
        );
        let relabelled = swarm_node(json!({"zone": "a", "secure": "true"}), "drain");
        assert_eq!(
            check_swarm_node_write(&node(), Some(&old), &relabelled),
            Err("node \"node-1\" may not change metadata.labels of its SwarmNode".into())
        );
        let mut addressed = old.clone();
        addressed["status"]["networkAttachments"] =
            json!([{"namespace": "default", "network": "backend", "addresses": ["10.0.9.3/24"]}]);
        assert_eq!(
            check_swarm_node_write(&node(), Some(&old), &addressed),
            Err("node \"node-1\" may not change status.networkAttachments of its SwarmNode".into())
        );
    }

    #[test]
    fn a_node_registers_itself_without_labels() {
        let bare = json!({"metadata": {"name": "node-1"}, "spec": {}});
        assert_eq!(check_swarm_node_write(&node(), None, &bare), Ok(()));
        let defaulted = json!({"metadata": {"name": "node-1"}, "spec": {"availability": "active", "role": "worker"}});
        assert_eq!(check_swarm_node_write(&node(), None, &defaulted), Ok(()));
        let drained = json!({"metadata": {"name": "node-1"}, "spec": {"availability": "drain"}});
        assert!(check_swarm_node_write(&node(), None, &drained).is_err());
        let labelled = json!({"metadata": {"name": "node-1", "labels": {"secure": "true"}}});
        assert!(check_swarm_node_write(&node(), None, &labelled)
            .unwrap_err()
            .contains("metadata.labels"));
        let manager = json!({"metadata": {"name": "node-1"}, "spec": {"role": "manager"}});
        assert!(check_swarm_node_write(&node(), None, &manager)
            .unwrap_err()
            .contains("spec"));
    }

    #[test]
    fn other_identities_are_not_restricted() {
        let admin = Identity::new("flotilla:admin", ["system:masters"]);
        let old = swarm_node(json!({}), "active");
        let drained = swarm_node(json!({"zone": "b"}), "drain");
        assert_eq!(check_swarm_node_write(&admin, Some(&old), &drained), Ok(()));
    }
}
