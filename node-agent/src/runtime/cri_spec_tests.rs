use super::*;
use crate::runtime::TaskKey;
use flotilla_api::container::{DnsConfig as SwarmDns, HealthConfig, Ulimit};
use flotilla_api::mounts::Mount as SwarmMount;
use flotilla_api::template::{ResourceRequirements, Resources};
use flotilla_api::Task;
use std::path::PathBuf;

fn run_of(spec: ContainerSpec) -> TaskRun {
    let mut task = Task::new("web.1", Default::default());
    task.spec.service_name = "web".into();
    std::sync::Arc::make_mut(&mut task.spec.template).container_spec = spec;
    TaskRun {
        key: TaskKey {
            namespace: "default".into(),
            name: "web.1".into(),
            uid: "0123-4567".into(),
        },
        node: "node-1".into(),
        task,
        secrets: vec![],
        configs: vec![],
        networks: vec![],
    }
}

#[test]
fn sandbox_is_named_and_labelled_after_the_task_with_pod_level_settings() {
    let run = run_of(ContainerSpec {
        image: "x".into(),
        hostname: Some("web-host".into()),
        dns_config: Some(SwarmDns {
            nameservers: vec!["10.0.0.53".into()],
            ..Default::default()
        }),
        sysctls: [("net.core.somaxconn".to_string(), "1024".to_string())].into(),
        ..Default::default()
    });
    let s = sandbox_config(&run, Some("/var/log/x".into()));
    let meta = s.metadata.unwrap();
    assert_eq!(
        (
            meta.name.as_str(),
            meta.uid.as_str(),
            meta.namespace.as_str()
        ),
        ("web.1.01234567", "0123-4567", "default")
    );
    assert_eq!(s.hostname, "web-host");
    assert_eq!(s.dns_config.unwrap().servers, vec!["10.0.0.53"]);
    assert_eq!(s.linux.unwrap().sysctls["net.core.somaxconn"], "1024");
    assert_eq!(s.labels[TASK_UID_LABEL], "0123-4567");
    assert_eq!(s.labels[NODE_LABEL], "node-1");
    assert_eq!(s.labels[flotilla_api::SERVICE_LABEL], "web");
    assert_eq!(s.log_directory, "/var/log/x");
    // No DNS settings: the runtime's defaults (the host's resolv.conf), not an empty config.
    assert!(sandbox_config(&run_of(ContainerSpec::default()), None)
        .dns_config
        .is_none());
}

#[test]
fn a_task_on_swarm_networks_asks_the_first_networks_gateway_unless_it_names_servers() {
    let backend = crate::runtime::NetworkRun {
        name: "backend".into(),
        subnet: "10.210.1.0/24".into(),
        gateway: "10.210.1.1".into(),
        address: Some("10.210.1.5".into()),
        ..Default::default()
    };
    let mut run = run_of(ContainerSpec::default());
    run.networks = vec![backend];
    let dns = sandbox_config(&run, None).dns_config.unwrap();
    assert_eq!(dns.servers, vec!["10.210.1.1"]);
    std::sync::Arc::make_mut(&mut run.task.spec.template)
        .container_spec
        .dns_config = Some(SwarmDns {
        nameservers: vec!["10.0.0.53".into()],
        ..Default::default()
    });
    let dns = sandbox_config(&run, None).dns_config.unwrap();
    assert_eq!(dns.servers, vec!["10.0.0.53"]);
}

#[test]
fn container_maps_command_args_env_user_dir_limits_and_health() {
    let mut run = run_of(ContainerSpec {
        image: "flotilla/web:latest".into(),
        command: vec!["/bin/busybox".into()],
        args: vec!["httpd".into(), "-f".into()],
        env: vec!["A=1=2".into(), "B".into()],
        user: Some("1000:100".into()),
        groups: vec!["27".into()],
        dir: Some("/www".into()),
        read_only: Some(true),
        capability_add: vec!["CAP_NET_ADMIN".into()],
        capability_drop: vec!["chown".into()],
        labels: [("team".to_string(), "a".to_string())].into(),
        healthcheck: Some(HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            ..Default::default()
        }),
        ..Default::default()
    });
    std::sync::Arc::make_mut(&mut run.task.spec.template).resources = Some(ResourceRequirements {
        limits: Some(Resources {
            nano_cpus: Some(500_000_000),
            memory_bytes: Some(64 << 20),
            generic: vec![],
        }),
        ..Default::default()
    });
    let c = container_config(&run, vec![], Some("task.log".into())).unwrap();
    assert_eq!(c.image.unwrap().image, "flotilla/web:latest");
    assert_eq!(c.command, vec!["/bin/busybox"]);
    assert_eq!(c.args, vec!["httpd", "-f"]);
    assert_eq!(c.envs[0].key, "A");
    assert_eq!(c.envs[0].value, "1=2");
    assert_eq!(
        (c.envs[1].key.as_str(), c.envs[1].value.as_str()),
        ("B", "")
    );
    assert_eq!(c.working_dir, "/www");
    assert_eq!(c.labels["team"], "a");
    assert_eq!(c.labels[TASK_LABEL], "web.1");
    assert!(c.annotations[HEALTH_ANNOTATION].contains("\"CMD\""));
    let linux = c.linux.unwrap();
    let r = linux.resources.unwrap();
    assert_eq!((r.cpu_period, r.cpu_quota), (100_000, 50_000));
    assert_eq!(r.memory_limit_in_bytes, 64 << 20);
    let sc = linux.security_context.unwrap();
    assert_eq!(sc.run_as_user.unwrap().value, 1000);
    assert_eq!(sc.run_as_group.unwrap().value, 100);
    assert_eq!(sc.supplemental_groups, vec![27]);
    assert!(sc.readonly_rootfs);
    let caps = sc.capabilities.unwrap();
    assert_eq!(caps.add_capabilities, vec!["NET_ADMIN"]);
    assert_eq!(caps.drop_capabilities, vec!["CHOWN"]);
}

#[test]
fn a_user_name_is_resolved_by_the_runtime_and_a_group_name_is_refused() {
    let run = run_of(ContainerSpec {
        user: Some("www-data".into()),
        ..Default::default()
    });
    let c = container_config(&run, vec![], None).unwrap();
    let sc = c.linux.unwrap().security_context.unwrap();
    assert_eq!(sc.run_as_username, "www-data");
    assert!(sc.run_as_user.is_none());
    let run = run_of(ContainerSpec {
        user: Some("1000:staff".into()),
        ..Default::default()
    });
    let e = container_config(&run, vec![], None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "spec.template.containerSpec.user: group \"staff\" must be numeric on the CRI runtime"
    );
}

#[test]
fn what_cri_cannot_express_is_refused_naming_the_field() {
    let cases = [
        (
            ContainerSpec {
                pids_limit: Some(100),
                ..Default::default()
            },
            "pidsLimit",
        ),
        (
            ContainerSpec {
                ulimits: vec![Ulimit {
                    name: "nofile".into(),
                    soft: 1,
                    hard: 1,
                }],
                ..Default::default()
            },
            "ulimits",
        ),
        (
            ContainerSpec {
                init: Some(true),
                ..Default::default()
            },
            "init",
        ),
        (
            ContainerSpec {
                stop_signal: Some("SIGUSR1".into()),
                ..Default::default()
            },
            "stopSignal",
        ),
    ];
    for (spec, field) in cases {
        let e = container_config(&run_of(spec), vec![], None).unwrap_err();
        assert_eq!(e.field, field);
        assert!(
            e.to_string().contains("not supported by the CRI runtime"),
            "{e}"
        );
    }
    let sigterm = ContainerSpec {
        stop_signal: Some("SIGTERM".into()),
        ..Default::default()
    };
    assert!(container_config(&run_of(sigterm), vec![], None).is_ok());
}

#[test]
fn mounts_bind_their_source_and_give_volumes_and_tmpfs_a_directory() {
    let spec = ContainerSpec {
        mounts: vec![
            SwarmMount {
                type_: Some(SwarmMountType::Bind),
                source: Some("/srv/data".into()),
                target: "/data".into(),
                read_only: Some(true),
                ..Default::default()
            },
            SwarmMount {
                type_: Some(SwarmMountType::Volume),
                source: Some("cache".into()),
                target: "/cache".into(),
                ..Default::default()
            },
            SwarmMount {
                type_: Some(SwarmMountType::Tmpfs),
                target: "/scratch".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let m = mount_sources(
        &spec,
        |n| format!("/vol/{n}"),
        |i| format!("/shm/mount-{i}"),
    );
    let got: Vec<(&str, &str, bool)> = m
        .iter()
        .map(|m| (m.container_path.as_str(), m.host_path.as_str(), m.readonly))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/data", "/srv/data", true),
            ("/cache", "/vol/cache", false),
            ("/scratch", "/shm/mount-2", false)
        ]
    );
    let f = file_mount(&FileMount {
        host_path: PathBuf::from("/dev/shm/flotilla/n/c/secret-0"),
        target: "/run/secrets/db".into(),
    });
    assert!(f.readonly);
    assert_eq!(f.container_path, "/run/secrets/db");
}

#[test]
fn hosts_entries_become_an_etc_hosts_file() {
    let spec = ContainerSpec {
        hosts: vec!["10.0.0.1 db cache".into()],
        ..Default::default()
    };
    let hosts = hosts_file(&spec).unwrap();
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.ends_with("10.0.0.1\tdb cache\n"), "{hosts}");
    assert_eq!(hosts_file(&ContainerSpec::default()), None);
}
