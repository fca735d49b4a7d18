//! The election's decisions, as pure functions over what was read from the Lease.
//!
//! Expiry is judged like client-go: by how long the *local* monotonic clock has seen the same
//! record, never by comparing the lease's `renewTime` with our wall clock, so clock skew between
//! machines cannot make two replicas lead at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

/// What the election cares about in a Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `None` (or empty) when the lease was released.
    pub holder: Option<String>,
    pub lease_duration: Duration,
    pub renew_time: Option<Timestamp>,
    pub transitions: i32,
}

impl LeaseRecord {
    pub fn from_lease(lease: &Lease) -> LeaseRecord {
        let spec = lease.spec.clone().unwrap_or_default();
        LeaseRecord {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            lease_duration: Duration::from_secs(
                spec.lease_duration_seconds.unwrap_or(0).max(0) as u64
            ),
            renew_time: spec.renew_time.map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }
}

/// A record and the local instant it was first seen in this exact form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub record: LeaseRecord,
    pub since: Instant,
}

/// Folds a freshly read record into the previous observation: the clock restarts only when the
/// record changed (the holder renewed, or someone else took over).
pub fn observe(previous: Option<&Observed>, record: LeaseRecord, now: Instant) -> Observed {
    match previous {
        Some(prev) if prev.record == record => prev.clone(),
        _ => Observed { record, since: now },
    }
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease exists: create it holding it ourselves.
    Create,
    /// We hold it: write a fresh `renewTime`.
    Renew,
    /// It is released or expired: take it over (compare-and-swap on resourceVersion).
    Acquire,
    /// Someone else holds it for at least `expires_in` more.
    Wait {
        holder: String,
        expires_in: Duration,
    },
}

/// Decides from the observed lease (`None` = the Lease does not exist) at `now`.
pub fn decide(observed: Option<&Observed>, now: Instant, identity: &str) -> Decision {
    let Some(observed) = observed else {
        return Decision::Create;
    };
    let Some(holder) = observed.record.holder.as_deref() else {
        return Decision::Acquire;
    };
    if holder == identity {
        return Decision::Renew;
    }
    let expires_at = observed.since + observed.record.lease_duration;
    if now >= expires_at {
        Decision::Acquire
    } else {
        Decision::Wait {
            holder: holder.to_string(),
            expires_in: expires_at - now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: Option<&str>, renewed_secs: i64) -> LeaseRecord {
        LeaseRecord {
            holder: holder.map(str::to_string),
            lease_duration: Duration::from_secs(15),
            renew_time: Some(Timestamp::from_second(renewed_secs).unwrap()),
            transitions: 0,
        }
    }

    #[test]
    fn missing_lease_is_created() {
        assert_eq!(decide(None, Instant::now(), "a"), Decision::Create);
    }

    #[test]
    fn own_lease_is_renewed_even_when_stale() {
        let t0 = Instant::now();
        let seen = observe(None, record(Some("a"), 1), t0);
        assert_eq!(decide(Some(&seen), t0, "a"), Decision::Renew);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(decide(Some(&seen), later, "a"), Decision::Renew);
    }

    #[test]
    fn released_lease_is_acquired_at_once() {
        let t0 = Instant::now();
        let seen = observe(None, record(None, 1), t0);
        assert_eq!(decide(Some(&seen), t0, "b"), Decision::Acquire);
        let empty = LeaseRecord {
            holder: None,
            ..record(Some(""), 1)
        };
        let seen = observe(None, empty, t0);
        assert_eq!(decide(Some(&seen), t0, "b"), Decision::Acquire);
    }

    #[test]
    fn foreign_lease_is_respected_until_unchanged_for_its_duration() {
        let t0 = Instant::now();
        let seen = observe(None, record(Some("a"), 1), t0);
        assert_eq!(
            decide(Some(&seen), t0 + Duration::from_secs(5), "b"),
            Decision::Wait {
                holder: "a".into(),
                expires_in: Duration::from_secs(10)
            }
        );
        // Re-reading the same record does not restart the clock…
        let again = observe(
            Some(&seen),
            record(Some("a"), 1),
            t0 + Duration::from_secs(14),
        );
        assert_eq!(again.since, t0);
        assert_eq!(
            decide(Some(&again), t0 + Duration::from_secs(15), "b"),
            Decision::Acquire
        );
    }

    #[test]
    fn a_renewal_restarts_the_expiry_clock() {
        let t0 = Instant::now();
        let seen = observe(None, record(Some("a"), 1), t0);
        let t1 = t0 + Duration::from_secs(14);
        let renewed = observe(Some(&seen), record(Some("a"), 15), t1);
        assert_eq!(renewed.since, t1);
        assert!(matches!(
            decide(Some(&renewed), t0 + Duration::from_secs(20), "b"),
            Decision::Wait { .. }
        ));
        assert_eq!(
            decide(Some(&renewed), t1 + Duration::from_secs(15), "b"),
            Decision::Acquire
        );
    }

    #[test]
    fn record_reads_lease_fields() {
        use k8s_openapi::api::coordination::v1::LeaseSpec;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
        let ts = Timestamp::from_second(100).unwrap();
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some("a".into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(ts)),
                lease_transitions: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            LeaseRecord::from_lease(&lease),
            LeaseRecord {
                holder: Some("a".into()),
                lease_duration: Duration::from_secs(15),
                renew_time: Some(ts),
                transitions: 3
            }
        );
        assert_eq!(LeaseRecord::from_lease(&Lease::default()).holder, None);
    }
}
