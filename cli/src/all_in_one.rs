//! `flotilla all-in-one`: Swarm's single-daemon design. The api-server (over the embedded
//! store instead of etcd), the scheduler and the controller-manager run as tasks of one
//! process, optionally with N simulated nodes. The components still talk to each other only
//! through the api-server's HTTPS API, each with its own identity, exactly as the split
//! processes of `flotilla up` do; what the single process saves is etcd and the process
//! boundaries, what it loses is failover and independent restarts. Each simulated node acts
//! as its own `system:node:<name>` identity, so the node authorizer confines it as it confines
//! a separate agent.
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
use flotilla_api_server::security::pki::Pki;
use flotilla_node_agent::options::SimulatedArgs;
use flotilla_node_agent::runtime::simulated::SimulatedConfig;
use flotilla_node_agent::{run_simulated_nodes_as, AgentConfig};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::credentials::{self, Identity};
use crate::up::wait;

/// The simulated nodes' name prefix: `sim-0`, `sim-1`, …
pub const NODE_PREFIX: &str = "sim";

/// `flotilla all-in-one`'s flags: its own, and the components' options, flattened.
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
    #[command(flatten, next_help_heading = "Simulated nodes (sim-0 …)")]
    pub simulated: SimulatedArgs,
    #[command(flatten, next_help_heading = "Scheduler")]
    pub scheduler: flotilla_scheduler::Options,
    #[command(flatten, next_help_heading = "Controller-manager")]
    pub controller_manager: flotilla_controller_manager::Options,
}

impl Default for AllInOneOptions {
    fn default() -> Self {
        flotilla_component::args::defaults()
    }
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
            ..AllInOneOptions::default()
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
    /// simulated nodes. Writes the admin kubeconfig to `<data-dir>/kubeconfig`, each
    /// component's and node's to `<data-dir>/<name>.kubeconfig`.
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
        credentials::write_kubeconfig(&built.pki, Identity::Admin, &server, &kubeconfig)?;
        let (stop, stopped) = watch::channel(false);
        let (stop_server, server_stopped) = watch::channel(false);
        let serve = flotilla_api_server::app::serve(
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
        let admin = flotilla_component::client_from_kubeconfig(Some(&aio.kubeconfig)).await?;
        wait::api_server(&admin, Duration::from_secs(20)).await?;
        let credentials = Credentials {
            pki: &built.pki,
            data: &data,
            server: &server,
        };
        aio.start_components(opts, &credentials, &stopped).await?;
        if opts.simulated.simulate_nodes > 0 {
            aio.start_nodes(&opts.simulated, &credentials, stopped)
                .await?;
        }
        Ok(aio)
    }

    async fn start_components(
        &mut self,
        opts: &AllInOneOptions,
        credentials: &Credentials<'_>,
        stopped: &watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let client = credentials.client(Identity::Component("scheduler")).await?;
        let scheduler =
            flotilla_scheduler::run(client, opts.scheduler.clone(), until(stopped.clone()));
        self.tasks
            .spawn(async move { ("scheduler", scheduler.await.map_err(Into::into)) });
        let client = credentials
            .client(Identity::Component("controller-manager"))
            .await?;
        let options = opts.controller_manager.clone();
        let cm = flotilla_controller_manager::run(client, options, until(stopped.clone()));
        self.tasks
            .spawn(async move { ("controller-manager", cm.await.map_err(Into::into)) });
        Ok(())
    }

    /// Nodes `sim-0` …, each with its own `system:node:<name>` client.
    async fn start_nodes(
        &mut self,
        args: &SimulatedArgs,
        credentials: &Credentials<'_>,
        stopped: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut nodes = Vec::new();
        for i in 0..args.simulate_nodes {
            let mut config = AgentConfig::new(&format!("{NODE_PREFIX}-{i}"));
            config.mesh = false;
            let client = credentials
                .client(Identity::Node(&config.node_name))
                .await?;
            nodes.push((config, client));
        }
        let sim = SimulatedConfig {
            latency: args.simulated_latency,
            ..Default::default()
        };
        let nodes = run_simulated_nodes_as(nodes, sim, until(stopped));
        self.tasks
            .spawn(async move { ("simulated nodes", nodes.await.map_err(Into::into)) });
        Ok(())
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

/// Where the all-in-one's identities are issued and their kubeconfigs written.
struct Credentials<'a> {
    pki: &'a Pki,
    data: &'a Path,
    server: &'a str,
}

impl Credentials<'_> {
    /// A client of `identity`, its kubeconfig at `<data-dir>/<name>.kubeconfig`.
    async fn client(&self, identity: Identity<'_>) -> anyhow::Result<kube::Client> {
        let path = self.data.join(format!("{}.kubeconfig", identity.name()));
        credentials::client(self.pki, identity, self.server, &path).await
    }
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
    if opts.simulated.simulate_nodes > 0 {
        let count = opts.simulated.simulate_nodes;
        println!("  {count} simulated nodes {NODE_PREFIX}-0 …, each its own node identity");
    }
    println!("  export KUBECONFIG={}", aio.kubeconfig().display());
    println!("  kubectl apply -f examples/web.yaml && kubectl get ssvc");
    println!("Ctrl-C stops everything.");
    tokio::select! {
        _ = flotilla_component::shutdown_signal() => {}
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
