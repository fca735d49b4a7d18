//! `flotilla up`: the whole split control plane on this machine, as separate processes —
//! etcd, flotilla-api-server, flotilla-scheduler, flotilla-controller-manager and one
//! flotilla-node-agent per node — then the example service, until Ctrl-C.

mod cluster;
mod cri;
pub mod image;
mod procs;
pub(crate) mod setup;
mod spec;
pub mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

use flotilla_api::service::SwarmService;
use kube::api::Api;

pub use cluster::Cluster;
pub use procs::{tail, Procs, Stopped};
pub use setup::{remove_containers, wait_for_kubeconfig};
pub use spec::{AgentSpec, ClusterSpec, Runtime};

/// What `flotilla up` starts.
#[derive(Debug, Clone, clap::Args)]
pub struct UpOptions {
    /// Where etcd data, certificates, kubeconfigs and logs go.
    #[arg(long, default_value = ".flotilla")]
    pub data_dir: PathBuf,
    /// The api-server's HTTPS port.
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// How many node agents (addresses 127.0.0.2, 127.0.0.3, …).
    #[arg(long, default_value_t = 3)]
    pub nodes: u8,
    /// `docker`, `cri` or `simulated`; default: docker when an engine answers.
    #[arg(long)]
    pub runtime: Option<String>,
    /// `--runtime cri`: the containerd to use (`unix:///…`); default: start a private one
    /// under the data dir.
    #[arg(long)]
    pub cri_endpoint: Option<String>,
    /// The manifest applied once the cluster is up.
    #[arg(long, default_value = "examples/web.yaml")]
    pub manifest: PathBuf,
    /// How long to wait for the example service to converge.
    #[arg(long, default_value = "180s", value_parser = flotilla_api::duration::parse_duration)]
    pub timeout: Duration,
    /// Stop everything once the service converged (or the wait timed out) instead of waiting
    /// for Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

pub async fn up(opts: UpOptions) -> anyhow::Result<()> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let runtime = match opts.runtime.as_deref() {
        Some(r) => Runtime::parse(r)?,
        None if image::docker_available() => Runtime::Docker,
        None => Runtime::Simulated,
    };
    let data = std::path::absolute(&opts.data_dir)?;
    let mut agents = AgentSpec::numbered("node", opts.nodes, runtime);
    if runtime == Runtime::Docker {
        image::ensure_web_image(&data)?;
    }
    let node_runtime = match runtime {
        Runtime::Cri => Some(cri::NodeRuntime::start(&data, opts.cri_endpoint.as_deref()).await?),
        _ => None,
    };
    if let Some(r) = &node_runtime {
        for a in &mut agents {
            a.extra_args.extend(r.agent_args(&data));
        }
    }
    let spec = ClusterSpec {
        bin_dir,
        data_dir: opts.data_dir.clone(),
        port: opts.port,
        agents: agents.clone(),
        controller_manager_args: vec![],
    };
    // On an error the cluster's processes are killed as it drops.
    let result = match Cluster::start(spec).await {
        Ok(mut cluster) => {
            let result = run(&opts, &mut cluster).await;
            println!("stopping…");
            cluster.shutdown().await;
            result
        }
        Err(e) => Err(e),
    };
    if let Some(r) = node_runtime {
        r.stop(&agents).await;
    }
    result
}

async fn run(opts: &UpOptions, cluster: &mut Cluster) -> anyhow::Result<()> {
    let client = cluster.client();
    let manifest = std::fs::read_to_string(&opts.manifest)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", opts.manifest.display()))?;
    let services = wait::apply_manifest(&client, &manifest).await?;
    let converged = converge(&client, &services, opts.timeout, cluster).await?;
    let ips: Vec<String> = (0..opts.nodes)
        .map(|i| format!("127.0.0.{}", i + 2))
        .collect();
    print_next_steps(cluster.kubeconfig(), opts.port, &ips, converged);
    if opts.exit {
        anyhow::ensure!(
            converged,
            "the example service did not converge within {:?}",
            opts.timeout
        );
    } else {
        println!("\nCtrl-C stops everything.");
        flotilla_component::shutdown_signal().await;
    }
    Ok(())
}

/// Waits until every applied service shows `desired/desired`, printing progress.
async fn converge(
    client: &kube::Client,
    services: &[String],
    timeout: Duration,
    cluster: &mut Cluster,
) -> anyhow::Result<bool> {
    let api: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        cluster.check()?;
        let mut all = true;
        let mut line = Vec::new();
        for name in services {
            let (running, desired) = wait::replicas(&api, name).await?;
            all &= running >= desired;
            line.push(format!("{name} {running}/{desired}"));
        }
        let line = line.join(", ");
        if line != last {
            println!("  service {line}");
            last = line;
        }
        if all {
            return Ok(true);
        }
        if tokio::time::Instant::now() > deadline {
            println!("  not converged after {timeout:?}; see the logs in the data dir");
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_next_steps(kubeconfig: &Path, port: u16, ips: &[String], converged: bool) {
    let state = if converged {
        "is running"
    } else {
        "was applied"
    };
    println!("\nThe example service {state}. Try:");
    println!("  export KUBECONFIG={}", kubeconfig.display());
    println!("  kubectl get ssvc              # like docker service ls");
    println!("  kubectl get tasks -o wide     # like docker service ps web");
    println!("  kubectl get swarmnodes        # like docker node ls");
    for ip in ips {
        println!("  curl http://{ip}:8080/        # the routing mesh on every node");
    }
    println!("  (api-server: https://127.0.0.1:{port})");
}
