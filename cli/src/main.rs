//! The `flotilla` command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "flotilla",
    version,
    about = "Swarm's service model on Kubernetes' split control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions of flotilla.dev/v1alpha1 as YAML.
    Crdgen {
        /// Write one file per CRD (`<plural>.flotilla.dev.yaml`) into this directory instead.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Start a whole cluster on this machine (not yet implemented).
    Up,
    /// Run every component in one process (not yet implemented).
    AllInOne,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crdgen { out_dir } => crdgen(out_dir),
        Command::Up => Err(anyhow::anyhow!(
            "`flotilla up` is not yet implemented (issue #6)"
        )),
        Command::AllInOne => Err(anyhow::anyhow!(
            "`flotilla all-in-one` is not yet implemented (issue #6)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("flotilla: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn crdgen(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let Some(dir) = out_dir else {
        print!("{}", flotilla_api::crds_yaml());
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for crd in flotilla_api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, flotilla_api::crd_yaml(&crd))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
