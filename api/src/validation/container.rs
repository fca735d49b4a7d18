use std::collections::HashMap;

use super::names::validate_object_reference;
use super::template::check_health_duration;
use super::{check_duration, check_non_negative, FieldError};
use crate::container::{ContainerSpec, FileTarget, HealthConfig};
use crate::mounts::{Mount, MountType};

pub(crate) fn validate_container(path: &str, c: &ContainerSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if c.image.trim().is_empty() {
        errs.push(FieldError::required(
            format!("{path}.image"),
            "image is required",
        ));
    }
    check_duration(
        &format!("{path}.stopGracePeriod"),
        c.stop_grace_period.as_ref(),
        &mut errs,
    );
    check_non_negative(&format!("{path}.pidsLimit"), c.pids_limit, &mut errs);
    validate_env_and_hosts(path, c, &mut errs);
    let mut targets: HashMap<&str, usize> = HashMap::new();
    for (i, mount) in c.mounts.iter().enumerate() {
        let at = format!("{path}.mounts[{i}]");
        validate_mount(&at, mount, &mut errs);
        if !mount.target.is_empty() && targets.insert(&mount.target, i).is_some() {
            errs.push(FieldError::duplicate(
                format!("{at}.target"),
                &mount.target,
                "duplicate mount point",
            ));
        }
    }
    for (i, ulimit) in c.ulimits.iter().enumerate() {
        let at = format!("{path}.ulimits[{i}]");
        if ulimit.name.is_empty() {
            errs.push(FieldError::required(
                format!("{at}.name"),
                "ulimit name is required",
            ));
        }
        if ulimit.soft > ulimit.hard {
            errs.push(FieldError::invalid(
                format!("{at}.soft"),
                ulimit.soft,
                format!("must be less than or equal to hard ({})", ulimit.hard),
            ));
        }
    }
    if let Some(health) = &c.healthcheck {
        validate_health(&format!("{path}.healthcheck"), health, &mut errs);
    }
    let secrets = c
        .secrets
        .iter()
        .map(|s| (s.secret_name.as_str(), s.file.as_ref(), true));
    validate_refs(path, "secrets", "secretName", "secret", secrets, &mut errs);
    for (i, config) in c.configs.iter().enumerate() {
        if config.file.is_some() && config.runtime.is_some() {
            errs.push(FieldError::invalid(
                format!("{path}.configs[{i}]"),
                &config.config_name,
                "file and runtime are mutually exclusive",
            ));
        }
    }
    // Runtime-only configs are not mounted, so they have no target to conflict on.
    let configs = c.configs.iter().map(|r| {
        (
            r.config_name.as_str(),
            r.file.as_ref(),
            r.runtime.is_none() || r.file.is_some(),
        )
    });
    validate_refs(path, "configs", "configName", "config", configs, &mut errs);
    errs
}

/// `env` entries are `NAME=VALUE` (or `NAME`) with a non-empty name, as `docker service create
/// --env` requires; `hosts` entries are `IP host [aliases…]`.
fn validate_env_and_hosts(path: &str, c: &ContainerSpec, errs: &mut Vec<FieldError>) {
    for (i, entry) in c.env.iter().enumerate() {
        let name = entry.split_once('=').map_or(entry.as_str(), |(n, _)| n);
        if name.trim().is_empty() {
            errs.push(FieldError::invalid(
                format!("{path}.env[{i}]"),
                entry,
                "must be NAME=VALUE with a non-empty NAME",
            ));
        }
    }
    for (i, entry) in c.hosts.iter().enumerate() {
        let mut fields = entry.split_whitespace();
        let ip_ok = fields
            .next()
            .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        if !ip_ok || fields.next().is_none() {
            errs.push(FieldError::invalid(
                format!("{path}.hosts[{i}]"),
                entry,
                "must be \"IP hostname [aliases...]\", e.g. \"10.0.0.5 db\"",
            ));
        }
    }
}

fn validate_mount(at: &str, mount: &Mount, errs: &mut Vec<FieldError>) {
    if mount.target.is_empty() {
        errs.push(FieldError::required(
            format!("{at}.target"),
            "mount target is required",
        ));
    }
    let kind = mount.type_.unwrap_or(MountType::Volume);
    let source = mount.source.as_deref().unwrap_or("");
    match kind {
        MountType::Bind if source.is_empty() => errs.push(FieldError::required(
            format!("{at}.source"),
            "bind mounts need an absolute host path as source",
        )),
        MountType::Bind if !source.starts_with('/') => errs.push(FieldError::invalid(
            format!("{at}.source"),
            source,
            "bind source must be an absolute path",
        )),
        MountType::Volume if source.starts_with('/') => errs.push(FieldError::invalid(
            format!("{at}.source"),
            source,
            "must be a volume name; use type bind to mount a host path",
        )),
        MountType::Tmpfs if !source.is_empty() => errs.push(FieldError::forbidden(
            format!("{at}.source"),
            "source must not be set for tmpfs mounts",
        )),
        _ => {}
    }
    let options = [
        ("bindOptions", mount.bind_options.is_some(), MountType::Bind),
        (
            "volumeOptions",
            mount.volume_options.is_some(),
            MountType::Volume,
        ),
        (
            "tmpfsOptions",
            mount.tmpfs_options.is_some(),
            MountType::Tmpfs,
        ),
    ];
    for (field, set, allowed) in options {
        if set && kind != allowed {
            errs.push(FieldError::forbidden(
                format!("{at}.{field}"),
                format!("may not be specified for mount type {:?}", kind.as_str()),
            ));
        }
    }
    if let Some(tmpfs) = &mount.tmpfs_options {
        check_non_negative(
            &format!("{at}.tmpfsOptions.sizeBytes"),
            tmpfs.size_bytes,
            errs,
        );
        if let Some(mode) = tmpfs.mode.filter(|m| !(0..=0o7777).contains(m)) {
            errs.push(FieldError::invalid(
                format!("{at}.tmpfsOptions.mode"),
                mode,
                "must be a permission mode between 0 and 4095 (0o7777)",
            ));
        }
    }
}

fn validate_health(at: &str, h: &HealthConfig, errs: &mut Vec<FieldError>) {
    if let Some(first) = h.test.first() {
        if !["NONE", "CMD", "CMD-SHELL"].contains(&first.as_str()) {
            errs.push(FieldError::not_supported(
                format!("{at}.test[0]"),
                first,
                &["NONE", "CMD", "CMD-SHELL"],
            ));
        }
    }
    for (name, value) in [
        ("interval", &h.interval),
        ("timeout", &h.timeout),
        ("startPeriod", &h.start_period),
        ("startInterval", &h.start_interval),
    ] {
        check_health_duration(&format!("{at}.{name}"), value.as_ref(), errs);
    }
    check_non_negative(&format!("{at}.retries"), h.retries, errs);
}

/// Names required, file modes valid, and no two references sharing a target file.
fn validate_refs<'a>(
    path: &str,
    list: &str,
    name_field: &str,
    what: &str,
    refs: impl Iterator<Item = (&'a str, Option<&'a FileTarget>, bool)>,
    errs: &mut Vec<FieldError>,
) {
    let mut targets: HashMap<String, &str> = HashMap::new();
    for (i, (name, file, mounted)) in refs.enumerate() {
        let at = format!("{path}.{list}[{i}]");
        if name.is_empty() {
            errs.push(FieldError::required(
                format!("{at}.{name_field}"),
                format!("{what} name is required"),
            ));
            continue;
        }
        errs.extend(validate_object_reference(
            &format!("{at}.{name_field}"),
            name,
        ));
        if !mounted {
            continue;
        }
        let default = FileTarget::default();
        let file = file.unwrap_or(&default);
        if let Some(mode) = file.mode.filter(|m| !(0..=0o777).contains(m)) {
            errs.push(FieldError::invalid(
                format!("{at}.file.mode"),
                mode,
                "must be a permission mode between 0 and 511 (0o777)",
            ));
        }
        let target = file.name.as_deref().unwrap_or(name);
        if target.is_empty() {
            errs.push(FieldError::required(
                format!("{at}.file.name"),
                "target file name is required",
            ));
        } else if let Some(other) = targets.insert(target.to_string(), name) {
            errs.push(FieldError::duplicate(
                format!("{at}.file.name"),
                target,
                format!("{what} references '{other}' and '{name}' have a conflicting target: '{target}'"),
            ));
        }
    }
}
