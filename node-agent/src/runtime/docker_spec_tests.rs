use super::*;
use crate::runtime::TaskKey;
use flotilla_api::mounts::TmpfsOptions;
use flotilla_api::template::{NetworkAttachmentConfig, ResourceRequirements, Resources};
use flotilla_api::Task;

fn run_of(spec: ContainerSpec) -> TaskRun {
    let mut task = Task::new("web.1", Default::default());
    task.spec.service_name = "web".into();
    std::sync::Arc::make_mut(&mut task.spec.template).container_spec = spec;
    TaskRun {
        key: TaskKey {
            namespace: "default".into(),
            name: "web.1".into(),
            uid: "0123".into(),
        },
        node: "node-1".into(),
        task,
        secrets: vec![],
        configs: vec![],
        networks: vec![],
    }
}

#[test]
fn maps_command_args_env_labels_and_grace() {
    let run = run_of(ContainerSpec {
        image: "flotilla/busybox:test".into(),
        command: vec!["/bin/busybox".into()],
        args: vec!["httpd".into(), "-f".into()],
        env: vec!["A=1".into()],
        hosts: vec!["10.0.0.1 db cache".into()],
        ..Default::default()
    });
    let body = container_body(&run, Duration::from_secs(7), vec![]);
    assert_eq!(body.entrypoint, Some(vec!["/bin/busybox".to_string()]));
    assert_eq!(body.cmd, Some(vec!["httpd".to_string(), "-f".to_string()]));
    assert_eq!(body.env, Some(vec!["A=1".to_string()]));
    assert_eq!(body.stop_timeout, Some(7));
    let labels = body.labels.unwrap();
    assert_eq!(labels[TASK_LABEL], "web.1");
    assert_eq!(labels[NODE_LABEL], "node-1");
    assert_eq!(labels[flotilla_api::SERVICE_LABEL], "web");
    let host = body.host_config.unwrap();
    assert_eq!(
        host.extra_hosts,
        Some(vec![
            "db:10.0.0.1".to_string(),
            "cache:10.0.0.1".to_string()
        ])
    );
}

#[test]
fn maps_resources_mounts_network_and_health() {
    let mut run = run_of(ContainerSpec {
        image: "x".into(),
        mounts: vec![SwarmMount {
            type_: Some(SwarmMountType::Tmpfs),
            target: "/scratch".into(),
            tmpfs_options: Some(TmpfsOptions {
                size_bytes: Some(1 << 20),
                ..Default::default()
            }),
            ..Default::default()
        }],
        healthcheck: Some(SwarmHealth {
            test: vec!["CMD".into(), "true".into()],
            interval: Some("2s".into()),
            retries: Some(3),
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
    std::sync::Arc::make_mut(&mut run.task.spec.template).networks =
        vec![NetworkAttachmentConfig {
            target: "backend".into(),
            ..Default::default()
        }];
    let secret = file_mount("/dev/shm/x/secret-0", "/run/secrets/db");
    let body = container_body(&run, Duration::from_secs(10), vec![secret]);
    let health = body.healthcheck.unwrap();
    assert_eq!(health.interval, Some(2_000_000_000));
    assert_eq!(health.retries, Some(3));
    let host = body.host_config.unwrap();
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(
        host.network_mode.as_deref(),
        Some("flotilla-default-backend")
    );
    let mounts = host.mounts.unwrap();
    assert_eq!(mounts[0].typ, Some(MountType::TMPFS));
    assert_eq!(
        mounts[0].tmpfs_options.as_ref().unwrap().size_bytes,
        Some(1 << 20)
    );
    assert_eq!(mounts[1].target.as_deref(), Some("/run/secrets/db"));
    assert_eq!(mounts[1].read_only, Some(true));
}
