//! `flotilla all-in-one`: Swarm's single-daemon design. The api-server (over the embedded
//! store instead of etcd), the scheduler and the controller-manager run as tasks of one
//! process, optionally with N simulated nodes. The components still talk to each other only
//! through the api-server's HTTPS API, each with its own identity, exactly as the split
//! processes of `flotilla up` do; what the single process saves is etcd and the process
//! boundaries, what it loses is failover and independent restarts.
//!
//! Objects persist in `<data-dir>/store/store.db` (the SQLite store, as k3s keeps its state), next
//! to the certificates and the secrets' encryption key in `<data-dir>/pki`, so a restart with the
//! same data dir finds every object, and every secret still decrypts. `--storage memory` keeps
//! them in memory instead (gone on exit; for quick tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use flotilla_api_server::app::{self, Options, StorageOption};
use flotilla_api_server::security::kubeconfig::write_kubeconfig;
use flotilla_api_server::security::pki::Pki;
use flotilla_node_agent::runtime::simulated::SimulatedConfig;
use flotilla_node_agent::{run_simulated_nodes, AgentConfig};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::up::wait;

#[derive(Debug, Clone, clap::Args)]
pub struct AllInOneOptions {
    /// Where objects (`store/`), certificates and the encryption key (`pki/`) and kubeconfigs go.
    #[arg(long, default_value = ".flotilla-aio")]
    pub data_dir: PathBuf,
    /// `sqlite`: objects persist under the data dir; `memory`: they are gone on exit.
    #[arg(long, value_enum, default_value_t = Storage::Sqlite)]
    pub storage: Storage,
    /// The api-server's HTTPS port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Also run N simulated nodes (`sim-0` …) in this process.
    #[arg(long, default_value_t = 0)]
    pub simulate_nodes: usize,
    /// Time each simulated container operation takes.
    #[arg(long, default_value = "50ms", value_parser = flotilla_api::duration::parse_duration)]
    pub simulated_latency: Duration,
}

/// Where the all-in-one api-server keeps objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Storage {
    Sqlite,
    Memory,
}

impl AllInOneOptions {
    /// The options of `flotilla all-in-one` with its defaults, keeping data in `data_dir`.
    pub fn new(data_dir: PathBuf) -> AllInOneOptions {
        AllInOneOptions {
            data_dir,
            storage: Storage::Sqlite,
            port: 6443,
            simulate_nodes: 0,
            simulated_latency: Duration::from_millis(50),
        }
    }
}

type Outcome = (&'static str, anyhow::Result<()>);

/// A running all-in-one control plane; see the module docs.
pub struct AllInOne {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    /// Stops the control loops and nodes; the api-server stops after them.
    stop: watch::Sender<bool>,
    tasks: JoinSet<Outcome>,
    stop_server: watch::Sender<bool>,
    /// None once it ended.
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl AllInOne {
    /// Serves the api-server, waits until it answers, then starts the control loops and the
    /// simulated nodes. Writes the admin kubeconfig to `<data-dir>/kubeconfig`.
    pub async fn start(opts: &AllInOneOptions) -> anyhow::Result<AllInOne> {
        let data = std::path::absolute(&opts.data_dir)?;
        let mut options = Options::embedded(data.join("pki"));
        if opts.storage == Storage::Sqlite {
            options.storage = StorageOption::Sqlite(data.join("store"));
        }
        let built = app::build(&options).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let server = format!("https://{addr}");
        let kubeconfig = data.join("kubeconfig");
        app::write_admin_kubeconfig(&built.pki, &kubeconfig, &server)?;
        let (stop, stopped) = watch::channel(false);
        let (stop_server, server_stopped) = watch::channel(false);
        let serve = flotilla_api_server::server::serve(
            listener,
            built.server,
            built.tls,
            until(server_stopped),
        );
        let mut aio = AllInOne {
            addr,
            kubeconfig,
            stop,
            tasks: JoinSet::new(),
            stop_server,
            server: Some(tokio::spawn(serve)),
        };
        let admin = flotilla_runtime::client_from_kubeconfig(Some(&aio.kubeconfig)).await?;
        wait::api_server(&admin, Duration::from_secs(20)).await?;

        let client = component_client(&built.pki, &data, "scheduler", &server).await?;
        let scheduler = flotilla_scheduler::run(client, Default::default(), until(stopped.clone()));
        aio.tasks
            .spawn(async move { ("scheduler", scheduler.await.map_err(Into::into)) });
        let client = component_client(&built.pki, &data, "controller-manager", &server).await?;
        let cm =
            flotilla_controller_manager::run(client, Default::default(), until(stopped.clone()));
        aio.tasks
            .spawn(async move { ("controller-manager", cm.await.map_err(Into::into)) });
        if opts.simulate_nodes > 0 {
            let sim = SimulatedConfig {
                latency: opts.simulated_latency,
                ..Default::default()
            };
            let mut config = AgentConfig::new("sim");
            config.mesh = false;
            let nodes =
                run_simulated_nodes(admin, config, opts.simulate_nodes, sim, until(stopped));
            aio.tasks
                .spawn(async move { ("simulated nodes", nodes.await.map_err(Into::into)) });
        }
        Ok(aio)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin kubeconfig (`system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Resolves when a component stopped on its own (with why), which ends the process.
    pub async fn exited(&mut self) -> Outcome {
        let joined = match self.server.as_mut() {
            Some(server) => tokio::select! {
                served = server => {
                    self.server = None;
                    return ("api-server", served.map_err(Into::into).and_then(|r| r));
                }
                joined = self.tasks.join_next() => joined,
            },
            None => self.tasks.join_next().await,
        };
        match joined {
            Some(Ok(outcome)) => outcome,
            Some(Err(e)) => ("a component", Err(e.into())),
            None => std::future::pending().await,
        }
    }

    /// Stops the nodes and control loops (nodes report themselves down), then the api-server;
    /// the first error, if any.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut result = Ok(());
        while let Some(done) = self.tasks.join_next().await {
            let (name, outcome) = done?;
            if let Err(e) = outcome {
                tracing::warn!(component = name, "stopped with an error: {e:#}");
                result = result.and(Err(e.context(name)));
            }
        }
        let _ = self.stop_server.send(true);
        if let Some(server) = self.server.take() {
            result = result.and(server.await?.context("api-server"));
        }
        result
    }
}

/// Resolves once `stop` says so (or its sender is gone).
async fn until(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A client with the component's own certificate (`system:kube-scheduler`, …).
async fn component_client(
    pki: &Pki,
    data: &Path,
    stem: &str,
    server: &str,
) -> anyhow::Result<kube::Client> {
    let (cert, key) = pki.component_credentials(stem)?;
    let ca = pki
        .client_ca_pem()
        .ok_or_else(|| anyhow::anyhow!("no cluster CA"))?;
    let path = data.join(format!("{stem}.kubeconfig"));
    write_kubeconfig(&path, server, ca, &cert, &key, stem)?;
    // HTTP/2, as the split layout's binaries speak it: the layouts differ only in processes.
    Ok(flotilla_runtime::http2_client_from_kubeconfig(Some(&path)).await?)
}

pub async fn all_in_one(opts: AllInOneOptions) -> anyhow::Result<()> {
    let mut aio = AllInOne::start(&opts).await?;
    let store = match opts.storage {
        Storage::Sqlite => format!("objects in {}", opts.data_dir.join("store").display()),
        Storage::Memory => "objects in memory".to_string(),
    };
    println!(
        "flotilla all-in-one: api-server on https://{} ({store}), scheduler and \
         controller-manager in this process",
        aio.addr()
    );
    if opts.simulate_nodes > 0 {
        println!("  {} simulated nodes sim-0 …", opts.simulate_nodes);
    }
    println!("  export KUBECONFIG={}", aio.kubeconfig().display());
    println!("  kubectl apply -f examples/web.yaml && kubectl get ssvc");
    println!("Ctrl-C stops everything.");
    tokio::select! {
        _ = flotilla_runtime::shutdown_signal() => {}
        (name, outcome) = aio.exited() => {
            let _ = aio.stop().await;
            return match outcome {
                Ok(()) => Err(anyhow::anyhow!("{name} stopped")),
                Err(e) => Err(e.context(format!("{name} failed"))),
            };
        }
    }
    aio.stop().await
}
