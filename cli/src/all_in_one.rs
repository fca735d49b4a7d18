//! `flotilla all-in-one`: Swarm's single-daemon design — the api-server (over the embedded
//! store instead of etcd) and the control loops as tasks of one process.

use std::path::PathBuf;

use flotilla_api_server::app::{self, Options};

#[derive(Debug, Clone, clap::Args)]
pub struct AllInOneOptions {
    /// Where certificates and the kubeconfig go.
    #[arg(long, default_value = ".flotilla-aio")]
    pub data_dir: PathBuf,
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
}

pub async fn all_in_one(opts: AllInOneOptions) -> anyhow::Result<()> {
    let data = std::path::absolute(&opts.data_dir)?;
    let mut options = Options::embedded(data.join("pki"));
    let kubeconfig = data.join("kubeconfig");
    options.write_kubeconfig = Some(kubeconfig.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    println!(
        "flotilla all-in-one: api-server on https://127.0.0.1:{} (embedded store)",
        opts.port
    );
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  the scheduler and controller-manager join this process as they are built (issues #4, #5)");
    app::run(listener, options, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
