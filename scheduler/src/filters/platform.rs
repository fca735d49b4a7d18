//! `PlatformFilter`: the node's OS/architecture matches one of the task's platforms
//! (`x86_64` ≡ `amd64`, `aarch64` ≡ `arm64`; an empty field is a wildcard).

use flotilla_api::template::Platform;

use super::{nodes, Filter};
use crate::model::{NodeInfo, TaskInfo};

pub struct PlatformFilter;

impl Filter for PlatformFilter {
    fn enabled(&self, task: &TaskInfo) -> bool {
        !task.platforms.is_empty()
    }

    fn check(&self, task: &TaskInfo, node: &NodeInfo) -> bool {
        task.platforms.iter().any(|p| supports(p, &node.platform))
    }

    fn explain(&self, n: usize) -> String {
        format!("unsupported platform on {}", nodes(n))
    }
}

fn normalize(arch: &str) -> String {
    match arch.to_ascii_lowercase().as_str() {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

fn field_matches(wanted: Option<&str>, actual: Option<&str>, norm: fn(&str) -> String) -> bool {
    match wanted.filter(|w| !w.is_empty()) {
        None => true,
        Some(w) => actual.is_some_and(|a| norm(w) == norm(a)),
    }
}

fn supports(wanted: &Platform, node: &Platform) -> bool {
    field_matches(
        wanted.architecture.as_deref(),
        node.architecture.as_deref(),
        normalize,
    ) && field_matches(wanted.os.as_deref(), node.os.as_deref(), |s| {
        s.to_ascii_lowercase()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::{node, task};

    fn platform(os: &str, arch: &str) -> Platform {
        let field = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Platform {
            os: field(os),
            architecture: field(arch),
        }
    }

    #[test]
    fn matches_any_platform_with_aliases_and_wildcards() {
        let mut t = task("web", "web.1");
        assert!(!PlatformFilter.enabled(&t));
        t.platforms = vec![platform("linux", "arm64"), platform("windows", "")];
        let mut n = node("n1");
        n.platform = platform("linux", "aarch64");
        assert!(PlatformFilter.check(&t, &n), "aarch64 is arm64");
        n.platform = platform("linux", "x86_64");
        assert!(!PlatformFilter.check(&t, &n));
        n.platform = platform("Windows", "x86_64");
        assert!(
            PlatformFilter.check(&t, &n),
            "empty architecture is a wildcard"
        );
        t.platforms = vec![platform("", "amd64")];
        assert!(PlatformFilter.check(&t, &n), "x86_64 is amd64");
        assert!(
            !PlatformFilter.check(&t, &node("unknown")),
            "unknown platform"
        );
        assert_eq!(PlatformFilter.explain(2), "unsupported platform on 2 nodes");
    }
}
