//! A component's work run under leader election, the same way in every replicated component
//! (scheduler, controller-manager): without an election the work runs at once until shutdown;
//! with one, only while this replica holds the Lease.

use std::future::Future;

use futures::future::{pending, Either, Pending};

use super::{ConfigError, LeaderElectionConfig, LeaderElector, Outcome};

/// Where and as whom to take part in leader election.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease_name: String,
    /// Unique per replica; [`super::unique_identity`] makes one.
    pub identity: String,
    pub config: LeaderElectionConfig,
}

/// Why an elected run ended other than by shutdown or by its work's own error.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The process should exit, as client-go components do, so a fresh replica takes part again.
    #[error("lost leadership of the Lease {0}; exiting so a fresh replica can take part again")]
    Lost(String),
}

/// The stop signal handed to the work: the caller's shutdown when it runs unelected; never,
/// when it runs elected (the elector cancels the work itself, on shutdown or lost leadership).
pub type WorkStop<S> = Either<S, Pending<<S as Future>::Output>>;

/// Runs `work` until `shutdown` completes: at once when `election` is `None`, else only while
/// leading. Losing leadership cancels the work and is [`ElectionError::Lost`].
pub async fn run_elected<S, W, F, E>(
    client: kube::Client,
    election: Option<LeaderElection>,
    shutdown: S,
    work: W,
) -> Result<(), E>
where
    S: Future,
    W: FnOnce(WorkStop<S>) -> F,
    F: Future<Output = Result<(), E>>,
    E: From<ElectionError>,
{
    let Some(election) = election else {
        return work(Either::Left(shutdown)).await;
    };
    election.config.validate().map_err(ElectionError::from)?;
    let lease = format!("{}/{}", election.namespace, election.lease_name);
    let elector = LeaderElector::new(
        client,
        &election.namespace,
        &election.lease_name,
        &election.identity,
        election.config,
    );
    let elected = || work(Either::Right(pending()));
    match elector.run_when_leader(elected, shutdown).await {
        Outcome::Shutdown => Ok(()),
        Outcome::Finished(result) => result,
        Outcome::Lost => Err(ElectionError::Lost(lease).into()),
    }
}
