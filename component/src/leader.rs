//! Leader election over a `coordination.k8s.io/v1` Lease (what client-go's `leaderelection` does;
//! kube-runtime 5.0 has none).
//!
//! Every replica runs a [`LeaderElector`]; the one holding the Lease runs the work, the others
//! wait. Writes are compare-and-swap on the Lease's `resourceVersion`, so two replicas can never
//! both believe they acquired it. A leader that cannot renew within `renew_deadline`, or finds the
//! Lease held by someone else, stops its work at once ([`Outcome::Lost`]); a leader that shuts
//! down releases the Lease so a standby takes over without waiting for expiry.

pub mod decision;
mod elected;
mod elector;
mod flags;

use std::time::Duration;

pub use elected::{run_elected, ElectionError, LeaderElection, WorkStop};
pub use elector::{LeaderElector, Outcome};
pub use flags::LeaderElectionArgs;

/// Timings; the defaults are the flags' ([`LeaderElectionArgs`]), client-go's: 15 s lease,
/// 10 s renew deadline, 2 s retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// How long a standby waits, after the last change it saw, before taking over.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leadership.
    pub renew_deadline: Duration,
    /// How often the leader renews.
    pub renew_period: Duration,
    /// How often a standby retries acquiring.
    pub retry_period: Duration,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        LeaderElectionArgs::default().config()
    }
}

/// A config that makes no sense (a leader could lose the lease before noticing).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("leader election: renewDeadline ({renew_deadline:?}) must be shorter than leaseDuration ({lease_duration:?})")]
    DeadlineNotBelowDuration {
        renew_deadline: Duration,
        lease_duration: Duration,
    },
    #[error("leader election: renewPeriod ({renew_period:?}) must be shorter than renewDeadline ({renew_deadline:?})")]
    PeriodNotBelowDeadline {
        renew_period: Duration,
        renew_deadline: Duration,
    },
    #[error("leader election: leaseDuration must be at least one second")]
    DurationTooShort,
}

impl LeaderElectionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lease_duration < Duration::from_secs(1) {
            return Err(ConfigError::DurationTooShort);
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(ConfigError::DeadlineNotBelowDuration {
                renew_deadline: self.renew_deadline,
                lease_duration: self.lease_duration,
            });
        }
        if self.renew_period >= self.renew_deadline {
            return Err(ConfigError::PeriodNotBelowDeadline {
                renew_period: self.renew_period,
                renew_deadline: self.renew_deadline,
            });
        }
        Ok(())
    }
}

/// `<hostname>_<uuid>`: unique per process, readable in `kubectl get lease -o yaml`.
pub fn unique_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_bad_ones_are_named() {
        assert!(LeaderElectionConfig::default().validate().is_ok());
        let bad = LeaderElectionConfig {
            renew_deadline: Duration::from_secs(20),
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("renewDeadline"));
        let bad = LeaderElectionConfig {
            renew_period: Duration::from_secs(10),
            ..Default::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("renewPeriod"));
    }

    #[test]
    fn identities_are_unique() {
        assert_ne!(unique_identity(), unique_identity());
    }
}
