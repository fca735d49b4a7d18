//! Prometheus metrics at `/metrics`: request counts and latency by verb, resource and code.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds in seconds (kube-apiserver uses a similar spread).
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 60.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

static REQUESTS: Mutex<BTreeMap<(String, String, u16), Series>> = Mutex::new(BTreeMap::new());

/// The resource segment of a path: `/apis/g/v/namespaces/ns/swarmservices/web` → `swarmservices`.
fn resource_label(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segs.as_slice() {
        ["api", _, rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        [first, ..] => return first.to_string(),
        [] => return String::new(),
    };
    match rest {
        ["namespaces", _, r, ..] => r.to_string(),
        [r, ..] => r.to_string(),
        [] => String::new(),
    }
}

pub fn observe(method: &http::Method, path: &str, code: u16, elapsed: Duration) {
    let key = (method.to_string(), resource_label(path), code);
    let secs = elapsed.as_secs_f64();
    let mut map = REQUESTS.lock().unwrap_or_else(|e| e.into_inner());
    let s = map.entry(key).or_default();
    s.count += 1;
    s.sum += secs;
    for (i, b) in BUCKETS.iter().enumerate() {
        if secs <= *b {
            s.buckets[i] += 1;
        }
    }
}

/// The text exposition format.
pub fn render() -> String {
    let map = REQUESTS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::from(
        "# HELP apiserver_request_total Requests by method, resource and code.\n# TYPE apiserver_request_total counter\n",
    );
    for ((m, r, c), s) in map.iter() {
        out += &format!(
            "apiserver_request_total{{verb=\"{m}\",resource=\"{r}\",code=\"{c}\"}} {}\n",
            s.count
        );
    }
    out += "# HELP apiserver_request_duration_seconds Request latency.\n# TYPE apiserver_request_duration_seconds histogram\n";
    for ((m, r, c), s) in map.iter() {
        let labels = format!("verb=\"{m}\",resource=\"{r}\",code=\"{c}\"");
        for (i, b) in BUCKETS.iter().enumerate() {
            out += &format!(
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}\n",
                s.buckets[i]
            );
        }
        out += &format!(
            "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n",
            s.count
        );
        out += &format!(
            "apiserver_request_duration_seconds_sum{{{labels}}} {}\n",
            s.sum
        );
        out += &format!(
            "apiserver_request_duration_seconds_count{{{labels}}} {}\n",
            s.count
        );
    }
    out += &crate::security::delegated::counters::render();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resources_not_names() {
        assert_eq!(
            resource_label("/apis/flotilla.dev/v1alpha1/namespaces/default/swarmservices/web"),
            "swarmservices"
        );
        assert_eq!(
            resource_label("/apis/flotilla.dev/v1alpha1/swarmnodes/n1"),
            "swarmnodes"
        );
        assert_eq!(resource_label("/api/v1/namespaces"), "namespaces");
        assert_eq!(resource_label("/healthz"), "healthz");
    }

    #[test]
    fn counts_appear_in_exposition() {
        observe(
            &http::Method::GET,
            "/apis/flotilla.dev/v1alpha1/tasks",
            200,
            Duration::from_millis(3),
        );
        let text = render();
        assert!(
            text.contains("apiserver_request_total{verb=\"GET\",resource=\"tasks\",code=\"200\"}"),
            "{text}"
        );
    }
}
