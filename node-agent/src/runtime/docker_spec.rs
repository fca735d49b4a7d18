//! Task → Docker container configuration, as pure functions (moby's swarm executor
//! `daemon/cluster/executor/container/container.go` does the same mapping).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount, MountTmpfsOptions, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig, NetworkingConfig, ResourcesUlimits,
};
use flotilla_api::container::{ContainerSpec, HealthConfig as SwarmHealth};
use flotilla_api::duration::parse_duration;
use flotilla_api::mounts::{Mount as SwarmMount, MountType as SwarmMountType};

use super::TaskRun;

/// Container labels naming the task and node (how the runtime finds its containers).
pub const TASK_LABEL: &str = "flotilla.dev/task";
pub const TASK_UID_LABEL: &str = "flotilla.dev/task-uid";
pub const NODE_LABEL: &str = "flotilla.dev/node";
pub const NAMESPACE_LABEL: &str = "flotilla.dev/namespace";

pub use super::docker_net::network_name;

fn nanos(d: Option<&String>) -> Option<i64> {
    d.and_then(|d| parse_duration(d).ok())
        .map(|d| d.as_nanos() as i64)
}

fn health(h: &SwarmHealth) -> HealthConfig {
    HealthConfig {
        test: (!h.test.is_empty()).then(|| h.test.clone()),
        interval: nanos(h.interval.as_ref()),
        timeout: nanos(h.timeout.as_ref()),
        retries: h.retries,
        start_period: nanos(h.start_period.as_ref()),
        start_interval: None,
    }
}

/// One Swarm mount as a Docker mount.
pub fn mount(m: &SwarmMount) -> Mount {
    let typ = match m.type_.unwrap_or(SwarmMountType::Volume) {
        SwarmMountType::Bind => MountType::BIND,
        SwarmMountType::Volume => MountType::VOLUME,
        SwarmMountType::Tmpfs => MountType::TMPFS,
    };
    let volume_options = m.volume_options.as_ref().map(|v| MountVolumeOptions {
        no_copy: v.no_copy,
        labels: (!v.labels.is_empty()).then(|| v.labels.clone().into_iter().collect()),
        driver_config: v
            .driver_config
            .as_ref()
            .map(|d| MountVolumeOptionsDriverConfig {
                name: d.name.clone(),
                options: (!d.options.is_empty()).then(|| d.options.clone().into_iter().collect()),
            }),
        subpath: v.subpath.clone(),
    });
    let tmpfs_options = m.tmpfs_options.as_ref().map(|t| MountTmpfsOptions {
        size_bytes: t.size_bytes,
        mode: t.mode,
        options: None,
    });
    Mount {
        target: Some(m.target.clone()),
        source: m.source.clone(),
        typ: Some(typ),
        read_only: m.read_only,
        volume_options,
        tmpfs_options,
        ..Default::default()
    }
}

/// A read-only bind of a materialized secret/config file.
pub fn file_mount(host_path: &str, target: &str) -> Mount {
    Mount {
        target: Some(target.to_string()),
        source: Some(host_path.to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(true),
        ..Default::default()
    }
}

/// Swarm `hosts` entries are `IP host [alias…]`; Docker's ExtraHosts are `host:IP`.
fn extra_hosts(spec: &ContainerSpec) -> Vec<String> {
    let mut out = Vec::new();
    for line in &spec.hosts {
        let mut parts = line.split_whitespace();
        if let Some(ip) = parts.next() {
            out.extend(parts.map(|h| format!("{h}:{ip}")));
        }
    }
    out
}

fn labels(run: &TaskRun) -> HashMap<String, String> {
    let spec = &run.task.spec;
    let mut labels: HashMap<String, String> = spec
        .template
        .container_spec
        .labels
        .clone()
        .into_iter()
        .collect();
    labels.insert(TASK_LABEL.into(), run.key.name.clone());
    labels.insert(TASK_UID_LABEL.into(), run.key.uid.clone());
    labels.insert(NAMESPACE_LABEL.into(), run.key.namespace.clone());
    labels.insert(NODE_LABEL.into(), run.node.clone());
    labels.insert(
        flotilla_api::SERVICE_LABEL.into(),
        spec.service_name.clone(),
    );
    labels
}

fn host_config(run: &TaskRun, file_mounts: Vec<Mount>) -> HostConfig {
    let template = &run.task.spec.template;
    let spec = &template.container_spec;
    let limits = template
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    let reservations = template
        .resources
        .as_ref()
        .and_then(|r| r.reservations.clone())
        .unwrap_or_default();
    let mut mounts: Vec<Mount> = spec.mounts.iter().map(mount).collect();
    mounts.extend(file_mounts);
    let network_mode = match run.networks.first() {
        Some(n) => Some(network_name(&run.key.namespace, &n.name)),
        None => template
            .networks
            .first()
            .map(|n| network_name(&run.key.namespace, &n.target)),
    };
    let dns = spec.dns_config.clone().unwrap_or_default();
    let some_vec = |v: Vec<String>| (!v.is_empty()).then_some(v);
    HostConfig {
        mounts: (!mounts.is_empty()).then_some(mounts),
        nano_cpus: limits.nano_cpus,
        memory: limits.memory_bytes,
        memory_reservation: reservations.memory_bytes,
        pids_limit: spec.pids_limit,
        init: spec.init,
        readonly_rootfs: spec.read_only,
        cap_add: some_vec(spec.capability_add.clone()),
        cap_drop: some_vec(spec.capability_drop.clone()),
        sysctls: (!spec.sysctls.is_empty()).then(|| spec.sysctls.clone().into_iter().collect()),
        extra_hosts: some_vec(extra_hosts(spec)),
        group_add: some_vec(spec.groups.clone()),
        dns: some_vec(dns.nameservers),
        dns_search: some_vec(dns.search),
        dns_options: some_vec(dns.options),
        oom_score_adj: spec.oom_score_adj,
        ulimits: some_vec_u(spec),
        network_mode,
        ..Default::default()
    }
}

fn some_vec_u(spec: &ContainerSpec) -> Option<Vec<ResourcesUlimits>> {
    let u: Vec<ResourcesUlimits> = spec
        .ulimits
        .iter()
        .map(|u| ResourcesUlimits {
            name: Some(u.name.clone()),
            soft: Some(u.soft),
            hard: Some(u.hard),
        })
        .collect();
    (!u.is_empty()).then_some(u)
}

/// The container to create for a task; `file_mounts` bind its materialized secrets/configs.
pub fn container_body(
    run: &TaskRun,
    grace: Duration,
    file_mounts: Vec<Mount>,
) -> ContainerCreateBody {
    let spec = &run.task.spec.template.container_spec;
    let some_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        // Swarm's `command` replaces the image entrypoint, `args` its CMD.
        entrypoint: some_vec(&spec.command),
        cmd: some_vec(&spec.args),
        env: some_vec(&spec.env),
        working_dir: spec.dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        tty: spec.tty,
        open_stdin: spec.open_stdin,
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: Some(grace.as_secs() as i64),
        healthcheck: spec.healthcheck.as_ref().map(health),
        labels: Some(labels(run)),
        host_config: Some(host_config(run, file_mounts)),
        // The first network at create (API 1.41 takes one); the others are connected after.
        networking_config: run.networks.first().map(|n| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network_name(&run.key.namespace, &n.name),
                super::docker_net::endpoint(n),
            )])),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "docker_spec_tests.rs"]
mod tests;
