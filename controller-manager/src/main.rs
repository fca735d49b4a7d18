//! `flotilla-controller-manager --kubeconfig PATH [--leader-elect] [--controllers=*]`

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use flotilla_controller_manager::{run, Options, Selection};

#[derive(Parser, Debug)]
#[command(
    name = "flotilla-controller-manager",
    about = "Runs Flotilla's orchestration controllers"
)]
struct Args {
    /// Kubeconfig of the controller-manager identity (default: KUBECONFIG / in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Run only while holding the `flotilla-controller-manager` Lease.
    #[arg(long, default_value_t = false)]
    leader_elect: bool,
    /// Controllers to run: `*`, names, `-name` to exclude (e.g. `*,-reaper`).
    #[arg(long, default_value = "*")]
    controllers: String,
    /// Terminal tasks kept per slot (negative: never delete).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    task_history_limit: i64,
}

async fn client(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(&path)
                .with_context(|| format!("reading --kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let opts = Options {
        controllers: Selection::parse(&args.controllers)?,
        history_limit: args.task_history_limit,
        ..Options::default()
    };
    let client = client(args.kubeconfig).await?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if args.leader_elect {
        // Waits for flotilla-runtime's Lease elector (being landed by the scheduler work).
        anyhow::bail!("--leader-elect: leader election is not available in this build yet");
    } else {
        run(client, opts, shutdown).await?;
    }
    Ok(())
}
