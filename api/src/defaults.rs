//! Swarm's defaults (`swarmkit api/defaults`, moby's API conversion, docker CLI).
//!
//! Each type gets an `apply_defaults(&mut self)` method. Defaults fill only unset (`None`) fields,
//! mirroring Swarm's nil-vs-zero rule: an explicit `parallelism: 0` stays 0 ("all at once").
//! Applying defaults twice changes nothing.

mod objects;
mod service;
mod template;

/// `restartPolicy.delay` default.
pub const RESTART_DELAY: &str = "5s";
/// `containerSpec.stopGracePeriod` default.
pub const STOP_GRACE_PERIOD: &str = "10s";
/// `updateConfig.monitor` / `rollbackConfig.monitor` default.
pub const UPDATE_MONITOR: &str = "5s";
/// Secret/config file mode default, 0o444.
pub const FILE_MODE: i64 = 0o444;
/// tmpfs mode default, 0o1777.
pub const TMPFS_MODE: i64 = 0o1777;
/// Volume driver default.
pub const VOLUME_DRIVER: &str = "local";
/// Network driver default.
pub const NETWORK_DRIVER: &str = "overlay";

/// Sets `field` to `value` when unset.
pub(crate) fn fill<T>(field: &mut Option<T>, value: impl FnOnce() -> T) {
    if field.is_none() {
        *field = Some(value());
    }
}
