//! CPU seconds and peak RSS of the cluster's processes, read from /proc.

use std::collections::BTreeMap;

/// A process the bench follows: its name in the table and its pid.
#[derive(Clone, Debug)]
pub struct Watched {
    pub name: &'static str,
    pub pid: u32,
}

/// The `comm` prefix (15 characters at most) of each control-plane binary and its table name.
const COMPONENTS: [(&str, &str); 4] = [
    ("etcd", "etcd"),
    ("flotilla-api-se", "api-server"),
    ("flotilla-schedu", "scheduler"),
    ("flotilla-contro", "controller-manager"),
];

/// The bench's children that are control-plane components (started by `Cluster`).
pub fn control_plane() -> Vec<Watched> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = head.split_once(" (").map(|(_, c)| c).unwrap_or("");
        let ppid: u32 = rest
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid != me {
            continue;
        }
        if let Some((_, name)) = COMPONENTS.iter().find(|(c, _)| comm.starts_with(c)) {
            found.push(Watched { name, pid });
        }
    }
    found.sort_by_key(|w| COMPONENTS.iter().position(|(_, n)| *n == w.name));
    found
}

/// CPU seconds (utime + stime) of a process; 0 once it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .unwrap_or("")
        .split(' ')
        .collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on Linux.
    (tick(11) + tick(12)) / 100.0
}

/// VmHWM (peak resident set) of a process in MiB; 0 once it is gone.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU seconds per process name (agents summed under one name), at one instant.
pub fn cpu_by_name(procs: &[Watched]) -> BTreeMap<&'static str, f64> {
    let mut cpu = BTreeMap::new();
    for p in procs {
        *cpu.entry(p.name).or_default() += cpu_seconds(p.pid);
    }
    cpu
}
