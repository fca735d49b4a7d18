//! What a compromised node agent of the compose topology could reach: checked from inside
//! an agent container. The images are `FROM scratch` with no shell, so the checks run in a
//! busybox container sharing the agent's network namespace (`--network container:`), its
//! volumes (`--volumes-from`) and its user; etcd is then asked by the test itself, with and
//! without the api-server's etcd client certificate.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flotilla_cli::up::image::{ensure_web_image, WEB_IMAGE};

/// Files docker writes into every container, and the busybox image's own.
const NOT_THE_AGENTS: [&str; 6] = [
    "/.dockerenv",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/bin/busybox",
    "/www/index.html",
];

pub fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

fn inspect(container: &str, format: &str) -> String {
    let out = docker(&["inspect", "-f", format, container]);
    assert!(out.status.success(), "docker inspect {container} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs busybox `args` as the agent's user, in its network namespace, with its volumes.
fn in_agent(agent: &str, user: &str, args: &[&str]) -> std::process::Output {
    let network = format!("container:{agent}");
    let mut cmd = vec![
        "run",
        "--rm",
        "--network",
        &network,
        "--volumes-from",
        agent,
    ];
    if !user.is_empty() {
        cmd.extend(["--user", user]);
    }
    cmd.extend(["--entrypoint", "/bin/busybox", WEB_IMAGE]);
    cmd.extend(args);
    docker(&cmd)
}

/// Every IP of a container, on every network it joined.
pub fn ips(container: &str) -> Vec<String> {
    let all = inspect(
        container,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
    );
    all.split_whitespace().map(str::to_string).collect()
}

/// What a joined agent holds: the join directory it shares with the api-server (the token and
/// the CA certificate, no key) and, in its own volume, the key and certificate it joined with.
const AGENT_FILES: [&str; 5] = [
    "/var/lib/flotilla-agent/ca.crt",
    "/var/lib/flotilla-agent/node.crt",
    "/var/lib/flotilla-agent/node.key",
    "/var/lib/flotilla/join/ca.crt",
    "/var/lib/flotilla/join/token",
];

/// The agent container `agent` (node `node`): it runs unprivileged, holds no file but the join
/// token, the CA certificate and the certificate it joined with (no CA key, no admin or other
/// node's credentials, no encryption key, no kubeconfig made for it), its certificate is
/// `system:node:<node>`'s, its user can read its key, and it cannot open a TCP connection to any
/// etcd member. Every breach is listed in one failure.
pub fn check_agent(agent: &str, node: &str, etcd_members: &[String], work: &Path) {
    ensure_web_image(work).expect("the busybox image builds");
    let user = inspect(agent, "{{.Config.User}}");
    let mut breaches = Vec::new();
    let files = files(agent, &user);
    if files != AGENT_FILES {
        breaches.push(format!("holds other files than {AGENT_FILES:?}: {files:?}"));
    }
    if !in_agent(agent, &user, &["cat", AGENT_FILES[2]])
        .status
        .success()
    {
        breaches.push(format!("its user cannot read {}", AGENT_FILES[2]));
    }
    let cert = in_agent(agent, &user, &["cat", AGENT_FILES[1]]);
    let subject = certificate_subject(&cert.stdout);
    let want = format!("CN=system:node:{node}");
    if !subject.contains(&want) || !subject.contains("O=system:nodes") {
        breaches.push(format!(
            "its certificate is {subject:?}, not {want}, O=system:nodes"
        ));
    }
    let open = etcd_connections(agent, &user, etcd_members);
    if !open.is_empty() {
        breaches.push(format!(
            "connected to etcd ({open:?}: target, nc's exit code)"
        ));
    }
    let numeric = user.split(':').next().unwrap_or_default();
    if matches!(numeric, "" | "0" | "root") {
        breaches.push(format!("runs as root (user {user:?})"));
    }
    assert!(
        breaches.is_empty(),
        "agent {node}:\n{}",
        breaches.join("\n")
    );
}

/// The subject of the first certificate in `pem` (`CN=…, O=…`), or why there is none.
fn certificate_subject(pem: &[u8]) -> String {
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(pem) else {
        return "no PEM certificate".into();
    };
    match pem.parse_x509() {
        Ok(cert) => cert.subject().to_string(),
        Err(e) => format!("unparsable certificate: {e}"),
    }
}

/// Every regular file the agent sees but docker's and busybox's own, sorted.
fn files(agent: &str, user: &str) -> Vec<String> {
    let prune = "( -path /proc -o -path /sys -o -path /dev ) -prune -o -type f -print";
    let mut args = vec!["find", "/"];
    args.extend(prune.split(' '));
    let out = in_agent(agent, user, &args);
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut files: Vec<String> = listing
        .lines()
        .filter(|f| !NOT_THE_AGENTS.contains(f))
        .map(str::to_string)
        .collect();
    files.sort();
    files
}

/// The etcd client and peer ports the agent could open a connection to, tried all at once:
/// nc exits 1 when the connection is refused or times out (3 s), 0 when it connected and the
/// member hung up, and is killed (143) when it connected and stayed.
fn etcd_connections(agent: &str, user: &str, etcd_members: &[String]) -> Vec<String> {
    let targets: Vec<String> = etcd_members
        .iter()
        .flat_map(|m| ips(m))
        .flat_map(|ip| [format!("{ip}:2379"), format!("{ip}:2380")])
        .collect();
    assert!(!targets.is_empty(), "no etcd member has an address");
    let script = r#"for t in "$@"; do (timeout 6 nc -w 3 "${t%:*}" "${t#*:}" </dev/null >/dev/null 2>&1; echo "$t $?") & done; wait"#;
    let mut args = vec!["sh", "-c", script, "sh"];
    args.extend(targets.iter().map(String::as_str));
    let out = in_agent(agent, user, &args);
    let results = String::from_utf8_lossy(&out.stdout);
    assert_eq!(results.lines().count(), targets.len(), "{results}");
    results
        .lines()
        .filter(|l| !l.ends_with(" 1"))
        .map(str::to_string)
        .collect()
}

/// The api-server's etcd CA and client pair, copied out of its container (PEM bytes).
pub struct EtcdClientFiles {
    pub ca: Vec<u8>,
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl EtcdClientFiles {
    pub fn copy_from(api_server: &str, work: &Path) -> EtcdClientFiles {
        let dir = work.join("api-server-creds");
        std::fs::create_dir_all(&dir).unwrap();
        let from = format!("{api_server}:/var/lib/flotilla/api-server/.");
        let out = docker(&["cp", &from, dir.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "docker cp {from}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
        EtcdClientFiles {
            ca: read("etcd-ca.crt"),
            cert: read("etcd-client.crt"),
            key: read("etcd-client.key"),
        }
    }

    /// TLS options trusting etcd's CA, presenting the client certificate when `identity`.
    pub fn options(&self, identity: bool) -> etcd_client::ConnectOptions {
        use etcd_client::{Certificate, Identity, TlsOptions};
        let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(&self.ca));
        if identity {
            tls = tls.identity(Identity::from_pem(&self.cert, &self.key));
        }
        etcd_client::ConnectOptions::new()
            .with_tls(tls)
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(3))
    }
}

/// Whether a client with `options` gets an answer from the etcd member at `url`.
pub async fn etcd_answers(url: &str, options: etcd_client::ConnectOptions) -> bool {
    let Ok(mut client) = etcd_client::Client::connect([url], Some(options)).await else {
        return false;
    };
    client.status().await.is_ok()
}
