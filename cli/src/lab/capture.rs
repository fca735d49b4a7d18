//! `flotilla lab capture [--docs docs/lessons] [--check]`: runs each lesson's commands on a
//! real swarm and on a real Flotilla cluster (two Docker-runtime agents, kubectl with the
//! admin kubeconfig) and writes their output into the pages' capture blocks. With `--check`
//! nothing is written: the fresh output's shape (commands, table headers, line counts) must
//! match the pages', so the docs cannot drift silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::capture_shape::{extract, fill, ids, shape};
use super::flotilla::Flotilla;
use super::swarm::Swarm;

/// One block: its id (`<page>/<swarm|flotilla>`) and shell steps. A step starting `wait:`
/// is retried until it succeeds (≤ 90 s), so it also asserts what the shape cannot (an
/// address, a count); `quiet:` runs once; neither is shown.
pub struct Scene {
    pub id: &'static str,
    pub steps: &'static [&'static str],
}

const SWARM_WAIT: &str =
    "wait: docker service ls --format '{{.Replicas}}' | awk -F/ '$1!=$2{exit 1}'";

pub const SWARM: &[Scene] = &[
    Scene { id: "nodes-and-roles/swarm", steps: &["docker node ls", "docker info --format 'managers={{.Swarm.Managers}} nodes={{.Swarm.Nodes}} control={{.Swarm.ControlAvailable}}'"] },
    Scene { id: "raft-quorum/swarm", steps: &["docker node ls --format '{{.Hostname}}: {{.ManagerStatus}}'", "docker info --format '{{json .Swarm.Cluster.Spec.Raft}}'"] },
    Scene { id: "services-and-tasks/swarm", steps: &["docker service create --detach --quiet --name web --replicas 3 --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker service ls --format 'table {{.Name}}\\t{{.Mode}}\\t{{.Replicas}}\\t{{.Image}}'", "docker service ps web --format 'table {{.Name}}\\t{{.DesiredState}}\\t{{.CurrentState}}'", "quiet: docker service rm web"] },
    Scene { id: "replicated-vs-global/swarm", steps: &["docker service create --detach --quiet --mode global --name probe --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker service ls --format 'table {{.Name}}\\t{{.Mode}}\\t{{.Replicas}}'", "quiet: docker service rm probe"] },
    Scene { id: "routing-mesh/swarm", steps: &["docker service create --detach --quiet --name mesh --publish 18080:80 --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker service inspect mesh --format '{{range .Endpoint.Ports}}{{.PublishMode}} {{.PublishedPort}}->{{.TargetPort}}/{{.Protocol}}{{end}}'", "quiet: sleep 3", "curl -s -m 3 http://127.0.0.1:18080/; echo \"curl exit $?\"", "quiet: docker service rm mesh", "docker service create --detach --quiet --name mesh-host --publish mode=host,published=18081,target=80 --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "wait: curl -sf http://127.0.0.1:18081/", "curl -s http://127.0.0.1:18081/", "quiet: docker service rm mesh-host"] },
    Scene { id: "overlay-vip-dns/swarm", steps: &["docker network create --driver overlay --attachable --subnet 10.231.0.0/24 lab-net >/dev/null && echo created lab-net", "docker service create --detach --quiet --name api --network lab-net --replicas 2 --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker service inspect api --format '{{range .Endpoint.VirtualIPs}}VIP {{.Addr}}{{end}}'", "docker run --rm --network lab-net flotilla/web:latest /bin/busybox nslookup tasks.api 2>/dev/null | grep -c '10\\.231\\.' | sed 's/^/task addresses behind tasks.api: /'", "quiet: docker service rm api", "quiet: sleep 3; docker network rm lab-net"] },
    Scene { id: "secrets-and-configs/swarm", steps: &["printf s3cret | docker secret create db_password - >/dev/null && echo created db_password", "printf 'greeting=hi\\n' | docker config create app_conf - >/dev/null && echo created app_conf", "docker secret ls --format 'table {{.Name}}\\t{{.CreatedAt}}'", "docker config ls --format 'table {{.Name}}\\t{{.CreatedAt}}'", "docker service create --detach --quiet --name app --secret source=db_password,mode=0400 --config source=app_conf,target=/etc/app.conf --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker exec $(docker ps -q --filter label=com.docker.swarm.service.name=app | head -1) /bin/busybox ls -l /run/secrets/db_password /etc/app.conf | awk '{print $1, $NF}'", "quiet: docker service rm app"] },
    Scene { id: "mounts/swarm", steps: &["docker service create --detach --quiet --name vol --mount type=volume,source=lab-data,target=/data --mount type=tmpfs,target=/cache --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker exec $(docker ps -q --filter label=com.docker.swarm.service.name=vol | head -1) /bin/busybox df /data /cache | awk 'NR>1{print $1, $NF}'", "quiet: docker service rm vol; sleep 3; docker volume rm lab-data"] },
    Scene { id: "rolling-updates/swarm", steps: &["docker service create --detach --quiet --name upd --replicas 4 --update-parallelism 2 --update-delay 1s --env VERSION=1 --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker service update --detach --quiet --env-add VERSION=2 upd", "wait: test \"$(docker service inspect upd --format '{{.UpdateStatus.State}}')\" = completed", "docker service inspect upd --format '{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}'", "docker service rollback --detach --quiet upd", "wait: test \"$(docker service inspect upd --format '{{.UpdateStatus.State}}')\" = rollback_completed", "docker service inspect upd --format '{{.UpdateStatus.State}}: {{.Spec.TaskTemplate.ContainerSpec.Env}}'", "quiet: docker service rm upd"] },
    Scene { id: "node-availability/swarm", steps: &["docker service create --detach --quiet --name drn --replicas 4 --stop-grace-period 1s --no-resolve-image flotilla/web:latest", SWARM_WAIT, "docker node update --availability drain $(docker info --format '{{.Swarm.NodeID}}') >/dev/null && echo drained", "wait: test -z \"$(docker ps -q --filter label=com.docker.swarm.service.name=drn)\"", "docker node ls --format 'table {{.Hostname}}\\t{{.Status}}\\t{{.Availability}}'", "docker service ps drn --filter desired-state=running --format 'table {{.Name}}\\t{{.CurrentState}}\\t{{.Error}}' | cut -c1-60", "docker node update --availability active $(docker info --format '{{.Swarm.NodeID}}') >/dev/null && echo active", "quiet: docker service rm drn"] },
];

const FLOTILLA_WAIT: &str =
    "wait: kubectl get ssvc --no-headers | awk '{split($3,r,\"/\"); if (r[1]!=r[2]) exit 1}'";

pub const FLOTILLA: &[Scene] = &[
    Scene { id: "nodes-and-roles/flotilla", steps: &["kubectl get swarmnodes", "kubectl get leases -n kube-system"] },
    Scene { id: "raft-quorum/flotilla", steps: &["kubectl get leases -n kube-system -o custom-columns=LEASE:.metadata.name,HOLDER:.spec.holderIdentity | sed 's/_[0-9a-f-]*$/_<uuid>/'", "kubectl get --raw /readyz?verbose | grep -i etcd"] },
    Scene { id: "services-and-tasks/flotilla", steps: &["kubectl apply -f examples/lessons/web.yaml", FLOTILLA_WAIT, "kubectl get ssvc", "kubectl get tasks -o custom-columns=NAME:.metadata.name,DESIRED:.spec.desiredState,STATE:.status.state", "quiet: kubectl delete -f examples/lessons/web.yaml --wait"] },
    Scene { id: "replicated-vs-global/flotilla", steps: &["kubectl apply -f examples/lessons/global.yaml", FLOTILLA_WAIT, "kubectl get ssvc", "quiet: kubectl delete -f examples/lessons/global.yaml --wait"] },
    Scene { id: "routing-mesh/flotilla", steps: &["kubectl apply -f examples/lessons/mesh.yaml", FLOTILLA_WAIT, "wait: curl -sf http://127.0.0.3:18080/", "curl -s http://127.0.0.2:18080/", "curl -s http://127.0.0.3:18080/", "kubectl get ssvc mesh -o jsonpath='{range .spec.endpoint.ports[*]}{.publishMode} {.publishedPort}->{.targetPort}/{.protocol}{end}{\"\\n\"}'", "quiet: kubectl delete -f examples/lessons/mesh.yaml --wait"] },
    Scene { id: "overlay-vip-dns/flotilla", steps: &["kubectl apply -f examples/lessons/overlay.yaml", FLOTILLA_WAIT, "wait: test \"$(docker exec $(docker ps -q --filter label=flotilla.dev/service=web --filter network=flotilla-default-lab-net | head -1) /bin/busybox nslookup tasks.api 2>/dev/null | grep -c '^Address: 10\\.232\\.')\" = 2", "wait: test \"$(docker exec $(docker ps -q --filter label=flotilla.dev/service=web --filter network=flotilla-default-lab-net | head -1) /bin/busybox nslookup api 2>/dev/null | awk '/^Address: /{print $2}')/24\" = \"$(kubectl get ssvc api -o jsonpath='{.status.endpoint.virtualIps[0].addr}')\"", "kubectl get swarmnetwork", "kubectl get ssvc api -o jsonpath='{range .status.endpoint.virtualIps[*]}VIP {.addr}{end}{\"\\n\"}'", "kubectl get ssvc api -o jsonpath='{range .status.taskAddresses[*]}{.network}: {.addresses}{end}{\"\\n\"}'", "docker exec $(docker ps -q --filter label=flotilla.dev/service=web --filter network=flotilla-default-lab-net | head -1) /bin/busybox nslookup api 2>/dev/null | awk '/^Address: /{print \"api resolves to\", $2}'", "docker exec $(docker ps -q --filter label=flotilla.dev/service=web --filter network=flotilla-default-lab-net | head -1) /bin/busybox nslookup tasks.api 2>/dev/null | grep -c '^Address: 10\\.232\\.' | sed 's/^/task addresses behind tasks.api: /'", "docker exec $(docker ps -q --filter label=flotilla.dev/service=web --filter network=flotilla-default-lab-net | head -1) /bin/busybox sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 2 api 80 | tail -n 1'", "quiet: kubectl delete ssvc api web --wait", "wait: kubectl delete swarmnetwork lab-net --ignore-not-found", "wait: ! docker network inspect flotilla-default-lab-net >/dev/null 2>&1"] },
    Scene { id: "secrets-and-configs/flotilla", steps: &["kubectl apply -f examples/lessons/secrets.yaml", FLOTILLA_WAIT, "kubectl get swarmsecrets,swarmconfigs", "docker exec $(docker ps -q --filter label=flotilla.dev/service=app | head -1) /bin/busybox ls -l /run/secrets/db_password /etc/app.conf | awk '{print $1, $NF}'", "quiet: kubectl delete -f examples/lessons/secrets.yaml --wait"] },
    Scene { id: "mounts/flotilla", steps: &["kubectl apply -f examples/lessons/mounts.yaml", FLOTILLA_WAIT, "docker exec $(docker ps -q --filter label=flotilla.dev/service=vol | head -1) /bin/busybox df /data /cache | awk 'NR>1{print $1, $NF}'", "quiet: kubectl delete -f examples/lessons/mounts.yaml --wait; sleep 3; docker volume rm lab-data"] },
    Scene { id: "rolling-updates/flotilla", steps: &["kubectl apply -f examples/lessons/update.yaml", FLOTILLA_WAIT, "kubectl patch ssvc upd --type merge -p '{\"spec\":{\"taskTemplate\":{\"containerSpec\":{\"env\":[\"VERSION=2\"]}}}}'", "wait: test \"$(kubectl get ssvc upd -o jsonpath='{.status.updateStatus.state}')\" = completed", "kubectl get ssvc upd -o jsonpath='{.status.updateStatus.state}: {.status.updateStatus.message}{\"\\n\"}'", "kubectl annotate ssvc/upd flotilla.dev/rollback=true", "wait: test \"$(kubectl get ssvc upd -o jsonpath='{.status.updateStatus.state}')\" = rollback_completed", "kubectl get ssvc upd -o jsonpath='{.status.updateStatus.state}: {.spec.taskTemplate.containerSpec.env}{\"\\n\"}'", "quiet: kubectl delete -f examples/lessons/update.yaml --wait"] },
    Scene { id: "node-availability/flotilla", steps: &["kubectl apply -f examples/lessons/drain.yaml", FLOTILLA_WAIT, "kubectl patch swarmnode lab-1 --type merge -p '{\"spec\":{\"availability\":\"drain\"}}'", "wait: test -z \"$(docker ps -q --filter label=flotilla.dev/service=drn --filter label=flotilla.dev/node=lab-1)\"", FLOTILLA_WAIT, "kubectl get swarmnodes", "kubectl get tasks -l flotilla.dev/service=drn --field-selector spec.desiredState=Running -o custom-columns=NODE:.spec.nodeName,STATE:.status.state | sort", "kubectl patch swarmnode lab-1 --type merge -p '{\"spec\":{\"availability\":\"active\"}}'", "quiet: kubectl delete -f examples/lessons/drain.yaml --wait"] },
];

#[derive(Debug, Clone, clap::Args)]
pub struct CaptureOptions {
    /// The lesson pages.
    #[arg(long, default_value = "docs/lessons")]
    pub docs: PathBuf,
    /// Compare the shape of a fresh capture with the pages instead of writing them.
    #[arg(long)]
    pub check: bool,
}

/// A directory with `kubectl` in it (a link to the installed one), for the steps' PATH.
fn kubectl_dir() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let bin = super::leader::kubectl().ok_or_else(|| anyhow::anyhow!("no kubectl installed"))?;
    let bin = if bin.is_absolute() {
        bin
    } else {
        which("kubectl")?
    };
    std::os::unix::fs::symlink(bin, dir.path().join("kubectl"))?;
    Ok(dir)
}

fn which(name: &str) -> anyhow::Result<PathBuf> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Runs the steps in `root` with `env`; the shown commands and their output.
async fn run_scene(scene: &Scene, root: &Path, env: &[(String, String)]) -> anyhow::Result<String> {
    let mut text = String::new();
    for step in scene.steps {
        let (shown, cmd, retry) = match (step.strip_prefix("wait: "), step.strip_prefix("quiet: "))
        {
            (Some(c), _) => (false, c, true),
            (_, Some(c)) => (false, c, false),
            _ => (true, *step, false),
        };
        let start = tokio::time::Instant::now();
        let out = loop {
            let out = Command::new("bash")
                .arg("-c")
                .arg(cmd)
                .current_dir(root)
                .envs(env.iter().cloned())
                .output()?;
            if !retry || out.status.success() {
                break out;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(90),
                "{}: `{cmd}` did not succeed within 90s; what the system shows:\n{}",
                scene.id,
                diagnosis(root, env)
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        if shown {
            text.push_str(&format!("$ {cmd}\n"));
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            text.push_str(&String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(text)
}

/// What a timed-out wait leaves to read: each system's services and their tasks' states.
fn diagnosis(root: &Path, env: &[(String, String)]) -> String {
    let script = "docker service ps --no-trunc $(docker service ls -q) 2>&1 | tail -20; \
                  kubectl get ssvc,tasks -A 2>&1 | tail -20";
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(root)
        .envs(env.iter().cloned())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

async fn run_all(
    scenes: &[Scene],
    root: &Path,
    env: &[(String, String)],
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for scene in scenes {
        println!("  capturing {}", scene.id);
        out.push((scene.id.to_string(), run_scene(scene, root, env).await?));
    }
    Ok(())
}

pub async fn capture(opts: &CaptureOptions) -> anyhow::Result<()> {
    let docs = std::path::absolute(&opts.docs)?;
    let root = docs
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("--docs must be <repo>/docs/lessons"))?
        .to_path_buf();
    let mut captured = Vec::new();
    let swarm = Swarm::init()?;
    let result = run_all(SWARM, &root, &[], &mut captured).await;
    swarm.leave()?;
    result?;
    let kdir = kubectl_dir()?;
    let f = Flotilla::start(2, None).await?;
    let path = format!(
        "{}:{}",
        kdir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut f = f;
    let kubeconfig = f.cluster()?.kubeconfig().display().to_string();
    let env = vec![
        ("PATH".to_string(), path),
        ("KUBECONFIG".to_string(), kubeconfig),
    ];
    let result = run_all(FLOTILLA, &root, &env, &mut captured).await;
    f.shutdown().await;
    result?;
    apply(&docs, &captured, opts.check)
}

/// Writes (or, with `check`, compares) every captured block into the page named by its id.
fn apply(docs: &Path, captured: &[(String, String)], check: bool) -> anyhow::Result<()> {
    let mut drift = Vec::new();
    for (id, text) in captured {
        let page_name = id.split('/').next().unwrap_or(id);
        let path = docs.join(format!("{page_name}.md"));
        let page = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        anyhow::ensure!(
            ids(&page).contains(id),
            "{} has no block `<!-- capture {id} -->`",
            path.display()
        );
        if check {
            let old = extract(&page, id).unwrap_or_default();
            if shape(&old) != shape(text) {
                drift.push(format!(
                    "{id}:\n  page:  {:?}\n  fresh: {:?}",
                    shape(&old),
                    shape(text)
                ));
            }
        } else if let Some(new) = fill(&page, id, text) {
            std::fs::write(&path, new)?;
        }
    }
    anyhow::ensure!(
        drift.is_empty(),
        "captured output drifted from the pages:\n{}",
        drift.join("\n")
    );
    println!(
        "{} blocks {}",
        captured.len(),
        if check {
            "match the pages' shape"
        } else {
            "written"
        }
    );
    Ok(())
}
