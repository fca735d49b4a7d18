//! Command-line shapes shared by the components: each component's options derive
//! [`clap::Args`] once, with their defaults on the flags, and are flattened by its own binary
//! and by `flotilla all-in-one`.

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::leader::{run_elected, ElectionError, LeaderElectionArgs, WorkStop};

/// A value of options `T` as the command line gives it with no flags: the flags' defaults are
/// the only place defaults are written (`impl Default` calls this).
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"));
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("every option has a default");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

/// What a replicated control-plane component (scheduler, controller-manager) takes besides its
/// own options: how to reach the api-server and whether to elect a leader.
#[derive(Clone, Debug, clap::Args)]
pub struct ComponentArgs {
    /// kubeconfig to reach the api-server (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    #[command(flatten)]
    pub leader_election: LeaderElectionArgs,
}

impl ComponentArgs {
    /// The HTTP/2 client of `--kubeconfig` (see [`crate::http2_client_from_kubeconfig`]).
    pub async fn client(&self) -> Result<kube::Client, crate::ClientError> {
        crate::http2_client_from_kubeconfig(self.kubeconfig.as_deref()).await
    }
}

/// The stop signal a component's `main` runs until ([`crate::shutdown_signal`]).
pub type Shutdown = BoxFuture<'static, ()>;

impl ComponentArgs {
    /// What the scheduler's and the controller-manager's `main` do: connect, run `work` (under
    /// leader election with `--leader-elect`, for the Lease named `component` by default) until
    /// SIGINT/SIGTERM, and exit 0, 1 (the work failed) or 2 (no client could be built).
    pub async fn run<W, F, E>(&self, component: &str, work: W) -> ExitCode
    where
        W: FnOnce(kube::Client, WorkStop<Shutdown>) -> F,
        F: Future<Output = Result<(), E>>,
        E: From<ElectionError> + Display,
    {
        let client = match self.client().await {
            Ok(client) => client,
            Err(e) => {
                eprintln!("{component}: {e}");
                return ExitCode::from(2);
            }
        };
        let election = self.leader_election.election(component);
        let shutdown = crate::shutdown_signal().boxed();
        let work = |stop| work(client.clone(), stop);
        match run_elected(client.clone(), election, shutdown, work).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{component}: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
