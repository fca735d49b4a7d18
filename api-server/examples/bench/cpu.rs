//! CPU time per side of the benchmark, read from `/proc`: the api-server's runtime threads
//! (named [`SERVER_THREADS`]), every other thread of this process (the benchmark clients), and
//! the etcd process. Throughput on a shared 2-core machine is noisy; CPU time per operation is
//! what each side costs, whatever else the machine was doing.

use std::time::Duration;

/// Thread name of the runtime the api-server runs on.
pub const SERVER_THREADS: &str = "apiserver";

/// Linux reports thread times in clock ticks of 1/100 s (USER_HZ) on every common platform.
const TICK: Duration = Duration::from_millis(10);

/// Cumulative CPU time (user + system) per side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub server: Duration,
    pub client: Duration,
    pub etcd: Duration,
}

impl Cpu {
    /// The totals now. `etcd_pid` is the etcd process (a child of this one).
    pub fn sample(etcd_pid: u32) -> Cpu {
        let mut cpu = Cpu {
            etcd: process_time(&format!("/proc/{etcd_pid}/stat")).unwrap_or_default(),
            ..Cpu::default()
        };
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return cpu;
        };
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let Some((name, time)) = parse_stat(&stat) else {
                continue;
            };
            if name.starts_with(SERVER_THREADS) {
                cpu.server += time;
            } else {
                cpu.client += time;
            }
        }
        cpu
    }

    /// CPU spent since `earlier`.
    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            server: self.server.saturating_sub(earlier.server),
            client: self.client.saturating_sub(earlier.client),
            etcd: self.etcd.saturating_sub(earlier.etcd),
        }
    }

    /// The sum of two spans.
    pub fn plus(&self, other: &Cpu) -> Cpu {
        Cpu {
            server: self.server + other.server,
            client: self.client + other.client,
            etcd: self.etcd + other.etcd,
        }
    }

    /// `cpu/op: api-server 410 µs, etcd 95 µs, clients 180 µs` (the server part left out when
    /// it did no work, as for raw etcd puts).
    pub fn per_op(&self, ops: usize, unit: &str) -> String {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / ops.max(1) as f64;
        let server = if self.server > TICK * 5 {
            format!("api-server {:.0} µs, ", per(self.server))
        } else {
            String::new()
        };
        format!(
            "cpu/{unit}: {server}etcd {:.0} µs, clients {:.0} µs",
            per(self.etcd),
            per(self.client)
        )
    }
}

fn process_time(path: &str) -> Option<Duration> {
    parse_stat(&std::fs::read_to_string(path).ok()?).map(|(_, t)| t)
}

/// `(comm, utime + stime)` of a `/proc/.../stat` line (comm may contain spaces and parens).
fn parse_stat(stat: &str) -> Option<(&str, Duration)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = &stat[open + 1..close];
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the comm: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(11) stime(12).
    let utime: u32 = fields.get(11)?.parse().ok()?;
    let stime: u32 = fields.get(12)?.parse().ok()?;
    Some((name, TICK * (utime + stime)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thread_name_and_ticks() {
        let line = "4242 (apiserver (2)) S 1 1 1 0 -1 4194368 10 0 0 0 150 25 0 0 20 0 4 0";
        let (name, t) = parse_stat(line).unwrap();
        assert_eq!(name, "apiserver (2)");
        assert_eq!(t, Duration::from_millis(1750));
        assert!(parse_stat("garbage").is_none());
    }
}
