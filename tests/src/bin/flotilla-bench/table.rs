//! The one table: a row per phase (time, the pipeline's writes, the store's floor for them, the
//! ratio, CPU seconds per process), then total CPU and peak RSS per process.

use crate::phases::Report;

const PROCS: [&str; 5] = [
    "etcd",
    "api-server",
    "scheduler",
    "controller-manager",
    "node agents",
];
/// The three whose peak RSS together has a goal (issue 27: ≤ 150 MiB).
const CONTROL: [&str; 3] = ["api-server", "scheduler", "controller-manager"];

pub fn print(r: &Report) {
    let a = &r.args;
    println!();
    println!(
        "flotilla-bench e2e: {} nodes in {} node-agent processes (the first of {}), {} replicas, \
         simulated latency {:?}; setup {:.1?}; load before: {}",
        a.nodes,
        a.agents,
        a.lost_nodes.min(a.nodes),
        a.replicas,
        a.latency,
        r.setup,
        r.load.trim()
    );
    println!(
        "raw etcd: {:.0} puts/s of 1.5 KB at {} in flight (same etcd, half before the phases, \
         half after); floor = writes ÷ that rate",
        r.raw_rate, a.concurrency
    );
    println!();
    let header = [
        "phase", "outcome", "time s", "writes", "floor s", "ratio", "etcd", "api", "sched", "cm",
        "agents",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for p in &r.phases {
        let writes = p.pipeline_writes();
        let floor = writes as f64 / r.raw_rate;
        let mut row = vec![
            p.name.to_string(),
            p.outcome.clone(),
            format!("{:.1}", p.time.as_secs_f64()),
            writes.to_string(),
            format!("{floor:.1}"),
            format!("{:.1}×", p.time.as_secs_f64() / floor),
        ];
        row.extend(
            PROCS
                .iter()
                .map(|n| format!("{:.1}", p.cpu.get(n).copied().unwrap_or(0.0))),
        );
        rows.push(row);
    }
    let total = |f: fn(&crate::phases::ProcessTotal) -> f64| -> Vec<String> {
        PROCS
            .iter()
            .map(|n| {
                r.processes
                    .iter()
                    .find(|t| t.name == *n)
                    .map(|t| format!("{:.1}", f(t)))
                    .unwrap_or_else(|| "-".into())
            })
            .collect()
    };
    let mut cpu_row = vec!["whole run".to_string(), "CPU s".to_string()];
    cpu_row.extend(["", "", "", ""].map(String::from));
    cpu_row.extend(total(|t| t.cpu));
    rows.push(cpu_row);
    let mut rss_row = vec!["whole run".to_string(), "peak RSS MiB".to_string()];
    rss_row.extend(["", "", "", ""].map(String::from));
    rss_row.extend(total(|t| t.peak_rss_mib));
    rows.push(rss_row);
    print_rows(&rows);

    let control: f64 = r
        .processes
        .iter()
        .filter(|t| CONTROL.contains(&t.name))
        .map(|t| t.peak_rss_mib)
        .sum();
    println!();
    println!(
        "api-server + scheduler + controller-manager peak RSS: {control:.0} MiB (goal ≤ 150); \
         agents: sum over their processes"
    );
    for p in &r.phases {
        let by: Vec<String> = p.writes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("{} writes: {}", p.name, by.join(", "));
        if !p.event_reasons.is_empty() {
            let by: Vec<String> = p
                .event_reasons
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            println!("{} events by reason: {}", p.name, by.join(", "));
        }
        if !p.note.is_empty() {
            println!("{}: {}", p.name, p.note);
        }
    }
}

fn print_rows(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let pad = width[c] - s.chars().count();
                if c < 2 {
                    format!("{s}{}", " ".repeat(pad))
                } else {
                    format!("{}{s}", " ".repeat(pad))
                }
            })
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
