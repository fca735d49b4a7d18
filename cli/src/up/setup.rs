//! The steps of starting a cluster: etcd, the encryption config, the first kubeconfig, and
//! removing an agent's containers when the cluster goes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use flotilla_api_server::security::encryption_default::{ensure_config_file, CONFIG_FILE};

use super::procs::{self, Procs};

/// Removes the containers (and tmpfs secret directories) of these Docker nodes.
pub fn remove_containers(nodes: &[String]) {
    for node in nodes {
        let filter = format!("label=flotilla.dev/node={node}");
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(Path::new("/dev/shm/flotilla").join(node));
    }
}

/// Starts a single-member etcd on free loopback ports and waits until it serves. A port found
/// free can be taken by another process before etcd binds it; etcd then exits at once, and it
/// is started again on other ports.
pub async fn start_etcd(procs: &mut Procs, data: &Path, logs: &Path) -> anyhow::Result<String> {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let (client, peer) = (free_port()?, free_port()?);
        let url = format!("http://127.0.0.1:{client}");
        let args = vec![
            "--name=flotilla".to_string(),
            format!("--data-dir={}", data.join("etcd").display()),
            format!("--listen-client-urls={url}"),
            format!("--advertise-client-urls={url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster=flotilla=http://127.0.0.1:{peer}"),
            "--log-level=warn".into(),
        ];
        procs.spawn("etcd", Path::new("etcd"), &args, logs)?;
        match serving(procs, &[client]).await {
            Ok(()) => return Ok(url),
            Err(log) if attempt < ATTEMPTS && log.contains("address already in use") => {
                println!("  etcd's port was taken before it bound it; trying other ports");
            }
            Err(log) => anyhow::bail!("etcd did not start:\n{log}"),
        }
    }
    unreachable!("the last attempt returns")
}

/// A port that was free a moment ago (another process may take it before it is bound: the
/// callers retry on "address already in use").
pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until every one of `ports` accepts connections; Err(the log's end) as soon as any of
/// `procs` exits.
pub(crate) async fn serving(procs: &mut Procs, ports: &[u16]) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for &port in ports {
        loop {
            if let Some((p, _)) = procs.exited().into_iter().next() {
                return Err(procs::tail(&p.log, 20));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("etcd accepted no connection on port {port} in 30s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

pub fn encryption_config(data: &Path) -> anyhow::Result<PathBuf> {
    let path = data.join(CONFIG_FILE);
    ensure_config_file(&path)?;
    Ok(path)
}

pub async fn wait_for_kubeconfig(path: &Path, procs: &mut Procs) -> anyhow::Result<kube::Client> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Some((p, code)) = procs.exited().into_iter().next() {
            anyhow::bail!(
                "{} exited with code {code}:\n{}",
                p.name,
                procs::tail(&p.log, 20)
            );
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the api-server wrote no kubeconfig in 30s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_encryption_config_is_for_its_owner_only_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join(".flotilla");
        let path = super::encryption_config(&data).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "the key file");
        assert_eq!(mode(&data), 0o700, "the data dir holding it");
        let key = std::fs::read(&path).unwrap();
        assert_eq!(super::encryption_config(&data).unwrap(), path);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            key,
            "a restart keeps the key"
        );
    }
}
