//! VXLAN network identifiers: each SwarmNetwork's overlay between nodes is a VXLAN segment of
//! its own (docs/networking.md#the-overlay-between-nodes). The allocator gives every network
//! without one the lowest free VNI from [`FIRST_VNI`], as Swarm's overlay driver hands out VXLAN
//! IDs from 4096 (lower IDs are left to other users of VXLAN on the same hosts). A VNI is sticky:
//! it stays in the network's status for the network's life.

use std::collections::BTreeSet;

use flotilla_api::SwarmNetwork;
use kube::ResourceExt;
use serde_json::json;

use crate::action::Action;
use crate::snapshot::{key_of, ns_of, Snapshot};

/// The first VNI handed out.
pub const FIRST_VNI: u32 = 4096;
/// VNIs are 24 bits.
pub const LAST_VNI: u32 = (1 << 24) - 1;

fn vni_of(net: &SwarmNetwork) -> Option<u32> {
    net.status.as_ref().and_then(|s| s.vni)
}

/// The lowest VNI from [`FIRST_VNI`] not in `taken`.
pub fn free_vni(taken: &BTreeSet<u32>) -> Option<u32> {
    (FIRST_VNI..=LAST_VNI).find(|v| !taken.contains(v))
}

/// A status patch for every network without a VNI (the ingress network has none: the routing
/// mesh is the agents' own listener, not a network between tasks). Oldest network first, so
/// the order is stable across rounds.
pub fn reconcile(snap: &Snapshot) -> Vec<Action> {
    let mut taken: BTreeSet<u32> = snap.networks.iter().filter_map(|n| vni_of(n)).collect();
    let mut missing: Vec<&SwarmNetwork> = snap
        .networks
        .iter()
        .map(|n| n.as_ref())
        .filter(|n| vni_of(n).is_none() && n.spec.ingress != Some(true))
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .collect();
    missing.sort_by_key(|n| {
        (
            n.metadata.creation_timestamp.clone().map(|t| t.0),
            key_of(*n),
        )
    });
    let mut actions = Vec::new();
    for net in missing {
        let Some(vni) = free_vni(&taken) else {
            tracing::warn!(network = %net.name_any(), "no free VXLAN ID");
            break;
        };
        taken.insert(vni);
        actions.push(Action::NetworkStatus {
            ns: ns_of(net),
            name: net.name_any(),
            patch: json!({"vni": vni}),
        });
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_api::{SwarmNetworkSpec, SwarmNetworkStatus};
    use std::sync::Arc;

    fn net(name: &str, vni: Option<u32>, ingress: bool) -> Arc<SwarmNetwork> {
        let spec = SwarmNetworkSpec {
            ingress: Some(ingress),
            ..Default::default()
        };
        let mut n = SwarmNetwork::new(name, spec);
        n.metadata.namespace = Some("default".into());
        n.status = vni.map(|vni| SwarmNetworkStatus {
            vni: Some(vni),
            ..Default::default()
        });
        Arc::new(n)
    }

    fn vnis(actions: &[Action]) -> Vec<(String, serde_json::Value)> {
        actions
            .iter()
            .map(|a| match a {
                Action::NetworkStatus { name, patch, .. } => (name.clone(), patch["vni"].clone()),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn networks_get_the_lowest_free_vni_from_4096_and_keep_it() {
        let snap = |nets| Snapshot::new(vec![], vec![], vec![], nets, vec![]);
        let first = reconcile(&snap(vec![net("a", None, false)]));
        assert_eq!(vnis(&first), [("a".to_string(), json!(4096))]);
        // 4096 is a's; b gets 4097, and 4098 is skipped because c holds it.
        let round = reconcile(&snap(vec![
            net("a", Some(4096), false),
            net("c", Some(4098), false),
            net("b", None, false),
            net("d", None, false),
            net("ingress", None, true),
        ]));
        assert_eq!(
            vnis(&round),
            [
                ("b".to_string(), json!(4097)),
                ("d".to_string(), json!(4099))
            ]
        );
        let settled = reconcile(&snap(vec![net("a", Some(4096), false)]));
        assert!(settled.is_empty(), "a VNI is sticky: {settled:?}");
    }

    #[test]
    fn the_vni_space_is_24_bits() {
        assert_eq!(LAST_VNI, 0xff_ffff);
        let taken: BTreeSet<u32> = (FIRST_VNI..FIRST_VNI + 3).collect();
        assert_eq!(free_vni(&taken), Some(FIRST_VNI + 3));
    }
}
