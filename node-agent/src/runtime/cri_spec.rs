//! Task → CRI pod sandbox and container configuration, as pure functions (the kubelet's
//! `kuberuntime_sandbox.go` and `kuberuntime_container.go` make the same mapping from a Pod).
//!
//! One task is one pod sandbox holding one container. Pod-level settings (hostname, DNS, sysctls)
//! go on the sandbox; the rest on the container. What CRI cannot express (pids limit, ulimits,
//! init, stop signal, named groups) is refused with the field at fault rather than ignored.

use std::collections::HashMap;

use flotilla_api::container::ContainerSpec;
use flotilla_api::mounts::MountType as SwarmMountType;
use k8s_cri::v1::{
    Capability, ContainerConfig, ContainerMetadata, DnsConfig, ImageSpec, Int64Value, KeyValue,
    LinuxContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext,
    LinuxPodSandboxConfig, Mount, PodSandboxConfig, PodSandboxMetadata,
};

use super::docker_spec::{NAMESPACE_LABEL, NODE_LABEL, TASK_LABEL, TASK_UID_LABEL};
use super::files::FileMount;
use super::TaskRun;

/// Annotation carrying the task's healthcheck (JSON), so a restarted agent can resume probing.
pub const HEALTH_ANNOTATION: &str = "flotilla.dev/healthcheck";
/// CFS period the CPU limit is expressed in (the kubelet's and Docker's default).
pub const CPU_PERIOD: i64 = 100_000;

/// A field CRI cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.template.containerSpec.{field}: {message}")]
pub struct Unsupported {
    pub field: &'static str,
    pub message: String,
}

fn unsupported(field: &'static str, what: &str) -> Unsupported {
    Unsupported {
        field,
        message: format!("{what} is not supported by the CRI runtime"),
    }
}

/// Labels naming the task and node: on the sandbox (how the agent finds its tasks again) and on
/// the container (with the task's own labels).
pub fn task_labels(run: &TaskRun) -> HashMap<String, String> {
    HashMap::from([
        (TASK_LABEL.to_string(), run.key.name.clone()),
        (TASK_UID_LABEL.to_string(), run.key.uid.clone()),
        (NAMESPACE_LABEL.to_string(), run.key.namespace.clone()),
        (NODE_LABEL.to_string(), run.node.clone()),
        (
            flotilla_api::SERVICE_LABEL.to_string(),
            run.task.spec.service_name.clone(),
        ),
    ])
}

/// The pod sandbox of a task: its name is the container name Docker would use.
pub fn sandbox_config(run: &TaskRun, log_directory: Option<String>) -> PodSandboxConfig {
    let spec = &run.task.spec.template.container_spec;
    let mut dns = spec.dns_config.clone().unwrap_or_default();
    // On SwarmNetworks, the node's DNS on the first network's gateway answers service names
    // (docs/networking.md), unless the task names its own servers.
    let gateway = run.networks.first().map(|n| n.gateway.clone());
    if let Some(gateway) = gateway.filter(|g| !g.is_empty() && dns.nameservers.is_empty()) {
        dns.nameservers = vec![gateway];
    }
    let has_dns = !(dns.nameservers.is_empty() && dns.search.is_empty() && dns.options.is_empty());
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: run.key.container_name(),
            uid: run.key.uid.clone(),
            namespace: run.key.namespace.clone(),
            attempt: 0,
        }),
        hostname: spec.hostname.clone().unwrap_or_default(),
        log_directory: log_directory.unwrap_or_default(),
        dns_config: has_dns.then_some(DnsConfig {
            servers: dns.nameservers,
            searches: dns.search,
            options: dns.options,
        }),
        labels: task_labels(run),
        linux: Some(LinuxPodSandboxConfig {
            sysctls: spec.sysctls.clone().into_iter().collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Swarm `user`: `uid`, `uid:gid` or `name` (resolved by the runtime in the image).
fn user(spec: &ContainerSpec, ctx: &mut LinuxContainerSecurityContext) -> Result<(), Unsupported> {
    let Some(user) = spec.user.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    match name.parse::<i64>() {
        Ok(uid) => ctx.run_as_user = Some(Int64Value { value: uid }),
        Err(_) => ctx.run_as_username = name.to_string(),
    }
    if let Some(group) = group {
        let gid = group.parse::<i64>().map_err(|_| Unsupported {
            field: "user",
            message: format!("group {group:?} must be numeric on the CRI runtime"),
        })?;
        ctx.run_as_group = Some(Int64Value { value: gid });
    }
    Ok(())
}

/// CRI names capabilities without Docker's `CAP_` prefix.
fn capability(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map(str::to_string)
        .unwrap_or(upper)
}

fn security_context(spec: &ContainerSpec) -> Result<LinuxContainerSecurityContext, Unsupported> {
    let mut ctx = LinuxContainerSecurityContext {
        readonly_rootfs: spec.read_only.unwrap_or(false),
        ..Default::default()
    };
    user(spec, &mut ctx)?;
    for g in &spec.groups {
        let gid = g.parse::<i64>().map_err(|_| Unsupported {
            field: "groups",
            message: format!("group {g:?} must be numeric on the CRI runtime"),
        })?;
        ctx.supplemental_groups.push(gid);
    }
    if !spec.capability_add.is_empty() || !spec.capability_drop.is_empty() {
        ctx.capabilities = Some(Capability {
            add_capabilities: spec.capability_add.iter().map(|c| capability(c)).collect(),
            drop_capabilities: spec.capability_drop.iter().map(|c| capability(c)).collect(),
            ..Default::default()
        });
    }
    Ok(ctx)
}

/// CPU and memory limits (reservations are the scheduler's business; CRI has no soft limit).
pub fn resources(run: &TaskRun) -> LinuxContainerResources {
    let template = &run.task.spec.template;
    let limits = template
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .unwrap_or_default();
    let (cpu_period, cpu_quota) = match limits.nano_cpus {
        Some(n) if n > 0 => (CPU_PERIOD, (n * CPU_PERIOD / 1_000_000_000).max(1000)),
        _ => (0, 0),
    };
    LinuxContainerResources {
        cpu_period,
        cpu_quota,
        memory_limit_in_bytes: limits.memory_bytes.unwrap_or(0),
        oom_score_adj: template.container_spec.oom_score_adj.unwrap_or(0),
        ..Default::default()
    }
}

/// Refuses what CRI cannot express (the Docker runtime honours these).
fn check_supported(spec: &ContainerSpec) -> Result<(), Unsupported> {
    if spec.pids_limit.is_some_and(|p| p > 0) {
        return Err(unsupported("pidsLimit", "a pids limit"));
    }
    if !spec.ulimits.is_empty() {
        return Err(unsupported("ulimits", "ulimits"));
    }
    if spec.init == Some(true) {
        return Err(unsupported("init", "an init process"));
    }
    if let Some(signal) = spec.stop_signal.as_deref() {
        if !matches!(signal, "SIGTERM" | "TERM" | "15") {
            return Err(unsupported(
                "stopSignal",
                "a stop signal other than the image's (SIGTERM)",
            ));
        }
    }
    Ok(())
}

/// Swarm `hosts` entries (`IP host [alias…]`) as an `/etc/hosts` file, or None without any.
pub fn hosts_file(spec: &ContainerSpec) -> Option<String> {
    if spec.hosts.is_empty() {
        return None;
    }
    let mut out = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for line in &spec.hosts {
        let mut parts = line.split_whitespace();
        if let Some(ip) = parts.next() {
            let names: Vec<&str> = parts.collect();
            if !names.is_empty() {
                out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
            }
        }
    }
    Some(out)
}

/// Where a Swarm mount's data lives on the node: binds name it; volumes and tmpfs mounts get a
/// directory the runtime creates (`volume_dir` for a named volume, `scratch_dir(i)` otherwise).
pub fn mount_sources(
    spec: &ContainerSpec,
    volume_dir: impl Fn(&str) -> String,
    scratch_dir: impl Fn(usize) -> String,
) -> Vec<Mount> {
    spec.mounts
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let host_path = match (m.type_.unwrap_or(SwarmMountType::Volume), &m.source) {
                (SwarmMountType::Bind, source) => source.clone().unwrap_or_default(),
                (SwarmMountType::Volume, Some(name)) if !name.is_empty() => volume_dir(name),
                _ => scratch_dir(i),
            };
            Mount {
                container_path: m.target.clone(),
                host_path,
                readonly: m.read_only.unwrap_or(false),
                ..Default::default()
            }
        })
        .collect()
}

/// A materialized secret/config file, mounted read-only.
pub fn file_mount(f: &FileMount) -> Mount {
    Mount {
        container_path: f.target.clone(),
        host_path: f.host_path.to_string_lossy().into_owned(),
        readonly: true,
        ..Default::default()
    }
}

fn envs(spec: &ContainerSpec) -> Vec<KeyValue> {
    spec.env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            },
            None => KeyValue {
                key: e.clone(),
                value: String::new(),
            },
        })
        .collect()
}

/// The task's container. `mounts` are its volumes, binds and materialized files.
pub fn container_config(
    run: &TaskRun,
    mounts: Vec<Mount>,
    log_path: Option<String>,
) -> Result<ContainerConfig, Unsupported> {
    let spec = &run.task.spec.template.container_spec;
    check_supported(spec)?;
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.extend(task_labels(run));
    let mut annotations = HashMap::new();
    if let Some(h) = &spec.healthcheck {
        let json = serde_json::to_string(h).unwrap_or_default();
        annotations.insert(HEALTH_ANNOTATION.to_string(), json);
    }
    Ok(ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "task".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: spec.image.clone(),
            ..Default::default()
        }),
        // Swarm's `command` replaces the image entrypoint, `args` its CMD: as CRI's.
        command: spec.command.clone(),
        args: spec.args.clone(),
        working_dir: spec.dir.clone().unwrap_or_default(),
        envs: envs(spec),
        mounts,
        labels,
        annotations,
        log_path: log_path.unwrap_or_default(),
        stdin: spec.open_stdin.unwrap_or(false),
        tty: spec.tty.unwrap_or(false),
        linux: Some(LinuxContainerConfig {
            resources: Some(resources(run)),
            security_context: Some(security_context(spec)?),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
#[path = "cri_spec_tests.rs"]
mod tests;
