//! `flotilla up`: the whole split control plane on this machine, as separate processes —
//! etcd, flotilla-api-server, flotilla-scheduler, flotilla-controller-manager and one
//! flotilla-node-agent per node — then the example service, until Ctrl-C.

mod image;
mod procs;
mod wait;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use flotilla_api::service::SwarmService;
use flotilla_api_server::security::kubeconfig::write_kubeconfig;
use flotilla_api_server::security::pki::Pki;
use kube::api::Api;

use procs::{Procs, NOT_IMPLEMENTED};

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
    /// `docker` or `simulated`; default: docker when an engine answers.
    #[arg(long)]
    pub runtime: Option<String>,
    /// The manifest applied once the cluster is up.
    #[arg(long, default_value = "examples/web.yaml")]
    pub manifest: PathBuf,
    /// How long to wait for the example service to converge.
    #[arg(long, default_value = "180s", value_parser = humantime_secs)]
    pub timeout: Duration,
    /// Stop everything once the service converged (or the wait timed out) instead of waiting
    /// for Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

fn humantime_secs(s: &str) -> Result<Duration, String> {
    flotilla_api::duration::parse_duration(s).map_err(|e| e.to_string())
}

pub async fn up(opts: UpOptions) -> anyhow::Result<()> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let data = std::path::absolute(&opts.data_dir)?;
    let logs = data.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut procs = Procs::default();
    let result = run(&opts, &bin_dir, &data, &logs, &mut procs).await;
    if let Err(e) = &result {
        eprintln!("flotilla up: {e:#}");
    }
    println!("stopping…");
    procs.stop_all(Duration::from_secs(5)).await;
    result
}

async fn run(
    opts: &UpOptions,
    bin: &Path,
    data: &Path,
    logs: &Path,
    procs: &mut Procs,
) -> anyhow::Result<()> {
    println!("control plane (one process per component, as Kubernetes runs them):");
    let etcd_url = start_etcd(procs, data, logs)?;
    let kubeconfig = data.join("kubeconfig");
    let api_dir = data.join("api-server");
    let encryption = encryption_config(data)?;
    let node_ips: Vec<String> = (0..opts.nodes)
        .map(|i| format!("127.0.0.{}", i + 2))
        .collect();
    let mut args = vec![
        format!("--etcd-servers={etcd_url}"),
        format!("--secure-port={}", opts.port),
        format!("--data-dir={}", api_dir.display()),
        format!("--write-kubeconfig={}", kubeconfig.display()),
        format!("--encryption-provider-config={}", encryption.display()),
    ];
    args.extend(node_ips.iter().map(|ip| format!("--tls-san={ip}")));
    procs.spawn(
        "flotilla-api-server",
        &bin.join("flotilla-api-server"),
        &args,
        logs,
    )?;
    let client = wait_for_kubeconfig(&kubeconfig, procs).await?;
    wait::api_server(&client, Duration::from_secs(20)).await?;
    let pki = Pki::load_or_bootstrap(&api_dir, &node_ips)?;
    let server = format!("https://127.0.0.1:{}", opts.port);
    for component in ["scheduler", "controller-manager"] {
        let kc = component_kubeconfig(&pki, data, component, &server)?;
        let args = vec![
            format!("--kubeconfig={}", kc.display()),
            "--leader-elect".into(),
        ];
        procs.spawn(
            &format!("flotilla-{component}"),
            &bin.join(format!("flotilla-{component}")),
            &args,
            logs,
        )?;
    }
    start_nodes(opts, bin, data, logs, procs, &pki, &server, &node_ips)?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    report_exits(procs)?;
    let manifest = std::fs::read_to_string(&opts.manifest)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", opts.manifest.display()))?;
    let services = wait::apply_manifest(&client, &manifest).await?;
    let converged = converge(&client, &services, opts.timeout, procs).await?;
    print_next_steps(&kubeconfig, opts.port, &node_ips, converged);
    if opts.exit {
        anyhow::ensure!(
            converged,
            "the example service did not converge within {:?}",
            opts.timeout
        );
    } else {
        println!("\nCtrl-C stops everything.");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

fn start_etcd(procs: &mut Procs, data: &Path, logs: &Path) -> anyhow::Result<String> {
    let port = |_: ()| -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    let (client, peer) = (port(())?, port(())?);
    let url = format!("http://127.0.0.1:{client}");
    let args = vec![
        "--name=flotilla".to_string(),
        format!("--data-dir={}", data.join("etcd").display()),
        format!("--listen-client-urls={url}"),
        format!("--advertise-client-urls={url}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-cluster=flotilla=http://127.0.0.1:{peer}"),
        "--log-level=warn".into(),
    ];
    procs.spawn("etcd", Path::new("etcd"), &args, logs)?;
    Ok(url)
}

/// A Kubernetes EncryptionConfiguration with a fresh AES-GCM key, so SwarmSecrets are
/// encrypted at rest from the first start (kept across restarts).
fn encryption_config(data: &Path) -> anyhow::Result<PathBuf> {
    let path = data.join("encryption.yaml");
    if !path.exists() {
        let key: [u8; 32] = rand::random();
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let yaml = format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [\"swarmsecrets.flotilla.dev\"]\n  providers:\n  - aesgcm:\n      keys:\n      - name: key1\n        secret: {key}\n  - identity: {{}}\n"
        );
        std::fs::write(&path, yaml)?;
    }
    Ok(path)
}

async fn wait_for_kubeconfig(path: &Path, procs: &mut Procs) -> anyhow::Result<kube::Client> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        report_exits(procs)?;
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the api-server wrote no kubeconfig in 30s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

fn component_kubeconfig(
    pki: &Pki,
    data: &Path,
    stem: &str,
    server: &str,
) -> anyhow::Result<PathBuf> {
    let (cert, key) = pki.component_credentials(stem)?;
    let path = data.join(format!("{stem}.kubeconfig"));
    let ca = pki
        .client_ca_pem()
        .ok_or_else(|| anyhow::anyhow!("no cluster CA"))?;
    write_kubeconfig(&path, server, ca, &cert, &key, stem)?;
    Ok(path)
}

#[allow(clippy::too_many_arguments)]
fn start_nodes(
    opts: &UpOptions,
    bin: &Path,
    data: &Path,
    logs: &Path,
    procs: &mut Procs,
    pki: &Pki,
    server: &str,
    ips: &[String],
) -> anyhow::Result<()> {
    let runtime = match opts.runtime.as_deref() {
        Some(r) => r.to_string(),
        None if image::docker_available() => "docker".into(),
        None => "simulated".into(),
    };
    if runtime == "docker" {
        image::ensure_web_image(data)?;
    }
    println!("nodes (runtime {runtime}):");
    for (i, ip) in ips.iter().enumerate() {
        let name = format!("node-{}", i + 1);
        let (cert, key) = pki.issue_client(
            &format!("system:node:{name}"),
            &["system:nodes".to_string()],
        )?;
        let kc = data.join(format!("{name}.kubeconfig"));
        let ca = pki
            .client_ca_pem()
            .ok_or_else(|| anyhow::anyhow!("no cluster CA"))?;
        write_kubeconfig(&kc, server, ca, &cert, &key, &name)?;
        let args = vec![
            format!("--kubeconfig={}", kc.display()),
            format!("--node-name={name}"),
            format!("--node-address={ip}"),
            format!("--runtime={runtime}"),
        ];
        procs.spawn(
            &format!("flotilla-node-agent-{}", i + 1),
            &bin.join("flotilla-node-agent"),
            &args,
            logs,
        )?;
    }
    Ok(())
}

/// Components that exited early: "not implemented yet" is reported and tolerated (the rest
/// of the cluster still runs); any other exit is an error with the end of its log.
fn report_exits(procs: &mut Procs) -> anyhow::Result<()> {
    for (p, code) in procs.exited() {
        if code == NOT_IMPLEMENTED {
            println!(
                "  note: {} is not implemented yet; the cluster runs without it",
                p.name
            );
            continue;
        }
        anyhow::bail!(
            "{} exited with code {code}:\n{}",
            p.name,
            procs::tail(&p.log, 20)
        );
    }
    Ok(())
}

/// Waits until every applied service shows `desired/desired`, printing progress.
async fn converge(
    client: &kube::Client,
    services: &[String],
    timeout: Duration,
    procs: &mut Procs,
) -> anyhow::Result<bool> {
    let api: Api<SwarmService> = Api::namespaced(client.clone(), "default");
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    loop {
        report_exits(procs)?;
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
