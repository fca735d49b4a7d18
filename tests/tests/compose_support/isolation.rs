//! What a compromised node of the compose topology could reach, checked from inside each node
//! container (`docker exec`, with the node's own busybox): its files, its rights, and a
//! connection attempt to every etcd port; etcd is then asked by the test itself, with and
//! without the api-server's etcd client certificate.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

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

/// Runs busybox `args` inside the node container.
pub fn in_node(node: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = vec!["exec", node, "/bin/busybox"];
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

/// What a joined node holds besides its image: the join directory it shares with the api-server
/// (the token and the CA certificate, no key) and, in its own volume, the key and certificate it
/// joined with.
const NODE_FILES: [&str; 5] = [
    "/var/lib/flotilla-agent/ca.crt",
    "/var/lib/flotilla-agent/node.crt",
    "/var/lib/flotilla-agent/node.key",
    "/var/lib/flotilla/join/ca.crt",
    "/var/lib/flotilla/join/token",
];

/// The rights a node is given (docs/deploy.md): these capabilities beyond Docker's default set,
/// not privileged.
const NODE_CAPABILITIES: [&str; 2] = ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"];

/// The node container `container` (node `node`, image `image`): it is not privileged and has
/// exactly [`NODE_CAPABILITIES`] added, holds no file beyond its image's but the join token, the
/// CA certificate and the certificate it joined with (no CA key, no admin or other node's
/// credentials, no encryption key, no kubeconfig made for it), its certificate is
/// `system:node:<node>`'s, and it cannot open a TCP connection to any etcd member. Every breach
/// is listed in one failure.
pub fn check_node(container: &str, node: &str, image: &str, etcd_members: &[String]) {
    let mut breaches = Vec::new();
    if inspect(container, "{{.HostConfig.Privileged}}") != "false" {
        breaches.push("is privileged".to_string());
    }
    let mut caps: Vec<String> = inspect(container, "{{range .HostConfig.CapAdd}}{{.}} {{end}}")
        .split_whitespace()
        .map(|c| format!("CAP_{}", c.trim_start_matches("CAP_")))
        .collect();
    caps.sort();
    if caps != NODE_CAPABILITIES {
        breaches.push(format!(
            "has capabilities {caps:?} added, not {NODE_CAPABILITIES:?}"
        ));
    }
    let files = added_files(container, image);
    if files != NODE_FILES {
        breaches.push(format!("holds other files than {NODE_FILES:?}: {files:?}"));
    }
    let cert = in_node(container, &["cat", NODE_FILES[1]]);
    let subject = certificate_subject(&cert.stdout);
    let want = format!("CN=system:node:{node}");
    if !subject.contains(&want) || !subject.contains("O=system:nodes") {
        breaches.push(format!(
            "its certificate is {subject:?}, not {want}, O=system:nodes"
        ));
    }
    let open = etcd_connections(container, etcd_members);
    if !open.is_empty() {
        breaches.push(format!(
            "connected to etcd ({open:?}: target, nc's exit code)"
        ));
    }
    assert!(breaches.is_empty(), "node {node}:\n{}", breaches.join("\n"));
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

/// `find` over the whole filesystem but the kernel's, `/run` (a tmpfs of sockets and network
/// namespaces), containerd's volume (images and the pods' files) and CNI's cache of the pods'
/// network results.
const FIND_FILES: &str = "find / ( -path /proc -o -path /sys -o -path /dev -o -path /run \
    -o -path /var/lib/flotilla-node -o -path /var/lib/cni ) -prune -o -type f -print";

fn file_list(out: &std::process::Output) -> Vec<String> {
    let mut files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    files.sort();
    files
}

/// The regular files in the running node that a fresh container of its image does not have.
fn added_files(container: &str, image: &str) -> Vec<String> {
    let find: Vec<&str> = FIND_FILES.split_whitespace().collect();
    let running = file_list(&in_node(container, &find));
    let mut fresh = vec!["run", "--rm", "--entrypoint", "/bin/busybox", image];
    fresh.extend(&find);
    let fresh = file_list(&docker(&fresh));
    assert!(!fresh.is_empty(), "listing the files of {image} failed");
    running.into_iter().filter(|f| !fresh.contains(f)).collect()
}

/// The etcd client and peer ports the node could open a connection to, tried all at once:
/// nc exits 1 when the connection is refused or times out (3 s), 0 when it connected and the
/// member hung up, and is killed (143) when it connected and stayed.
fn etcd_connections(node: &str, etcd_members: &[String]) -> Vec<String> {
    let targets: Vec<String> = etcd_members
        .iter()
        .flat_map(|m| ips(m))
        .flat_map(|ip| [format!("{ip}:2379"), format!("{ip}:2380")])
        .collect();
    assert!(!targets.is_empty(), "no etcd member has an address");
    let script = r#"bb=/bin/busybox; for t in "$@"; do ($bb timeout 6 $bb nc -w 3 "${t%:*}" "${t#*:}" </dev/null >/dev/null 2>&1; echo "$t $?") & done; wait"#;
    let mut args = vec!["sh", "-c", script, "sh"];
    args.extend(targets.iter().map(String::as_str));
    let out = in_node(node, &args);
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
