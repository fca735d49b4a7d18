use super::{fill, NETWORK_DRIVER};
use crate::network::SwarmNetworkSpec;
use crate::node::{NodeAvailability, NodeRole, SwarmNodeSpec};
use std::sync::Arc;

use crate::task::TaskSpec;

impl SwarmNodeSpec {
    /// availability active, role worker.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.availability, || NodeAvailability::Active);
        fill(&mut self.role, || NodeRole::Worker);
    }
}

impl SwarmNetworkSpec {
    /// driver overlay, ingress false, attachable false, internal false.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.driver, || NETWORK_DRIVER.to_string());
        fill(&mut self.ingress, || false);
        fill(&mut self.attachable, || false);
        fill(&mut self.internal, || false);
    }
}

impl TaskSpec {
    /// The template and endpoint copies get the same defaults as the service's.
    pub fn apply_defaults(&mut self) {
        let is_job = self.job_iteration.is_some();
        Arc::make_mut(&mut self.template).apply_defaults(is_job);
        if let Some(endpoint) = &mut self.endpoint {
            endpoint.apply_defaults();
        }
    }
}
