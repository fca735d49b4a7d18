//! `flotilla join-token worker [--rotate] [-q]`: prints (or replaces) the token node agents join
//! with, as `docker swarm join-token worker` does. Only administrators may read it: the
//! api-server's authorizer answers 403 to every other identity.

use std::path::PathBuf;

use flotilla_api::join::{WorkerToken, ROTATE_SUFFIX, WORKER_TOKEN_PATH};
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Debug, clap::Args)]
pub struct JoinTokenOptions {
    /// Whose token: `worker` (the control plane's own processes use certificates, not tokens).
    #[arg(value_parser = ["worker"])]
    pub role: String,
    /// Replace the secret: the old token stops working at once, on every api-server.
    #[arg(long)]
    pub rotate: bool,
    /// Print only the token.
    #[arg(long, short)]
    pub quiet: bool,
    /// An administrator's kubeconfig.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

/// Reads (or with `rotate`, replaces and reads) the worker token.
pub async fn fetch(client: &kube::Client, rotate: bool) -> Result<String, kube::Error> {
    let req = match rotate {
        true => http::Request::post(format!("{WORKER_TOKEN_PATH}{ROTATE_SUFFIX}")),
        false => http::Request::get(WORKER_TOKEN_PATH),
    };
    let req = req.body(Vec::new()).expect("a static request is valid");
    let answer: WorkerToken = client.request(req).await?;
    Ok(answer.token)
}

pub async fn join_token(opts: JoinTokenOptions) -> anyhow::Result<()> {
    let config = match &opts.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)?;
    let token = fetch(&client, opts.rotate).await.map_err(|e| match e {
        kube::Error::Api(status) => anyhow::anyhow!("{}", status.message),
        other => other.into(),
    })?;
    if opts.quiet {
        println!("{token}");
        return Ok(());
    }
    if opts.rotate {
        println!("Successfully rotated worker join token.\n");
    }
    println!("To add a worker to this cluster, run the following command:\n");
    println!(
        "    flotilla-node-agent --server {} --join-token {token} --node-name <name>\n",
        server.trim_end_matches('/')
    );
    Ok(())
}
