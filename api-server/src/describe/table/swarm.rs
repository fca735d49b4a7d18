//! Columns for Flotilla's kinds, copying the Docker CLI (docs/swarm-model.md#what-kubectl-get-copies-from-the-docker-cli): `kubectl get ssvc`
//! reads like `docker service ls`, `kubectl get tasks` like `docker service ps`, `kubectl get
//! swarmnodes` like `docker node ls`.

use super::duration::{docker_duration, parse_time};
use super::{age_column, at, capitalize, name_column, str_at, Column};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

const MAX_ERROR_LEN: usize = 30;

pub(crate) fn service_columns() -> Vec<Column> {
    vec![
        name_column(),
        Column::new(
            "Mode",
            "Service mode: replicated, global, replicated job or global job.",
            |o, _| json!(mode(o).display()),
        ),
        Column::new(
            "Replicas",
            "Running tasks / desired tasks, as docker service ls prints them.",
            |o, _| json!(replicas(o)),
        ),
        Column::new("Image", "Container image of the task template.", |o, _| {
            json!(strip_digest(
                str_at(o, &["spec", "taskTemplate", "containerSpec", "image"]).unwrap_or("")
            ))
        }),
        Column::new(
            "Ports",
            "Ingress-published ports, *:published->target/protocol.",
            |o, _| json!(ingress_ports(o)),
        ),
        age_column(),
    ]
}

pub(crate) fn task_columns() -> Vec<Column> {
    vec![
        name_column(),
        Column::new("Image", "Container image.", |o, _| {
            json!(strip_digest(
                str_at(o, &["spec", "template", "containerSpec", "image"]).unwrap_or("")
            ))
        }),
        Column::new("Node", "Node the task is bound to.", |o, _| {
            json!(str_at(o, &["spec", "nodeName"]).unwrap_or(""))
        }),
        Column::new(
            "Desired State",
            "State the managers want the task in.",
            |o, _| {
                json!(capitalize(
                    str_at(o, &["spec", "desiredState"]).unwrap_or("")
                ))
            },
        ),
        Column::new(
            "Current State",
            "Observed state and how long ago it was reached.",
            current_state,
        ),
        Column::new(
            "Error",
            "Why the task failed or cannot be scheduled.",
            |o, _| json!(task_error(str_at(o, &["status", "err"]).unwrap_or(""))),
        ),
        Column::new("Ports", "Host-mode published ports.", |o, _| {
            json!(port_list(at(o, &["status", "portStatus"])))
        })
        .wide(),
        age_column(),
    ]
}

pub(crate) fn node_columns() -> Vec<Column> {
    vec![
        name_column(),
        Column::new(
            "Hostname",
            "Hostname reported by the node agent.",
            |o, _| json!(str_at(o, &["status", "hostname"]).unwrap_or("")),
        ),
        Column::new("Status", "Ready, Down, Unknown or Disconnected.", |o, _| {
            json!(capitalize(
                str_at(o, &["status", "state"]).unwrap_or("unknown")
            ))
        }),
        Column::new("Availability", "Active, Pause or Drain.", |o, _| {
            json!(capitalize(
                str_at(o, &["spec", "availability"]).unwrap_or("active")
            ))
        }),
        Column::new("Role", "worker or manager.", |o, _| {
            json!(str_at(o, &["spec", "role"]).unwrap_or("worker"))
        }),
        Column::new("Engine Version", "Container engine version.", |o, _| {
            json!(str_at(o, &["status", "engine", "engineVersion"]).unwrap_or(""))
        }),
        Column::new("Address", "Node address.", |o, _| {
            json!(str_at(o, &["status", "addr"]).unwrap_or(""))
        })
        .wide(),
        age_column(),
    ]
}

pub(crate) fn network_columns() -> Vec<Column> {
    vec![
        name_column(),
        Column::new("Driver", "Network driver.", |o, _| {
            json!(str_at(o, &["spec", "driver"]).unwrap_or("overlay"))
        }),
        Column::new("Subnet", "Allocated (or requested) subnet.", |o, _| {
            let subnet =
                str_at(o, &["status", "subnet"]).or_else(|| str_at(o, &["spec", "subnet"]));
            json!(subnet.unwrap_or(""))
        }),
        Column::new(
            "Ingress",
            "Whether this is the routing-mesh network.",
            |o, _| {
                json!(at(o, &["spec", "ingress"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false))
            },
        )
        .typed("boolean")
        .wide(),
        age_column(),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Replicated,
    Global,
    ReplicatedJob,
    GlobalJob,
}

impl Mode {
    fn display(self) -> &'static str {
        match self {
            Mode::Replicated => "replicated",
            Mode::Global => "global",
            Mode::ReplicatedJob => "replicated job",
            Mode::GlobalJob => "global job",
        }
    }
}

/// The mode set in `spec.mode`; unset means replicated (Swarm's default).
fn mode(o: &Value) -> Mode {
    let m = at(o, &["spec", "mode"]);
    let has = |key: &str| m.and_then(|m| m.get(key)).is_some_and(|v| !v.is_null());
    if has("global") {
        Mode::Global
    } else if has("replicatedJob") {
        Mode::ReplicatedJob
    } else if has("globalJob") {
        Mode::GlobalJob
    } else {
        Mode::Replicated
    }
}

fn int_at(o: &Value, path: &[&str]) -> Option<i64> {
    at(o, path)?.as_i64()
}

/// `running/desired`, plus ` (max N per node)` or, for jobs, ` (completed/total completed)`.
fn replicas(o: &Value) -> String {
    let running = int_at(o, &["status", "runningReplicas"]).unwrap_or(0);
    let status_desired = int_at(o, &["status", "replicas"]);
    let mode = mode(o);
    let desired = status_desired.unwrap_or_else(|| match mode {
        Mode::Replicated => int_at(o, &["spec", "mode", "replicated", "replicas"]).unwrap_or(1),
        Mode::ReplicatedJob => {
            int_at(o, &["spec", "mode", "replicatedJob", "maxConcurrent"]).unwrap_or(1)
        }
        Mode::Global | Mode::GlobalJob => 0,
    });
    let mut out = format!("{running}/{desired}");
    let completed = int_at(o, &["status", "completedTasks"]).unwrap_or(0);
    match mode {
        Mode::Replicated => {
            let max = int_at(o, &["spec", "taskTemplate", "placement", "maxReplicas"]).unwrap_or(0);
            if max > 0 {
                out.push_str(&format!(" (max {max} per node)"));
            }
        }
        Mode::ReplicatedJob => {
            let max_concurrent =
                int_at(o, &["spec", "mode", "replicatedJob", "maxConcurrent"]).unwrap_or(1);
            let total = int_at(o, &["spec", "mode", "replicatedJob", "totalCompletions"])
                .unwrap_or(max_concurrent);
            out.push_str(&format!(" ({completed}/{total} completed)"));
        }
        Mode::GlobalJob => {
            out.push_str(&format!(" ({completed}/{} completed)", desired + completed))
        }
        Mode::Global => {}
    }
    out
}

/// `redis:7.4.1@sha256:…` → `redis:7.4.1`, as docker service ls prints images.
fn strip_digest(image: &str) -> &str {
    image.split('@').next().unwrap_or(image)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Port {
    protocol: String,
    published: i64,
    target: i64,
}

fn ports(list: Option<&Value>, ingress_only: bool) -> Vec<Port> {
    let items = list
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    items
        .iter()
        .filter(|p| {
            !ingress_only
                || p.get("publishMode")
                    .and_then(Value::as_str)
                    .unwrap_or("ingress")
                    == "ingress"
        })
        .filter_map(|p| {
            Some(Port {
                protocol: p
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("tcp")
                    .to_string(),
                published: p.get("publishedPort")?.as_i64().filter(|n| *n > 0)?,
                target: p.get("targetPort")?.as_i64()?,
            })
        })
        .collect()
}

/// Ingress ports of the allocated endpoint (or the spec until allocated), consecutive ports
/// collapsed into ranges (`*:80-81->80-81/tcp`), joined by `, `, like docker service ls.
fn ingress_ports(o: &Value) -> String {
    let allocated = at(o, &["status", "endpoint", "ports"])
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    let mut list = ports(
        allocated.or_else(|| at(o, &["spec", "endpoint", "ports"])),
        true,
    );
    list.sort_by(|a, b| (&a.protocol, a.published).cmp(&(&b.protocol, b.published)));
    let mut ranges: Vec<(Port, Port)> = Vec::new();
    for p in list {
        match ranges.last_mut() {
            Some((_, end))
                if end.protocol == p.protocol
                    && p.published == end.published + 1
                    && p.target == end.target + 1 =>
            {
                *end = p
            }
            _ => ranges.push((p.clone(), p)),
        }
    }
    let shown: Vec<String> = ranges
        .iter()
        .map(|(s, e)| {
            if s == e {
                format!("*:{}->{}/{}", s.published, s.target, s.protocol)
            } else {
                format!(
                    "*:{}-{}->{}-{}/{}",
                    s.published, e.published, s.target, e.target, s.protocol
                )
            }
        })
        .collect();
    shown.join(", ")
}

/// Host-mode port bindings of a task, `*:8080->80/tcp`, comma-joined.
fn port_list(list: Option<&Value>) -> String {
    let shown: Vec<String> = ports(list, false)
        .iter()
        .map(|p| format!("*:{}->{}/{}", p.published, p.target, p.protocol))
        .collect();
    shown.join(",")
}

/// `Running 5 minutes ago`: the observed state and the time since `status.timestamp`.
fn current_state(o: &Value, now: DateTime<Utc>) -> Value {
    let state = capitalize(str_at(o, &["status", "state"]).unwrap_or("new"));
    let since = str_at(o, &["status", "timestamp"])
        .or_else(|| str_at(o, &["metadata", "creationTimestamp"]))
        .and_then(parse_time);
    match since {
        Some(t) => json!(format!("{state} {} ago", docker_duration(now - t))),
        None => json!(state),
    }
}

/// `"task: non-zero exit (1)"`: quoted, cut to 30 characters with `…` like docker service ps.
fn task_error(err: &str) -> String {
    if err.is_empty() {
        return String::new();
    }
    let shown: String = if err.chars().count() > MAX_ERROR_LEN {
        err.chars()
            .take(MAX_ERROR_LEN - 1)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        err.to_string()
    };
    format!("\"{shown}\"")
}
