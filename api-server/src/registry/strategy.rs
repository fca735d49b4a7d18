//! Per-kind rules in one place, like kube-apiserver's per-resource strategies
//! (`pkg/registry/<group>/<resource>/strategy.go`): what sets one kind apart from the generic
//! rules every object follows ([`crate::store::metadata`]). Handlers, admission, the store and
//! the description layer ask [`Strategy`] instead of comparing kind or plural strings.

/// The kinds with rules of their own; every other resource is [`Strategy::Generic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    SwarmService,
    /// Bound to nodes by the scheduler through a `binding` subresource.
    Task,
    SwarmNode,
    SwarmSecret,
    SwarmNetwork,
    /// Any other `flotilla.dev` kind (SwarmConfig, SwarmNetwork, ...).
    Swarm,
    /// Core `v1` Namespace.
    Namespace,
    /// Core `v1` Event, stored once with `events.k8s.io` Events.
    CoreEvent,
    /// `events.k8s.io/v1` Event.
    Event,
    /// `coordination.k8s.io` Lease.
    Lease,
    Generic,
}

impl Strategy {
    /// The strategy of kind `kind` in API group `group`.
    pub fn of(group: &str, kind: &str) -> Strategy {
        match (group, kind) {
            (flotilla_api::GROUP, "SwarmService") => Strategy::SwarmService,
            (flotilla_api::GROUP, "Task") => Strategy::Task,
            (flotilla_api::GROUP, "SwarmNode") => Strategy::SwarmNode,
            (flotilla_api::GROUP, "SwarmSecret") => Strategy::SwarmSecret,
            (flotilla_api::GROUP, "SwarmNetwork") => Strategy::SwarmNetwork,
            (flotilla_api::GROUP, _) => Strategy::Swarm,
            ("", "Namespace") => Strategy::Namespace,
            ("", "Event") => Strategy::CoreEvent,
            ("events.k8s.io", "Event") => Strategy::Event,
            ("coordination.k8s.io", "Lease") => Strategy::Lease,
            _ => Strategy::Generic,
        }
    }

    /// Swarm's defaults and validation from the `api` crate apply (every `flotilla.dev` kind).
    pub fn swarm_rules(self) -> bool {
        matches!(
            self,
            Strategy::SwarmService
                | Strategy::Task
                | Strategy::SwarmNode
                | Strategy::SwarmSecret
                | Strategy::SwarmNetwork
                | Strategy::Swarm
        )
    }

    /// A `binding` subresource (verb `create`), like core `pods/binding`: the scheduler binds
    /// Tasks with a core `v1` `Binding` body.
    pub fn binding_subresource(self) -> bool {
        self == Strategy::Task
    }

    /// Stored encrypted at rest, and answered to `kubectl describe` with sizes instead of data
    /// (Swarm secrets).
    pub fn secret(self) -> bool {
        self == Strategy::SwarmSecret
    }

    /// A node identity may not change the spec, labels or ownership of its own object
    /// (Kubernetes' NodeRestriction).
    pub fn node_restricted(self) -> bool {
        self == Strategy::SwarmNode
    }

    /// The object is a namespace: its name follows namespace naming, and the system namespaces
    /// may not be deleted.
    pub fn namespace(self) -> bool {
        self == Strategy::Namespace
    }

    /// Read through two APIs and converted on decode ([`crate::store::event_convert`]), so a
    /// write's own copy cannot stand for what the watch cache decodes.
    pub fn converted_on_read(self) -> bool {
        matches!(self, Strategy::CoreEvent | Strategy::Event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_apart_by_group_too() {
        assert_eq!(Strategy::of("flotilla.dev", "Task"), Strategy::Task);
        assert_eq!(Strategy::of("example.com", "Task"), Strategy::Generic);
        assert_eq!(Strategy::of("", "Event"), Strategy::CoreEvent);
        assert_eq!(Strategy::of("events.k8s.io", "Event"), Strategy::Event);
        assert_eq!(Strategy::of("flotilla.dev", "SwarmConfig"), Strategy::Swarm);
        assert!(Strategy::of("flotilla.dev", "SwarmConfig").swarm_rules());
        assert!(!Strategy::of("", "Namespace").swarm_rules());
        assert!(Strategy::of("flotilla.dev", "SwarmSecret").secret());
    }
}
