use super::{fill, UPDATE_MONITOR};
use crate::endpoint::{EndpointMode, EndpointSpec, PortConfig, PortProtocol, PublishMode};
use crate::service::{ReplicatedJob, ReplicatedService, ServiceMode, SwarmServiceSpec};
use crate::update::{FailureAction, UpdateConfig, UpdateOrder};

impl SwarmServiceSpec {
    /// Mode `replicated: {replicas: 1}`; task template defaults; endpoint mode `vip`;
    /// update and rollback config defaults for non-jobs (jobs may not have an update config).
    pub fn apply_defaults(&mut self) {
        fill(&mut self.mode, || ServiceMode {
            replicated: Some(ReplicatedService::default()),
            ..ServiceMode::default()
        });
        let mode = self.mode.as_mut().expect("filled above");
        mode.apply_defaults();
        let is_job = mode.kind().is_some_and(|k| k.is_job());
        std::sync::Arc::make_mut(&mut self.task_template).apply_defaults(is_job);
        fill(&mut self.endpoint, EndpointSpec::default);
        if let Some(endpoint) = &mut self.endpoint {
            endpoint.apply_defaults();
        }
        if !is_job {
            fill(&mut self.update_config, UpdateConfig::default);
            fill(&mut self.rollback_config, UpdateConfig::default);
        }
        for config in [&mut self.update_config, &mut self.rollback_config]
            .into_iter()
            .flatten()
        {
            config.apply_defaults();
        }
    }
}

impl ServiceMode {
    pub fn apply_defaults(&mut self) {
        if let Some(replicated) = &mut self.replicated {
            replicated.apply_defaults();
        }
        if let Some(job) = &mut self.replicated_job {
            job.apply_defaults();
        }
    }
}

impl ReplicatedService {
    /// replicas 1.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.replicas, || 1);
    }
}

impl ReplicatedJob {
    /// maxConcurrent 1, totalCompletions = maxConcurrent.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.max_concurrent, || 1);
        let max = self.max_concurrent;
        fill(&mut self.total_completions, || max.unwrap_or(1));
    }
}

impl EndpointSpec {
    /// mode vip; every port tcp/ingress.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.mode, || EndpointMode::Vip);
        for port in &mut self.ports {
            port.apply_defaults();
        }
    }
}

impl PortConfig {
    /// protocol tcp, publishMode ingress.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.protocol, || PortProtocol::Tcp);
        fill(&mut self.publish_mode, || PublishMode::Ingress);
    }
}

impl UpdateConfig {
    /// parallelism 1, delay 0s, failureAction pause, monitor 5s, maxFailureRatio 0, order stop-first.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.parallelism, || 1);
        fill(&mut self.delay, || "0s".to_string());
        fill(&mut self.failure_action, || FailureAction::Pause);
        fill(&mut self.monitor, || UPDATE_MONITOR.to_string());
        fill(&mut self.max_failure_ratio, || 0.0);
        fill(&mut self.order, || UpdateOrder::StopFirst);
    }
}
