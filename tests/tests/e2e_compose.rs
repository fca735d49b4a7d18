//! End to end in containers: `flotilla images` builds one image per binary from the workspace
//! binaries and the node image, `docker-compose` starts deploy/compose/docker-compose.yml (3 etcd
//! members, the api-server, 2 schedulers, 2 controller-managers, 3 nodes: containers running
//! their own containerd, their agent on `--runtime cri`), and the host's kubectl drives it
//! through the kubeconfig the topology writes out. The web example's tasks run as real
//! containers inside the nodes (`ctr` in each node lists them), every node's published port
//! answers, also for a task on another node (the mesh of one node container forwards to
//! another's), and one node reaches another node's pod by its address (pod subnet routes).
//! At the end, a task on one node reaches a task on another over their SwarmNetwork's VXLAN
//! overlay, by address and by `tasks.<service>` (compose_support/overlay.rs).
//! Faults: the leading etcd member stopped, the leading scheduler killed and the leading
//! controller-manager stopped, a node container killed. The nodes join with the worker token
//! `flotilla certs` wrote. Before the faults, what a node could reach
//! (compose_support/isolation.rs): the token, the CA certificate and the certificate it joined
//! with, no other credentials, no etcd, no rights beyond two capabilities; and etcd refuses a
//! client without a certificate.
//! Skips with a printed reason when Docker, docker-compose or the node image's parts are absent.

mod compose_support;

use compose_support::{isolation, nodes, overlay};

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tokio::time::Instant;

use flotilla_cli::images::{build_images, DEBIAN_ETCD};
use flotilla_cli::node_image::build_node_image;
use flotilla_cli::up::image::docker_available;
use flotilla_tests::kubectl::Kubectl;
use flotilla_tests::probe::wait_for;
use isolation::{etcd_answers, EtcdClientFiles};

const STEP: Duration = Duration::from_secs(60);
const WHOLE_TEST: Duration = Duration::from_secs(480);

/// One compose project: unique name, image tag, subnet, port and output dir. Dropping it runs
/// `down -v`, so a failed run leaves no container, network or volume behind.
struct Topology {
    project: String,
    tag: String,
    subnet: String,
    port: u16,
    out: tempfile::TempDir,
    /// The containers (sandboxes and tasks) seen in the nodes, whose cgroups outlive them.
    pods: std::sync::Mutex<Vec<String>>,
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
            pods: Default::default(),
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

    /// Notes the containers in every running node, before a node dies with them.
    fn remember_pods(&self) {
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        for n in 1..=3 {
            let id = self.compose(&["ps", "-q", &format!("node-{n}")]).stdout;
            let id = String::from_utf8_lossy(&id).trim().to_string();
            if !id.is_empty() {
                pods.extend(nodes::all_containers(&id));
            }
        }
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
        self.remember_pods();
        let _ = self.compose(&["down", "-v", "-t", "5"]);
        nodes::remove_cgroups(&self.pods.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The images of one test run (`flotilla/<name>:e2e-<pid>`, the node image among them),
/// removed when dropped.
struct Images {
    tag: String,
    node: String,
}

impl Images {
    fn build(bins: &Path) -> Images {
        let tag = format!("e2e-{}", std::process::id());
        let images = Images {
            node: format!("flotilla/node:{tag}"),
            tag,
        };
        build_images(bins, Path::new(DEBIAN_ETCD), &images.tag).expect("images build");
        build_node_image(bins, &images.tag).expect("the node image builds");
        images
    }
}

impl Drop for Images {
    fn drop(&mut self) {
        let specs = flotilla_cli::images::image_specs(Path::new(""), Path::new(DEBIAN_ETCD));
        let mut all: Vec<String> = specs.iter().map(|s| s.reference(&self.tag)).collect();
        all.push(self.node.clone());
        for image in all {
            let _ = Command::new("docker").args(["rmi", &image]).output();
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
    if let Some(why) = flotilla_cli::containerd::unavailable() {
        println!("SKIP: {why}: the node image cannot be built here");
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

/// Every node joined with the token, holds only the join files and its own certificate beyond
/// its image, has no rights but its two capabilities, and reaches no etcd member; etcd answers
/// the api-server's client certificate and refuses a client with none. Returns that certificate.
async fn isolation_checks(topo: &Topology, images: &Images) -> EtcdClientFiles {
    let work = tempfile::tempdir().expect("a temp dir");
    let members: Vec<String> = (1..=3)
        .map(|n| topo.container(&format!("etcd-{n}")))
        .collect();
    for n in 1..=3 {
        let node = topo.container(&format!("node-{n}"));
        isolation::check_node(&node, &format!("node-{n}"), &images.node, &members);
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

/// The address of node `n`'s container on the `flotilla` network (where its mesh listens).
fn node_addr(topo: &Topology, n: u32) -> String {
    format!("{}.4{n}", topo.subnet)
}

/// Every node's containerd runs exactly the task containers the API binds to that node, and
/// every node's published port answers (through its mesh, from a task on any node).
async fn nodes_run_and_serve(topo: &Topology, k: &Kubectl, nodes: &[u32], tasks: usize) {
    let containers: Vec<String> = nodes
        .iter()
        .map(|n| topo.container(&format!("node-{n}")))
        .collect();
    wait_for(
        &format!("{tasks} task containers in nodes {nodes:?}, as the API binds them"),
        STEP,
        || async {
            let bound = running_task_nodes(k);
            let matches = nodes.iter().zip(&containers).all(|(n, c)| {
                let name = format!("node-{n}");
                nodes::task_containers(c).len() == bound.iter().filter(|b| **b == name).count()
            });
            (bound.len() == tasks && matches).then_some(())
        },
    )
    .await;
    for n in nodes {
        let addr = &format!("{}:8080", node_addr(topo, *n));
        wait_for(
            &format!("web on node-{n}'s port, {addr}"),
            STEP,
            || async move { nodes::answers(addr).await.then_some(()) },
        )
        .await;
    }
}

/// With one task left, every node's port still answers (two of them have no task: their mesh
/// forwards to the node that runs it), the task's address is in its node's pod subnet, and
/// every other node reaches it there directly (the pod subnet routes).
async fn across_nodes(topo: &Topology, k: &Kubectl) {
    k.run(&["scale", "ssvc/web", "--replicas=1"]).ok();
    wait_replicas(k, "1/1").await;
    nodes_run_and_serve(topo, k, &[1, 2, 3], 1).await;
    let owner = running_task_nodes(k).pop().expect("one task");
    let n: u32 = owner.trim_start_matches("node-").parse().expect("node-N");
    let ip = wait_for(
        &format!("{owner} publishes its task's address"),
        STEP,
        || async { nodes::web_endpoints(k, &owner).pop() },
    )
    .await;
    assert!(
        ip.to_string().starts_with(&format!("10.244.{n}.")),
        "{owner}'s task has {ip}, outside its pod subnet 10.244.{n}.0/24"
    );
    for other in (1..=3).filter(|o| *o != n) {
        let from = topo.container(&format!("node-{other}"));
        assert!(
            nodes::node_reaches(&from, ip),
            "node-{other} does not reach {owner}'s task at {ip}"
        );
    }
}

async fn scenario(bins: &Path) {
    let clock = Instant::now();
    let lap = |what: &str| println!("{what}: {:?}", clock.elapsed());
    let images = Images::build(bins);
    lap("images built");
    let topo = start(&images);
    let kubectl = Kubectl::new(33, &topo.kubeconfig()).expect("kubectl 1.33 is installed");
    let k = &kubectl;
    wait_for("three Ready nodes", STEP, || async move {
        let run = k.run(&["get", "swarmnodes", "--no-headers"]);
        (run.stdout.matches(" Ready ").count() == 3).then_some(())
    })
    .await;
    lap("up, 3 nodes Ready");
    let creds = isolation_checks(&topo, &images).await;
    lap("isolation checks");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/web.yaml");
    k.run(&["apply", "-f", manifest.to_str().unwrap()]).ok();
    wait_replicas(k, "3/3").await;
    lap("apply → 3/3");
    nodes_run_and_serve(&topo, k, &[1, 2, 3], 3).await;
    across_nodes(&topo, k).await;
    lap("tasks in the nodes, every port, across nodes");
    control_plane_faults(&topo, k, &creds).await;
    lap("etcd, scheduler and controller-manager faults");

    // A node container dies with its containerd and tasks: its heartbeat stops, the node goes
    // down after the 15 s grace and its tasks move to the other two nodes.
    assert!(
        running_task_nodes(k).iter().any(|n| n == "node-1"),
        "node-1 runs a task before it is killed"
    );
    topo.remember_pods();
    topo.ok(&["kill", "node-1"]);
    wait_for("node-1 down", STEP, || async move {
        (node_state(k, "node-1") == "down").then_some(())
    })
    .await;
    wait_for("3 tasks on node-2 and node-3", STEP, || async move {
        let nodes = running_task_nodes(k);
        let moved = nodes.len() == 3 && !nodes.iter().any(|n| n == "node-1");
        (moved && replicas(k).as_deref() == Some("3/3")).then_some(())
    })
    .await;
    lap("node-1 killed → down, its tasks moved");
    k.run(&["scale", "ssvc/web", "--replicas=6"]).ok();
    wait_replicas(k, "6/6").await;
    nodes_run_and_serve(&topo, k, &[2, 3], 6).await;
    lap("scale → 6/6 on node-2 and node-3");
    let nodes = [2, 3].map(|n| (format!("node-{n}"), topo.container(&format!("node-{n}"))));
    overlay::tasks_reach_each_other_over_the_overlay(k, &nodes.into_iter().collect()).await;
    lap("a task on one node reaches one on another over the VXLAN overlay");
}

/// Quorum: with the leading etcd member stopped, the other two elect a leader and writes still
/// go through. Failover: the leading scheduler crashes (its Lease must expire), the leading
/// controller-manager is stopped (SIGTERM: it exits at once and releases its Lease). Ends at 3/3.
async fn control_plane_faults(topo: &Topology, k: &Kubectl, creds: &EtcdClientFiles) {
    let etcd = etcd_leader(&topo.subnet, creds).await;
    println!("stopping the leading etcd member, {etcd}");
    topo.ok(&["stop", &etcd]);
    k.run(&["scale", "ssvc/web", "--replicas=2"]).ok();
    wait_replicas(k, "2/2").await;

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
    k.run(&["scale", "ssvc/web", "--replicas=3"]).ok();
    wait_replicas(k, "3/3").await;
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
}
