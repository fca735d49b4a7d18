use super::{fill, FILE_MODE, RESTART_DELAY, STOP_GRACE_PERIOD, TMPFS_MODE, VOLUME_DRIVER};
use crate::container::{ConfigReference, ContainerSpec, FileTarget, SecretReference};
use crate::mounts::{Mount, MountType, TmpfsOptions};
use crate::template::{RestartCondition, RestartPolicy, TaskTemplate};

impl TaskTemplate {
    /// Container defaults and a restart policy (condition `any`, or `on-failure` for jobs as the
    /// docker CLI does, delay 5s, maxAttempts 0, window 0s).
    pub fn apply_defaults(&mut self, is_job: bool) {
        self.container_spec.apply_defaults();
        fill(&mut self.restart_policy, RestartPolicy::default);
        if let Some(policy) = &mut self.restart_policy {
            policy.apply_defaults(is_job);
        }
    }
}

impl RestartPolicy {
    pub fn apply_defaults(&mut self, is_job: bool) {
        fill(&mut self.condition, || {
            if is_job {
                RestartCondition::OnFailure
            } else {
                RestartCondition::Any
            }
        });
        fill(&mut self.delay, || RESTART_DELAY.to_string());
        fill(&mut self.max_attempts, || 0);
        fill(&mut self.window, || "0s".to_string());
    }
}

impl ContainerSpec {
    /// stopGracePeriod 10s; mount, secret and config defaults.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.stop_grace_period, || {
            STOP_GRACE_PERIOD.to_string()
        });
        for mount in &mut self.mounts {
            mount.apply_defaults();
        }
        for secret in &mut self.secrets {
            secret.apply_defaults();
        }
        for config in &mut self.configs {
            config.apply_defaults();
        }
    }
}

impl Mount {
    /// type volume (docker CLI); tmpfs mode 1777; volume driver `local` when a driver config is given.
    pub fn apply_defaults(&mut self) {
        fill(&mut self.type_, || MountType::Volume);
        match self.type_ {
            Some(MountType::Tmpfs) => {
                fill(&mut self.tmpfs_options, TmpfsOptions::default);
                if let Some(opts) = &mut self.tmpfs_options {
                    fill(&mut opts.mode, || TMPFS_MODE);
                }
            }
            Some(MountType::Volume) => {
                let driver = self
                    .volume_options
                    .as_mut()
                    .and_then(|o| o.driver_config.as_mut());
                if let Some(driver) = driver {
                    fill(&mut driver.name, || VOLUME_DRIVER.to_string());
                }
            }
            _ => {}
        }
    }
}

impl FileTarget {
    /// name = the referenced object's name, uid "0", gid "0", mode 0o444.
    pub fn apply_defaults(&mut self, object_name: &str) {
        fill(&mut self.name, || object_name.to_string());
        fill(&mut self.uid, || "0".to_string());
        fill(&mut self.gid, || "0".to_string());
        fill(&mut self.mode, || FILE_MODE);
    }
}

impl SecretReference {
    pub fn apply_defaults(&mut self) {
        fill(&mut self.file, FileTarget::default);
        if let Some(file) = &mut self.file {
            file.apply_defaults(&self.secret_name);
        }
    }
}

impl ConfigReference {
    /// A file target unless the config is used by the runtime (`runtime: {}`).
    pub fn apply_defaults(&mut self) {
        if self.runtime.is_none() {
            fill(&mut self.file, FileTarget::default);
        }
        if let Some(file) = &mut self.file {
            file.apply_defaults(&self.config_name);
        }
    }
}
