//! Defaulting and validation in one pass, for the api-server's write path. Done as two steps
//! ([`default_object`], then [`validate_object`]) a spec is decoded twice: once to default it and
//! once more, from the defaulted JSON, to validate it. Here it is decoded once and the typed,
//! defaulted value is validated directly. Input that does not decode takes the two steps, so its
//! errors are exactly theirs.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::network::SwarmNetworkSpec;
use crate::node::SwarmNodeSpec;
use crate::object::{
    default_object, network_rules, service_name_errors, service_rules, task_rules, validate_object,
};
use crate::service::SwarmServiceSpec;
use crate::task::{Task, TaskSpec, TaskStatus};
use crate::validation::FieldError;

/// [`default_object`] then [`validate_object`] (with `old` on update): `obj.spec` is defaulted in
/// place, and the errors of either step are returned. On a defaulting error `obj` is unchanged.
pub fn default_and_validate(
    kind: &str,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), Vec<FieldError>> {
    let one_pass = match kind {
        "SwarmService" => spec_pass(obj, old, SwarmServiceSpec::apply_defaults, service_rules)
            .map(|errs| [service_name_errors(obj), errs].concat()),
        "SwarmNetwork" => spec_pass(obj, old, SwarmNetworkSpec::apply_defaults, network_rules),
        "SwarmNode" => spec_pass(obj, old, SwarmNodeSpec::apply_defaults, |_, _| Vec::new()),
        "Task" => task_pass(obj, old),
        _ => None,
    };
    let errs = match one_pass {
        Some(errs) => errs,
        None => {
            default_object(kind, obj)?;
            validate_object(kind, obj, old)
        }
    };
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// The spec of a kind validated by its spec alone, decoded once; `None` when it does not decode
/// as it is (missing, null or malformed), which the two steps report.
fn spec_pass<T: DeserializeOwned + Serialize>(
    obj: &mut Value,
    old: Option<&Value>,
    apply: impl FnOnce(&mut T),
    check: impl FnOnce(&T, Option<&T>) -> Vec<FieldError>,
) -> Option<Vec<FieldError>> {
    let mut spec = T::deserialize(obj.get("spec").filter(|s| !s.is_null())?).ok()?;
    apply(&mut spec);
    // As the two steps do: an old object that no longer decodes has nothing to compare against.
    let old = old
        .and_then(|o| o.get("spec").filter(|s| !s.is_null()))
        .and_then(|s| T::deserialize(s).ok());
    let errs = check(&spec, old.as_ref());
    put_spec(obj, &spec);
    Some(errs)
}

/// A Task is validated whole (its status too); decoded once, its spec defaulted in the typed value.
fn task_pass(obj: &mut Value, old: Option<&Value>) -> Option<Vec<FieldError>> {
    obj.get("spec").filter(|s| !s.is_null())?;
    let mut task = task_of(obj)?;
    task.spec.apply_defaults();
    let old = old.and_then(task_of);
    let errs = task_rules(&task, old.as_ref());
    put_spec(obj, &task.spec);
    Some(errs)
}

/// The Task's spec and status, typed; its metadata is left out (Task rules never read it, and
/// ObjectMeta's own rules run on every kind; decoding it would copy every managedFields tree).
fn task_of(obj: &Value) -> Option<Task> {
    #[derive(Deserialize)]
    struct Parts {
        spec: TaskSpec,
        #[serde(default)]
        status: Option<TaskStatus>,
    }
    let parts = Parts::deserialize(obj).ok()?;
    let mut task = Task::new("", parts.spec);
    task.status = parts.status;
    Some(task)
}

fn put_spec<T: Serialize>(obj: &mut Value, spec: &T) {
    if let Some(map) = obj.as_object_mut() {
        let value = serde_json::to_value(spec).expect("API types always serialize");
        map.insert("spec".to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(service: &str, state: &str) -> Value {
        json!({"apiVersion": "flotilla.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": "web.1", "namespace": "default",
                "managedFields": [{"manager": "m", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:serviceName": {}}}}]},
            "spec": {"serviceName": service, "desiredState": "Running",
                "template": {"containerSpec": {"image": "nginx"}}},
            "status": {"state": state}})
    }

    #[test]
    fn a_task_is_checked_by_its_spec_and_status_whatever_its_metadata_holds() {
        // As stored: defaulted on its create.
        let mut old = task("web", "Assigned");
        assert_eq!(default_and_validate("Task", &mut old, None), Ok(()));
        let mut running = task("web", "Running");
        assert_eq!(
            default_and_validate("Task", &mut running, Some(&old)),
            Ok(())
        );
        assert_eq!(
            running["metadata"], old["metadata"],
            "metadata is left as it was"
        );
        assert_eq!(running["status"]["state"], "Running");

        let mut moved = task("api", "Running");
        let errs = default_and_validate("Task", &mut moved, Some(&old)).unwrap_err();
        assert!(
            errs.iter().any(|e| e.path.contains("serviceName")),
            "{errs:?}"
        );

        let mut bad_status = task("web", "Running");
        bad_status["status"]["state"] = json!("Sleeping");
        assert!(
            default_and_validate("Task", &mut bad_status, Some(&old)).is_err(),
            "a status that does not decode is reported"
        );
    }
}
