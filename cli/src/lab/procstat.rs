//! Resident memory and CPU time of processes, read from /proc (pure parsers, thin readers).

use std::process::Command;

/// `VmRSS` of a `/proc/<pid>/status` text, in KiB.
pub fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` text, in clock ticks. The command
/// name (field 2) may hold spaces, so fields are counted after its closing parenthesis.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, i.e. index 11 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The parent pid (field 4) of a `/proc/<pid>/stat` text.
pub fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

pub fn ppid(pid: u32) -> Option<u32> {
    parse_ppid(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The Docker engine: dockerd and the containerd it runs its containers with (its child, or
/// the system's containerd started by init). Private containerds other programs start (tests
/// run their own) are not the engine and are left out.
pub fn engine_pids() -> Vec<u32> {
    let dockerd = pids_named("dockerd", false);
    let all = pids_named("containerd", false);
    let children: Vec<u32> = all
        .iter()
        .copied()
        .filter(|&c| ppid(c).is_some_and(|p| dockerd.contains(&p)))
        .collect();
    // A system containerd (started by init, no flags) when dockerd did not start its own.
    let containerd = if children.is_empty() {
        all.into_iter()
            .filter(|&c| {
                ppid(c) == Some(1) && cmdline(c).split('\0').nth(1).is_none_or(str::is_empty)
            })
            .collect()
    } else {
        children
    };
    dockerd.into_iter().chain(containerd).collect()
}

fn cmdline(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    parse_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux if that fails).
pub fn ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Pids whose command name (`/proc/<pid>/comm`) is `comm`, or starts with it when `prefix`.
pub fn pids_named(comm: &str, prefix: bool) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let name = name.trim();
            if prefix {
                name.starts_with(comm)
            } else {
                name == comm
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_from_status() {
        let status = "Name:\tetcd\nVmPeak:\t  1000 kB\nVmRSS:\t   51234 kB\nThreads:\t12\n";
        assert_eq!(parse_rss_kib(status), Some(51234));
        assert_eq!(
            parse_rss_kib("Name:\tkthreadd\n"),
            None,
            "kernel threads have none"
        );
    }

    #[test]
    fn cpu_from_stat_with_spaces_in_the_name() {
        let stat =
            "4242 (tokio worker) S 1 4242 4242 0 -1 4194560 1795 0 0 0 317 88 0 0 20 0 9 0 1234";
        assert_eq!(parse_cpu_ticks(stat), Some(317 + 88));
        assert_eq!(parse_ppid(stat), Some(1));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_is_found_and_measured() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_ticks(me).is_some());
    }
}
