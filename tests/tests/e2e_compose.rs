//! End to end in containers: `flotilla images` builds one image per binary from the workspace
//! binaries, `docker-compose` starts deploy/compose/docker-compose.yml (3 etcd members, the
//! api-server, 2 schedulers, 2 controller-managers, 3 simulated node agents), and the host's
//! kubectl drives it through the kubeconfig the topology writes out. Faults: the leading etcd
//! member stopped, the leading scheduler killed and the leading controller-manager stopped, a node agent
//! killed. The agents join with the worker token `flotilla certs` wrote. Before the faults, what
//! a node agent could reach (compose_support/isolation.rs): the token, the CA certificate and the
//! certificate it joined with, no other credentials, no etcd; and etcd refuses a client without
//! a certificate.
//! Skips with a printed reason when Docker or docker-compose is absent.

mod compose_support;

use compose_support::isolation;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tokio::time::Instant;

use flotilla_cli::images::{build_images, DEBIAN_ETCD};
use flotilla_cli::up::image::docker_available;
use flotilla_tests::kubectl::Kubectl;
use flotilla_tests::probe::wait_for;
use isolation::{etcd_answers, EtcdClientFiles};

const STEP: Duration = Duration::from_secs(60);
const WHOLE_TEST: Duration = Duration::from_secs(300);

/// One compose project: unique name, image tag, subnet, port and output dir. Dropping it runs
/// `down -v`, so a failed run leaves no container, network or volume behind.
struct Topology {
    project: String,
    tag: String,
    subnet: String,
    port: u16,
    out: tempfile::TempDir,
}

impl Topology {
    fn new(images: &Images, attempt: u32) -> Topology {
        let pid = std::process::id();
        let out = tempfile::tempdir().expect("a temp dir");
        Topology {
            project: format!("flotillae2e{pid}x{attempt}"),
            tag: images.tag.clone(),
            // A /24 per attempt, outside Docker's default pools (172.17–31/16, 192.168/20) that
            // other tests' networks come from; a clash fails `up` and the next one is tried.
            subnet: format!("10.213.{}", (pid + attempt * 37) % 250 + 1),
            port: free_port(),
            out,
        }
    }

    fn compose(&self, args: &[&str]) -> Output {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/compose/docker-compose.yml");
        // The admin kubeconfig is written by a root container into a host dir: owned by us.
        let dir = std::fs::metadata(self.out.path()).expect("the output dir");
        let owner = format!("{}:{}", dir.uid(), dir.gid());
        Command::new("docker-compose")
            .arg("-f")
            .arg(file)
            .args(["-p", &self.project])
            .args(args)
            .env("FLOTILLA_TAG", &self.tag)
            .env("FLOTILLA_SUBNET", &self.subnet)
            .env("FLOTILLA_PORT", self.port.to_string())
            .env("FLOTILLA_OUT", self.out.path())
            .env("FLOTILLA_OWNER", owner)
            .output()
            .expect("docker-compose runs")
    }

    /// Runs docker-compose and panics with its output unless it succeeded.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn kubeconfig(&self) -> PathBuf {
        self.out.path().join("kubeconfig")
    }

    /// The container id of a compose service.
    fn container(&self, service: &str) -> String {
        let id = self.ok(&["ps", "-q", service]).trim().to_string();
        assert!(!id.is_empty(), "no container for {service}");
        id
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = self.compose(&["logs", "--no-color", "--tail=15"]);
            println!("{}", String::from_utf8_lossy(&logs.stdout));
        }
        let _ = self.compose(&["down", "-v", "-t", "5"]);
    }
}

/// The images of one test run (`flotilla/<name>:e2e-<pid>`), removed when dropped.
struct Images {
    tag: String,
}

impl Images {
    fn build(bins: &Path) -> Images {
        let images = Images {
            tag: format!("e2e-{}", std::process::id()),
        };
        build_images(bins, Path::new(DEBIAN_ETCD), &images.tag).expect("images build");
        images
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        let specs = flotilla_cli::images::image_specs(Path::new(""), Path::new(DEBIAN_ETCD));
        for spec in specs {
            let _ = Command::new("docker")
                .args(["rmi", &spec.reference(&self.tag)])
                .output();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn compose_available() -> bool {
    Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// kubectl's REPLICAS column of `kubectl get ssvc web` (e.g. `3/3`).
fn replicas(k: &Kubectl) -> Option<String> {
    let run = k.run(&["get", "ssvc", "web", "--no-headers"]);
    (run.code == 0).then(|| run.stdout.split_whitespace().nth(2).map(str::to_string))?
}

async fn wait_replicas(k: &Kubectl, want: &str) {
    wait_for(
        &format!("kubectl get ssvc web shows {want}"),
        STEP,
        || async move { (replicas(k).as_deref() == Some(want)).then_some(()) },
    )
    .await;
}

/// The compose service holding a leader Lease (its hostname, the identity's prefix).
fn leader(k: &Kubectl, lease: &str) -> String {
    let run = k
        .run(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            lease,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .ok();
    let holder = run.stdout.trim();
    holder.split('_').next().unwrap_or_default().to_string()
}

fn node_state(k: &Kubectl, node: &str) -> String {
    let path = "jsonpath={.status.state}";
    k.run(&["get", "swarmnode", node, "-o", path])
        .stdout
        .trim()
        .to_lowercase()
}

/// `node desired-state` of every task meant to run.
fn running_task_nodes(k: &Kubectl) -> Vec<String> {
    let path = "jsonpath={range .items[*]}{.spec.nodeName} {.spec.desiredState}{\"\\n\"}{end}";
    let run = k.run(&["get", "tasks", "-o", path]).ok();
    run.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, desired)| desired.eq_ignore_ascii_case("running"))
        .map(|(node, _)| node.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compose_topology_serves_kubectl_and_survives_etcd_leader_and_node_faults() {
    if !docker_available() {
        println!("SKIP: `docker info` failed: no Docker engine to run the topology on");
        return;
    }
    if !compose_available() {
        println!("SKIP: docker-compose is missing (scripts/prereqs.sh installs it)");
        return;
    }
    let bins = flotilla_tests::bins::workspace_bins()
        .await
        .expect("the workspace binaries");
    let started = Instant::now();
    tokio::time::timeout(WHOLE_TEST, scenario(&bins))
        .await
        .expect("the scenario finishes in time");
    println!(
        "e2e_compose: {:?} (images, up, faults, down)",
        started.elapsed()
    );
}

/// The client URL of etcd member `n` (1..=3) on the `etcd` network (the host reaches it).
fn etcd_url(subnet: &str, n: u32) -> String {
    format!("https://{subnet}.13{n}:2379")
}

/// The compose service (`etcd-N`) of the leading etcd member, asked on each member's IP with
/// the api-server's client certificate.
async fn etcd_leader(subnet: &str, creds: &EtcdClientFiles) -> String {
    wait_for("an etcd member that says it leads", STEP, || async move {
        for n in 1..=3 {
            if leads(&etcd_url(subnet, n), creds.options(true)).await {
                return Some(format!("etcd-{n}"));
            }
        }
        None
    })
    .await
}

/// Whether the etcd member at `url` is the leader (false when it does not answer).
async fn leads(url: &str, options: etcd_client::ConnectOptions) -> bool {
    let Ok(mut client) = etcd_client::Client::connect([url], Some(options)).await else {
        return false;
    };
    let Ok(status) = client.status().await else {
        return false;
    };
    let member = status.header().map(|h| h.member_id());
    status.leader() != 0 && member == Some(status.leader())
}

/// `up -d`, trying another subnet when the chosen one clashes with an existing network.
fn start(images: &Images) -> Topology {
    for attempt in 0..4 {
        let topo = Topology::new(images, attempt);
        let out = topo.compose(&["up", "-d"]);
        if out.status.success() {
            return topo;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("overlap"), "docker-compose up failed:\n{err}");
        println!("subnet {}.0/24 is taken; trying another", topo.subnet);
    }
    panic!("no free subnet after 4 attempts");
}

/// Every agent joined with the token and holds only the join files and its own certificate,
/// and reaches no etcd member; etcd answers the
/// api-server's client certificate and refuses a client with none. Returns that certificate.
async fn isolation_checks(topo: &Topology) -> EtcdClientFiles {
    let work = tempfile::tempdir().expect("a temp dir");
    let members: Vec<String> = (1..=3)
        .map(|n| topo.container(&format!("etcd-{n}")))
        .collect();
    for n in 1..=3 {
        let agent = topo.container(&format!("agent-{n}"));
        isolation::check_agent(&agent, &format!("node-{n}"), &members, work.path());
    }
    let creds = EtcdClientFiles::copy_from(&topo.container("api-server"), work.path());
    for n in 1..=3 {
        let url = etcd_url(&topo.subnet, n);
        assert!(
            etcd_answers(&url, creds.options(true)).await,
            "etcd at {url} refused the api-server's client certificate"
        );
        assert!(
            !etcd_answers(&url, creds.options(false)).await,
            "etcd at {url} answered a client without a certificate"
        );
    }
    creds
}

async fn scenario(bins: &Path) {
    let building = Instant::now();
    let images = Images::build(bins);
    println!("images: {:?}", building.elapsed());
    let topo = start(&images);
    let kubectl = Kubectl::new(33, &topo.kubeconfig()).expect("kubectl 1.33 is installed");
    let k = &kubectl;
    wait_for("three Ready nodes", STEP, || async move {
        let run = k.run(&["get", "swarmnodes", "--no-headers"]);
        (run.stdout.matches(" Ready ").count() == 3).then_some(())
    })
    .await;
    let checking = Instant::now();
    let creds = isolation_checks(&topo).await;
    println!("isolation checks: {:?}", checking.elapsed());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/web.yaml");
    k.run(&["apply", "-f", manifest.to_str().unwrap()]).ok();
    wait_replicas(k, "3/3").await;

    // Quorum: with the leading etcd member stopped, the other two elect a leader and writes
    // still go through.
    let etcd = etcd_leader(&topo.subnet, &creds).await;
    println!("stopping the leading etcd member, {etcd}");
    topo.ok(&["stop", &etcd]);
    k.run(&["scale", "ssvc/web", "--replicas=4"]).ok();
    wait_replicas(k, "4/4").await;

    // Failover: the leading scheduler crashes (its Lease must expire), the leading
    // controller-manager is stopped (SIGTERM: it exits at once and releases its Lease).
    let scheduler = leader(k, "flotilla-scheduler");
    let manager = leader(k, "flotilla-controller-manager");
    assert!(scheduler.starts_with("scheduler-"), "{scheduler:?}");
    assert!(manager.starts_with("controller-manager-"), "{manager:?}");
    println!("killing {scheduler}, stopping {manager} (the leaders)");
    topo.ok(&["kill", &scheduler]);
    let stopping = Instant::now();
    topo.ok(&["stop", "-t", "10", &manager]);
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "{manager} ignored SIGTERM (stopped only by the kill after {:?})",
        stopping.elapsed()
    );
    k.run(&["scale", "ssvc/web", "--replicas=6"]).ok();
    wait_replicas(k, "6/6").await;
    assert_ne!(
        leader(k, "flotilla-scheduler"),
        scheduler,
        "the standby scheduler leads"
    );
    assert_ne!(
        leader(k, "flotilla-controller-manager"),
        manager,
        "the standby manager leads"
    );

    // A node agent crashes: its heartbeat stops, the node goes down after the 15 s grace and
    // its tasks move to the other two nodes.
    topo.ok(&["kill", "agent-1"]);
    wait_for("node-1 down", STEP, || async move {
        (node_state(k, "node-1") == "down").then_some(())
    })
    .await;
    wait_for("6 tasks on node-2 and node-3", STEP, || async move {
        let nodes = running_task_nodes(k);
        let moved = nodes.len() == 6 && !nodes.iter().any(|n| n == "node-1");
        (moved && replicas(k).as_deref() == Some("6/6")).then_some(())
    })
    .await;
}
