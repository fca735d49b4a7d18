//! The `--leader-elect*` flags, named as kube-scheduler and kube-controller-manager name them.

use std::time::Duration;

use flotilla_api::duration::parse_duration;

use super::{unique_identity, LeaderElection, LeaderElectionConfig};

/// Leader election flags of a replicated component, flattened into its command line.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct LeaderElectionArgs {
    /// Act only while holding the Lease, so several replicas can run for failover.
    #[arg(long, default_value_t = false)]
    pub leader_elect: bool,
    /// Namespace of the Lease.
    #[arg(long, default_value = "kube-system")]
    pub leader_elect_resource_namespace: String,
    /// Name of the Lease (default: the component's name, e.g. `flotilla-scheduler`).
    #[arg(long)]
    pub leader_elect_resource_name: Option<String>,
    /// How long a standby waits, after the last change it saw, before taking over.
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leadership.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub leader_elect_renew_deadline: Duration,
    /// How often the leader renews and a standby retries.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub leader_elect_retry_period: Duration,
}

impl Default for LeaderElectionArgs {
    fn default() -> Self {
        crate::args::defaults()
    }
}

impl LeaderElectionArgs {
    /// The timings these flags give.
    pub fn config(&self) -> LeaderElectionConfig {
        LeaderElectionConfig {
            lease_duration: self.leader_elect_lease_duration,
            renew_deadline: self.leader_elect_renew_deadline,
            renew_period: self.leader_elect_retry_period,
            retry_period: self.leader_elect_retry_period,
        }
    }

    /// The election `component` takes part in (`None` without `--leader-elect`), as a fresh
    /// identity of this process.
    pub fn election(&self, component: &str) -> Option<LeaderElection> {
        self.leader_elect.then(|| LeaderElection {
            namespace: self.leader_elect_resource_namespace.clone(),
            lease_name: self
                .leader_elect_resource_name
                .clone()
                .unwrap_or_else(|| component.to_string()),
            identity: unique_identity(),
            config: self.config(),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        leader: LeaderElectionArgs,
    }

    #[test]
    fn no_flag_means_no_election_and_client_go_timings() {
        let args = LeaderElectionArgs::default();
        assert!(args.election("flotilla-scheduler").is_none());
        assert_eq!(args.config(), LeaderElectionConfig::default());
        assert_eq!(args.config().lease_duration, Duration::from_secs(15));
    }

    #[test]
    fn the_lease_is_named_after_the_component_unless_given() {
        let cli = Cli::parse_from(["x", "--leader-elect", "--leader-elect-lease-duration=3s"]);
        let election = cli.leader.election("flotilla-scheduler").unwrap();
        assert_eq!(
            (election.namespace.as_str(), election.lease_name.as_str()),
            ("kube-system", "flotilla-scheduler")
        );
        assert_eq!(election.config.lease_duration, Duration::from_secs(3));
        let cli = Cli::parse_from(["x", "--leader-elect", "--leader-elect-resource-name=mine"]);
        assert_eq!(cli.leader.election("c").unwrap().lease_name, "mine");
    }
}
