//! Core `v1` Events and `events.k8s.io/v1` Events are one resource stored once under
//! `/registry/events/`, as in kube-apiserver: an Event written through either API is read
//! through the other converted field by field (kube-runtime's Recorder writes
//! `events.k8s.io/v1`, `kubectl describe` reads core `v1` by `involvedObject.*`).

use serde_json::{Map, Value};

use crate::registry::Strategy;

pub const EVENTS_V1: &str = "events.k8s.io/v1";
pub const CORE_V1: &str = "v1";

/// (core v1 field, events.k8s.io/v1 field); fields not listed keep their name
/// (reason, type, action, eventTime, series, related, reportingInstance, metadata).
const RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("count", "deprecatedCount"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("source", "deprecatedSource"),
    ("reportingComponent", "reportingController"),
];

/// Converts an Event read from storage to the version of the API it is read through (the
/// resource's [`Strategy`]); other kinds and Events already in that version are returned
/// unchanged.
pub fn for_api(strategy: Strategy, obj: Value) -> Value {
    match strategy {
        Strategy::CoreEvent => to_core(obj),
        Strategy::Event => to_events_v1(obj),
        _ => obj,
    }
}

/// events.k8s.io/v1 → core v1.
pub fn to_core(obj: Value) -> Value {
    convert(obj, CORE_V1, true)
}

/// core v1 → events.k8s.io/v1.
pub fn to_events_v1(obj: Value) -> Value {
    convert(obj, EVENTS_V1, false)
}

fn convert(obj: Value, api_version: &str, into_core: bool) -> Value {
    let Value::Object(mut map) = obj else {
        return obj;
    };
    if map.get("apiVersion").and_then(Value::as_str) == Some(api_version) {
        return Value::Object(map);
    }
    let mut out = Map::with_capacity(map.len());
    for &(core, new) in RENAMES {
        let (from, to) = if into_core { (new, core) } else { (core, new) };
        if let Some(v) = map.remove(from) {
            out.insert(to.to_string(), v);
        }
    }
    out.extend(map);
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recorder_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "regarding": {"kind": "SwarmService", "name": "web", "uid": "u1", "namespace": "default"},
            "note": "scaled to 3", "reason": "Scaled", "type": "Normal", "action": "Scale",
            "reportingController": "flotilla-controller-manager", "reportingInstance": "cm-0",
            "eventTime": "2026-01-01T00:00:00.000000Z", "deprecatedCount": 2,
        })
    }

    #[test]
    fn events_v1_reads_as_core_v1_with_involved_object() {
        let core = for_api(Strategy::CoreEvent, recorder_event());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["uid"], "u1");
        assert_eq!(core["message"], "scaled to 3");
        assert_eq!(core["reportingComponent"], "flotilla-controller-manager");
        assert_eq!(core["count"], 2);
        assert_eq!(core["reason"], "Scaled");
        assert!(core.get("regarding").is_none() && core.get("note").is_none());
    }

    #[test]
    fn conversion_round_trips_and_is_idempotent() {
        let core = to_core(recorder_event());
        assert_eq!(to_core(core.clone()), core);
        assert_eq!(to_events_v1(core), recorder_event());
    }

    #[test]
    fn core_v1_reads_as_events_v1() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "involvedObject": {"name": "web"},
            "message": "m", "source": {"component": "kubelet"}, "firstTimestamp": "t"});
        let new = for_api(Strategy::Event, core);
        assert_eq!(new["regarding"]["name"], "web");
        assert_eq!(new["note"], "m");
        assert_eq!(new["deprecatedSource"]["component"], "kubelet");
        assert_eq!(new["deprecatedFirstTimestamp"], "t");
    }

    #[test]
    fn other_kinds_are_untouched() {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "note": "x"});
        assert_eq!(for_api(Strategy::Lease, lease.clone()), lease);
    }
}
