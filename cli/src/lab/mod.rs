//! `flotilla lab <experiment>`: the same experiments on real Docker Swarm (this machine's
//! engine in swarm mode) and on Flotilla's split control plane, measured side by side. Each
//! experiment starts its systems fresh, repeats (default 3), prints min/median/max per
//! system and can write JSON. See docs/lessons/README.md for what each one teaches.
//!
//! Swarm mode is initialised by the experiment that needs it and left (`docker swarm leave
//! --force`) when it ends, failed or not.

mod capture;
mod capture_shape;
mod converge;
mod drain;
mod flotilla;
mod footprint;
mod leader;
mod procstat;
mod quorum;
mod replace;
mod report;
mod stats;
mod swarm;
mod system;
mod update;

use std::path::PathBuf;
use std::time::Duration;

use report::Report;

/// The image both systems run (built locally by `flotilla up`/`images`; see cli/src/up/image.rs).
pub const IMAGE: &str = crate::up::image::WEB_IMAGE;

const EXPERIMENTS: [&str; 7] = [
    "converge",
    "replace",
    "drain",
    "update",
    "leader",
    "quorum",
    "footprint",
];

#[derive(Debug, Clone, clap::Args)]
pub struct LabOptions {
    /// converge, replace, drain, update, leader, quorum, footprint, or all; `capture` runs the
    /// commands of docs/lessons/ and writes their output into the pages.
    pub experiment: String,
    /// Replicas for converge (default 10), update (6), drain (6) and footprint (100).
    pub n: Option<usize>,
    /// Repeats of each measurement.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Also write the reports as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Only this system: swarm or flotilla (default both).
    #[arg(long)]
    pub only: Option<String>,
    #[command(flatten)]
    pub capture: capture::CaptureOptions,
}

/// What every experiment gets.
pub struct Params {
    pub n: Option<usize>,
    pub repeat: usize,
    pub only: Option<String>,
}

impl Params {
    fn wants(&self, system: &str) -> bool {
        self.only.as_deref().is_none_or(|o| o == system)
    }

    /// Runs `f` on a fresh single-node swarm, leaving swarm mode afterwards in every case.
    pub async fn on_swarm<F>(&self, report: &mut Report, f: F) -> anyhow::Result<()>
    where
        F: AsyncFnOnce(&mut swarm::Swarm, &mut Report) -> anyhow::Result<()>,
    {
        if !self.wants("swarm") {
            return Ok(());
        }
        println!("-- swarm");
        let mut swarm = swarm::Swarm::init()?;
        let result = f(&mut swarm, report).await;
        swarm.leave()?;
        result
    }

    /// Runs `f` on a fresh split control plane with `agents` Docker-runtime agents, stopping
    /// it (containers removed) afterwards in every case.
    pub async fn on_flotilla<F>(&self, report: &mut Report, agents: u8, f: F) -> anyhow::Result<()>
    where
        F: AsyncFnOnce(&mut flotilla::Flotilla, &mut Report) -> anyhow::Result<()>,
    {
        if !self.wants("flotilla") {
            return Ok(());
        }
        println!("-- flotilla");
        let mut f_sys = flotilla::Flotilla::start(agents, None).await?;
        let result = f(&mut f_sys, report).await;
        f_sys.shutdown().await;
        result
    }
}

/// How long a service of `n` replicas may take to converge on this small machine.
pub fn timeout_for(n: usize) -> Duration {
    Duration::from_secs(60 + 3 * n as u64)
}

pub async fn lab(opts: LabOptions) -> anyhow::Result<()> {
    anyhow::ensure!(opts.repeat >= 1, "--repeat must be at least 1");
    if let Some(o) = &opts.only {
        anyhow::ensure!(
            o == "swarm" || o == "flotilla",
            "--only {o:?}: expected swarm or flotilla"
        );
    }
    if opts.experiment == "capture" {
        crate::up::image::ensure_web_image(&std::env::temp_dir().join("flotilla-lab-image"))?;
        return capture::capture(&opts.capture).await;
    }
    let names: Vec<&str> = match opts.experiment.as_str() {
        "all" => EXPERIMENTS.to_vec(),
        e if EXPERIMENTS.contains(&e) => vec![e],
        other => anyhow::bail!(
            "unknown experiment {other:?}: expected one of {} or all",
            EXPERIMENTS.join(", ")
        ),
    };
    crate::up::image::ensure_web_image(&std::env::temp_dir().join("flotilla-lab-image"))?;
    let params = Params {
        n: if opts.experiment == "all" {
            None
        } else {
            opts.n
        },
        repeat: opts.repeat,
        only: opts.only.clone(),
    };
    let started = tokio::time::Instant::now();
    println!("load average at start: {}", load_average());
    let mut reports = Vec::new();
    for name in names {
        println!("\n### {name}");
        let t0 = tokio::time::Instant::now();
        let report = run_one(name, &params).await?;
        print!("\n{}", report::render(&report));
        println!("({name} took {:.0}s)", t0.elapsed().as_secs_f64());
        reports.push(report);
        if let Some(path) = &opts.json {
            std::fs::write(path, serde_json::to_string_pretty(&reports)?)?;
        }
    }
    println!(
        "\nlab finished in {:.0}s; load average at the end: {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    Ok(())
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`, what `uptime` prints): other work
/// on the machine skews every figure, so each run states it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

async fn run_one(name: &str, p: &Params) -> anyhow::Result<Report> {
    match name {
        "converge" => converge::run(p).await,
        "replace" => replace::run(p).await,
        "drain" => drain::run(p).await,
        "update" => update::run(p).await,
        "leader" => leader::run(p).await,
        "quorum" => quorum::run(p).await,
        "footprint" => footprint::run(p).await,
        other => anyhow::bail!("unknown experiment {other:?}"),
    }
}
