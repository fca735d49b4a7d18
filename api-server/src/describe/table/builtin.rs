//! Columns for the built-in kinds (Lease, events, namespaces) and a generic fallback that uses a
//! CRD's `additionalPrinterColumns`.

use super::duration::{human_duration, parse_time};
use super::{age, age_column, at, name_column, str_at, Column};
use crate::registry::ResourceInfo;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub(crate) fn lease_columns() -> Vec<Column> {
    vec![
        name_column(),
        Column::new(
            "Holder",
            "holderIdentity contains the identity of the holder of a current lease.",
            |o, _| json!(str_at(o, &["spec", "holderIdentity"]).unwrap_or("")),
        ),
        age_column(),
    ]
}

pub(crate) fn namespace_columns() -> Vec<Column> {
    vec![
        name_column(),
        Column::new("Status", "The phase of the namespace.", |o, _| {
            json!(str_at(o, &["status", "phase"]).unwrap_or("Active"))
        }),
        age_column(),
    ]
}

fn since(o: &Value, candidates: &[&[&str]], now: DateTime<Utc>) -> String {
    candidates
        .iter()
        .find_map(|path| str_at(o, path).and_then(parse_time))
        .map(|t| human_duration(now - t))
        .unwrap_or_else(|| age(o, now))
}

/// `swarmservice/web`: kind lowercased and name, as kubectl prints event objects.
fn object_ref(r: Option<&Value>) -> String {
    let field = |k: &str| {
        r.and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    format!("{}/{}", field("kind").to_lowercase(), field("name"))
}

/// Core `v1` events, like `kubectl get events`: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE.
pub(crate) fn core_event_columns() -> Vec<Column> {
    event_table(EventFields {
        last_seen: &[&["lastTimestamp"], &["eventTime"], &["firstTimestamp"]],
        reason: "Short, machine understandable reason.",
        object: "involvedObject",
        message: ("Message", "message"),
    })
}

/// `events.k8s.io/v1` events: same columns from the newer field names.
pub(crate) fn event_columns() -> Vec<Column> {
    event_table(EventFields {
        last_seen: &[
            &["series", "lastObservedTime"],
            &["deprecatedLastTimestamp"],
            &["eventTime"],
        ],
        reason: "Why the action was taken.",
        object: "regarding",
        message: ("Note", "note"),
    })
}

/// Where the two event APIs keep what `kubectl get events` shows.
struct EventFields {
    /// Timestamps of the latest occurrence, the first present wins.
    last_seen: &'static [&'static [&'static str]],
    /// The REASON column's description.
    reason: &'static str,
    /// Field with the object the event is about.
    object: &'static str,
    /// Heading and field of the human-readable text.
    message: (&'static str, &'static str),
}

fn event_table(f: EventFields) -> Vec<Column> {
    let (heading, message) = f.message;
    let (last_seen, object) = (f.last_seen, f.object);
    vec![
        Column::new(
            "Last Seen",
            "Time since the most recent occurrence.",
            move |o, now| json!(since(o, last_seen, now)),
        ),
        Column::new("Type", "Type of this event (Normal, Warning).", |o, _| {
            json!(str_at(o, &["type"]).unwrap_or(""))
        }),
        Column::new("Reason", f.reason, |o, _| {
            json!(str_at(o, &["reason"]).unwrap_or(""))
        }),
        Column::new("Object", "The object this event is about.", move |o, _| {
            json!(object_ref(o.get(object)))
        }),
        Column::new(heading, "A human-readable description.", move |o, _| {
            json!(str_at(o, &[message]).unwrap_or(""))
        }),
        name_column().wide(),
    ]
}

/// NAME, the CRD's printer columns (simple `.a.b.c` paths), AGE.
pub(crate) fn generic_columns(res: &ResourceInfo) -> Vec<Column> {
    let mut columns = vec![name_column()];
    for pc in &res.printer_columns {
        if pc.name.eq_ignore_ascii_case("age") {
            continue;
        }
        let path: Vec<String> = pc
            .json_path
            .trim_start_matches('.')
            .split('.')
            .map(String::from)
            .collect();
        let is_date = pc.type_ == "date";
        let cell = move |o: &Value, now: DateTime<Utc>| {
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            match at(o, &keys) {
                Some(Value::String(s)) if is_date => {
                    json!(parse_time(s)
                        .map(|t| human_duration(now - t))
                        .unwrap_or_else(|| s.clone()))
                }
                Some(v) => v.clone(),
                None => Value::Null,
            }
        };
        let mut c = Column::new(&pc.name, &pc.description, cell);
        c.type_ = match pc.type_.as_str() {
            "integer" => "integer",
            "number" => "number",
            "boolean" => "boolean",
            "date" => "date",
            _ => "string",
        };
        c.priority = pc.priority;
        columns.push(c);
    }
    columns.push(age_column());
    columns
}
