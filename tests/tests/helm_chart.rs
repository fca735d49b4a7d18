//! The Helm chart (`charts/flotilla`), rendered by the real helm: lint, Kubernetes 1.33 schema
//! validity of every rendering, the values schema, and what a user relies on in the rendered
//! objects — each Pod holds only its own credentials, the certificates name the identities
//! Flotilla's authorizer knows and chain to the CAs that verify them.

use flotilla_api_server::security::authn::{CONTROLLER_MANAGER_USER, SCHEDULER_USER};
use flotilla_tests::chart::{self, find, pod_spec, render, s, secret_data, secrets_used};
use sha2::Digest;

const VALUES: [&str; 3] = ["", "ci/ha-values.yaml", "ci/minimal-values.yaml"];

fn values_args(file: &str) -> Vec<&str> {
    if file.is_empty() {
        vec![]
    } else {
        vec!["-f", file]
    }
}

#[test]
fn lint_strict_passes_with_every_values_file() {
    for file in VALUES {
        let mut args = vec!["lint", "--strict", "."];
        args.extend(values_args(file));
        let (code, out, err) = chart::helm(&args);
        assert_eq!(code, 0, "helm lint {file}:\n{out}\n{err}");
    }
}

#[test]
fn every_rendering_is_valid_kubernetes_1_33() {
    // The pip package's script, or its module where pip put the script off PATH.
    let script = flotilla_tests::tools::find("kubernetes-validate");
    let validate = || match &script {
        Some(script) => std::process::Command::new(script),
        None => {
            let mut python = std::process::Command::new("python3");
            python.args(["-m", "kubernetes_validate"]);
            python
        }
    };
    let dir = tempfile::tempdir().unwrap();
    for file in VALUES {
        let path = dir.path().join("rendered.yaml");
        std::fs::write(&path, render(&values_args(file))).unwrap();
        let out = validate()
            .args(["-k", "1.33.0", "--strict", "--quiet"])
            .arg(&path)
            .output()
            .expect("kubernetes-validate runs");
        let report = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !report.contains("ERROR"),
            "values {file:?} rendered objects Kubernetes 1.33 rejects:\n{report}"
        );
    }
}

#[test]
fn values_schema_names_the_value_at_fault() {
    for (set, field) in [
        ("etcd.replicas=2", "/etcd/replicas"),
        ("nodeAgent.runtime=docker", "/nodeAgent/runtime"),
        ("scheduler.replicas=0", "/scheduler/replicas"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("etcdReplicas=3", "etcdReplicas"),
    ] {
        let (code, _, err) = chart::helm(&["template", "f", ".", "--set", set]);
        assert_ne!(code, 0, "--set {set} was accepted");
        assert!(
            err.contains(field),
            "--set {set}: error does not name {field}:\n{err}"
        );
    }
}

#[test]
fn each_pod_holds_only_its_own_credentials() {
    let objects = chart::objects(&render(&[]));
    let p = "flotilla";
    let expect = [
        ("StatefulSet", "etcd", vec!["etcd-member"]),
        ("Deployment", "scheduler", vec!["scheduler-kubeconfig"]),
        (
            "Deployment",
            "controller-manager",
            vec!["controller-manager-kubeconfig"],
        ),
        ("DaemonSet", "node-agent", vec!["join-token"]),
        (
            "Deployment",
            "api-server",
            vec![
                "api-server-tls",
                "ca",
                "encryption",
                "etcd-client",
                "join-token",
            ],
        ),
    ];
    for (kind, name, secrets) in expect {
        let pod = pod_spec(find(&objects, kind, &format!("{p}-{name}")));
        let want: Vec<String> = secrets.iter().map(|x| format!("{p}-{x}")).collect();
        assert_eq!(secrets_used(pod), want, "{kind} {name} reads other Secrets");
        if name != "api-server" {
            // Only the api-server talks to the host cluster (delegated reviews).
            assert_eq!(
                pod["automountServiceAccountToken"], false,
                "{name} gets a token"
            );
        }
    }
    // Nothing but etcd's own Pods and the api-server may open etcd's client port.
    let policy = find(&objects, "NetworkPolicy", "flotilla-etcd");
    let client_peers: Vec<String> = policy["spec"]["ingress"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|rule| {
            rule["ports"]
                .as_sequence()
                .unwrap()
                .iter()
                .any(|p| p["port"] == 2379)
        })
        .flat_map(|rule| rule["from"].as_sequence().cloned().unwrap_or_default())
        .map(|from| s(&from["podSelector"]["matchLabels"]["app.kubernetes.io/component"]).into())
        .collect();
    assert_eq!(client_peers, ["api-server", "etcd"]);
}

fn cert_der(pem: &[u8]) -> Vec<u8> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).expect("a PEM certificate");
    pem.contents
}

fn common_name(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let cn = cert.subject().iter_common_name().next().unwrap();
    cn.as_str().unwrap().to_string()
}

fn issued_by(leaf: &[u8], ca: &[u8]) -> bool {
    let (_, leaf) = x509_parser::parse_x509_certificate(leaf).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(ca).unwrap();
    leaf.verify_signature(Some(ca.public_key())).is_ok()
}

fn dns_names(der: &[u8]) -> Vec<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let san = cert.subject_alternative_name().unwrap().expect("SANs");
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
        .collect()
}

fn kubeconfig_cert(objects: &[serde_yaml_ng::Value], secret: &str) -> Vec<u8> {
    let kc: serde_yaml_ng::Value =
        serde_yaml_ng::from_slice(&secret_data(objects, secret, "kubeconfig")).unwrap();
    let b64 = s(&kc["users"][0]["user"]["client-certificate-data"]);
    use base64::Engine;
    cert_der(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
}

#[test]
fn certificates_name_flotillas_identities_and_chain_to_their_cas() {
    let objects = chart::objects(&render(&[]));
    let ca = cert_der(&secret_data(&objects, "flotilla-ca", "tls.crt"));
    let etcd_ca = cert_der(&secret_data(&objects, "flotilla-etcd-ca", "tls.crt"));

    // The aggregator dials <service>.<namespace>.svc and checks it against the caBundle.
    let bundle = s(&find(&objects, "APIService", "v1alpha1.flotilla.dev")["spec"]["caBundle"]);
    use base64::Engine;
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(bundle)
        .unwrap();
    assert_eq!(cert_der(&bundle), ca, "caBundle is not the cluster CA");
    let serving = cert_der(&secret_data(&objects, "flotilla-api-server-tls", "tls.crt"));
    assert!(issued_by(&serving, &ca));
    let service = "flotilla-api-server.flotilla-system.svc".to_string();
    assert!(
        dns_names(&serving).contains(&service),
        "{:?}",
        dns_names(&serving)
    );

    for (secret, user) in [
        ("flotilla-scheduler-kubeconfig", SCHEDULER_USER),
        (
            "flotilla-controller-manager-kubeconfig",
            CONTROLLER_MANAGER_USER,
        ),
    ] {
        let cert = kubeconfig_cert(&objects, secret);
        assert_eq!(common_name(&cert), user, "{secret}");
        assert!(
            issued_by(&cert, &ca),
            "{secret} is not signed by the cluster CA"
        );
    }

    // etcd trusts only its own CA: the cluster CA's certificates cannot open it.
    let member = cert_der(&secret_data(&objects, "flotilla-etcd-member", "tls.crt"));
    let client = cert_der(&secret_data(&objects, "flotilla-etcd-client", "tls.crt"));
    assert!(issued_by(&member, &etcd_ca) && issued_by(&client, &etcd_ca));
    assert!(!issued_by(&client, &ca) && !issued_by(&serving, &etcd_ca));
    let wildcard = "*.flotilla-etcd.flotilla-system.svc".to_string();
    assert!(dns_names(&member).contains(&wildcard));

    // The join token pins the cluster CA by the SHA-256 of its DER encoding.
    let token = String::from_utf8(secret_data(&objects, "flotilla-join-token", "token")).unwrap();
    let digest = format!("{:x}", sha2::Sha256::digest(&ca));
    assert!(token.starts_with(&format!("FLTKN-1-{digest}-")), "{token}");
}

#[test]
fn etcd_members_and_the_api_server_agree_on_the_cluster() {
    for (file, members) in [("", 1), ("ci/ha-values.yaml", 3)] {
        let objects = chart::objects(&render(&values_args(file)));
        let etcd = find(&objects, "StatefulSet", "flotilla-etcd");
        assert_eq!(etcd["spec"]["replicas"], members);
        let etcd_args = &pod_spec(etcd)["containers"][0]["args"];
        let initial = etcd_args
            .as_sequence()
            .unwrap()
            .iter()
            .find_map(|a| s(a).strip_prefix("--initial-cluster="))
            .unwrap();
        let api = pod_spec(find(&objects, "Deployment", "flotilla-api-server"));
        let servers = api["containers"][0]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .find_map(|a| s(a).strip_prefix("--etcd-servers="))
            .unwrap();
        assert_eq!(initial.split(',').count(), members);
        for i in 0..members {
            let host = format!("flotilla-etcd-{i}.flotilla-etcd.flotilla-system.svc");
            assert!(initial.contains(&format!("flotilla-etcd-{i}=https://{host}:2380")));
            assert!(servers.contains(&format!("https://{host}:2379")));
        }
    }
}

#[test]
fn the_chart_installs_no_crd_for_its_aggregated_group() {
    // A CRD for flotilla.dev would make kube-apiserver serve the group itself and claim the
    // APIService v1alpha1.flotilla.dev that the chart points at Flotilla's api-server.
    let objects = chart::objects(&render(&["--include-crds"]));
    let crds: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .map(|o| s(&o["metadata"]["name"]))
        .collect();
    assert!(crds.is_empty(), "the chart installs CRDs {crds:?}");
    let service = find(&objects, "APIService", "v1alpha1.flotilla.dev");
    assert_eq!(service["spec"]["service"]["name"], "flotilla-api-server");
}

/// The binary a chart image runs: the workspace's for Flotilla's images, Debian's etcd.
fn binary_of(image: &str, bins: &std::path::Path) -> std::path::PathBuf {
    let component = image
        .trim_start_matches("flotilla/")
        .split(':')
        .next()
        .unwrap();
    match component {
        "etcd" => flotilla_cli::images::DEBIAN_ETCD.into(),
        other => bins.join(format!("flotilla-{other}")),
    }
}

/// A container's environment as the kubelet would give it (values from Secrets and the downward
/// API replaced by a placeholder), and its args with `$(VAR)` expanded from it.
fn env_and_args(container: &serde_yaml_ng::Value) -> (Vec<(String, String)>, Vec<String>) {
    let env: Vec<(String, String)> = container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|e| {
            let value = e["value"]
                .as_str()
                .unwrap_or("placeholder-from-the-cluster");
            (s(&e["name"]).to_string(), value.to_string())
        })
        .collect();
    let args = container["args"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|a| {
            env.iter().fold(s(a).to_string(), |arg, (name, value)| {
                arg.replace(&format!("$({name})"), value)
            })
        })
        .collect();
    (env, args)
}

#[tokio::test]
async fn every_rendered_container_args_parse_with_its_own_binary() {
    // Each binary's own flag parser reads the args up to a trailing --help: a renamed or
    // misspelt flag, or a value it cannot parse, fails there (exit 2) before help is printed.
    let bins = flotilla_tests::bins::workspace_bins()
        .await
        .expect("workspace binaries");
    let mut checked = 0;
    for file in VALUES {
        let objects = chart::objects(&render(&values_args(file)));
        for workload in objects
            .iter()
            .filter(|o| o["spec"]["template"].is_mapping())
        {
            for container in pod_spec(workload)["containers"].as_sequence().unwrap() {
                let image = s(&container["image"]);
                let (env, args) = env_and_args(container);
                let out = std::process::Command::new(binary_of(image, &bins))
                    .args(&args)
                    .arg("--help")
                    .env_clear()
                    .envs(env)
                    .output()
                    .expect("the binary runs");
                assert!(
                    out.status.success(),
                    "{image} (values {file:?}) refuses the chart's args {args:?}:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 15, "only {checked} containers rendered");
}
