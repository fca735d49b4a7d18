//! The I/O side of the election: read the Lease, apply [`decide`], write with CAS.

use std::future::Future;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::time::{sleep, timeout, Instant};
use tracing::{debug, info, warn};

use super::decision::{decide, observe, Decision, LeaseRecord, Observed};
use super::LeaderElectionConfig;

/// How [`LeaderElector::run_when_leader`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// The shutdown future completed (the work, if running, was cancelled and the Lease released).
    Shutdown,
    /// Leadership was lost while working; the work was cancelled. The process should exit (as
    /// client-go components do) or start a new elector.
    Lost,
    /// The work completed while leading; the Lease was released.
    Finished(T),
}

/// One replica's participation in the election for one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    config: LeaderElectionConfig,
    observed: Option<Observed>,
    /// The Lease as last read or written (its resourceVersion is the CAS precondition).
    lease: Option<Lease>,
}

impl LeaderElector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        lease_name: &str,
        identity: &str,
        config: LeaderElectionConfig,
    ) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: lease_name.to_string(),
            identity: identity.to_string(),
            config,
            observed: None,
            lease: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits for leadership, runs `work` while leading, and cancels it (drops its future) the
    /// moment leadership is lost or `shutdown` completes.
    pub async fn run_when_leader<F, W>(
        mut self,
        work: W,
        shutdown: impl Future,
    ) -> Outcome<F::Output>
    where
        W: FnOnce() -> F,
        F: Future,
    {
        tokio::pin!(shutdown);
        tokio::select! {
            _ = &mut shutdown => return Outcome::Shutdown,
            () = self.acquire() => {}
        }
        info!(lease = %self.name, identity = %self.identity, "became leader");
        let outcome = {
            let work = work();
            let keep = self.keep_renewing();
            tokio::select! {
                out = work => Outcome::Finished(out),
                () = keep => Outcome::Lost,
                _ = &mut shutdown => Outcome::Shutdown,
            }
        };
        match outcome {
            Outcome::Lost => {
                warn!(lease = %self.name, identity = %self.identity, "lost leadership")
            }
            _ => self.release().await,
        }
        outcome
    }

    /// Retries every `retry_period` until this replica holds the Lease.
    async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => warn!(lease = %self.name, error = %e, "leader election attempt failed"),
            }
            sleep(self.config.retry_period).await;
        }
    }

    /// Renews every `renew_period`; returns when leadership is lost: someone else holds the Lease,
    /// or no renewal succeeded within `renew_deadline`.
    async fn keep_renewing(&mut self) {
        let mut last_renewal = Instant::now();
        loop {
            sleep(self.config.renew_period).await;
            let attempt = timeout(self.config.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => last_renewal = Instant::now(),
                Ok(Ok(false)) => return,
                Ok(Err(e)) => warn!(lease = %self.name, error = %e, "renewing the lease failed"),
                Err(_) => warn!(lease = %self.name, "renewing the lease timed out"),
            }
            if last_renewal.elapsed() >= self.config.renew_deadline {
                return;
            }
        }
    }

    /// One round: read, decide, write. `Ok(true)` when this replica holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.name).await?;
        let now = Instant::now();
        self.observed = current
            .as_ref()
            .map(|l| observe(self.observed.as_ref(), LeaseRecord::from_lease(l), now));
        self.lease = current;
        match decide(self.observed.as_ref(), now, &self.identity) {
            Decision::Wait { holder, expires_in } => {
                debug!(lease = %self.name, %holder, ?expires_in, "lease held by another replica");
                Ok(false)
            }
            decision => self.write(decision).await,
        }
    }

    async fn write(&mut self, decision: Decision) -> Result<bool, kube::Error> {
        let stamp = MicroTime(Timestamp::now());
        let mut lease = self.lease.clone().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..Default::default()
            },
            ..Default::default()
        });
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.renew_time = Some(stamp.clone());
        spec.lease_duration_seconds = Some(self.config.lease_duration.as_secs().max(1) as i32);
        if decision != Decision::Renew {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(stamp);
            if decision == Decision::Acquire {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        let written = match decision {
            Decision::Create => self.api.create(&PostParams::default(), &lease).await,
            _ => {
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(lease) => {
                self.remember(lease);
                Ok(true)
            }
            // Someone else wrote first: the next read shows who.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn remember(&mut self, lease: Lease) {
        let record = LeaseRecord::from_lease(&lease);
        self.observed = Some(observe(self.observed.as_ref(), record, Instant::now()));
        self.lease = Some(lease);
    }

    /// Gives the Lease up (holder cleared, 1 s duration) so a standby takes over at once.
    async fn release(&mut self) {
        let Some(mut lease) = self.lease.clone() else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(lease) => {
                info!(lease = %self.name, identity = %self.identity, "released leadership");
                self.remember(lease);
            }
            Err(e) => warn!(lease = %self.name, error = %e, "releasing the lease failed"),
        }
    }
}
