//! The node image `flotilla/node:<tag>`, kind's design: a container that is a whole node, with
//! its own containerd (CRI), runc and its shim, the CNI plugins, the pause and example images, and
//! `flotilla-node-agent`; task containers run inside it. `FROM scratch` with exactly these files
//! and the libraries `ldd` lists, plus busybox for the entry script.
//!
//! containerd keeps everything under [`NODE_DIR`], which must be a volume or tmpfs (the
//! overlayfs snapshotter cannot stack on the container's own overlay). The CNI network is a
//! plain bridge without NAT or port mappings (no iptables in the image), on the node's own pod
//! subnet (`FLOTILLA_POD_CIDR`); the entry script routes the other nodes' pod subnets to their
//! node addresses (`FLOTILLA_POD_ROUTES`), so pods of different nodes reach each other by
//! address, as kindnet arranges in kind. The container needs exactly the rights listed in
//! `docs/deploy.md`, not `--privileged`.

use std::path::{Path, PathBuf};

use crate::containerd::{config_toml, ContainerdSpec};
use crate::images::shared_libraries;
use crate::up::image::export_cri_images;

/// containerd's root, state and socket inside the node (a volume).
pub const NODE_DIR: &str = "/var/lib/flotilla-node";
/// A node's pod subnet when `FLOTILLA_POD_CIDR` does not give one.
pub const NODE_SUBNET: &str = "10.244.0.0/24";
/// The binaries a node runs besides the agent (Debian's containerd, runc and CNI plugins:
/// `host-local` for the node's own pod network, `static` for the SwarmNetworks' allocated
/// addresses).
pub const NODE_BINARIES: [&str; 9] = [
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/sbin/runc",
    "/usr/bin/ctr",
    "/usr/lib/cni/bridge",
    "/usr/lib/cni/host-local",
    "/usr/lib/cni/static",
    "/usr/lib/cni/loopback",
    "/bin/busybox",
];

/// The layout of the node's containerd.
pub fn node_containerd() -> ContainerdSpec {
    ContainerdSpec {
        dir: PathBuf::from(NODE_DIR),
        bridge: "cni0".into(),
        subnet: NODE_SUBNET.into(),
    }
}

/// A bridge with host-local addresses and loopback; no NAT, no port mappings. Pods route
/// everything through the bridge: their node forwards to the other nodes' pods, and answers
/// a connection from another node's address.
pub fn node_conflist(spec: &ContainerdSpec) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": spec.bridge,
                "isGateway": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": spec.subnet }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": spec.dir.join("ipam").display().to_string(),
                },
            },
            { "type": "loopback" },
        ],
    })
    .to_string()
}

/// The entry script: lift Docker's masks over `/proc`, write the CNI config for the node's pod
/// subnet and route the other nodes' subnets, start containerd, import the images, then run the
/// command (by default the node agent on the node's containerd; its flags come from the
/// container's arguments).
///
/// Environment: `FLOTILLA_POD_CIDR` (this node's pod subnet, [`NODE_SUBNET`] when unset) and
/// `FLOTILLA_POD_ROUTES` (`<subnet>=<node address>` separated by spaces; the entry for this
/// node's own subnet is skipped, so every node can be given the same list).
///
/// The masks: Docker hides parts of `/proc` behind mounts (`/proc/keys`, `/proc/sys` read-only,
/// …), and the kernel then refuses a fresh `/proc` for a pod ("too revealing"). `docker run
/// --security-opt systempaths=unconfined` drops them, but compose cannot say it; a node holds
/// `CAP_SYS_ADMIN` anyway, so it unmounts them itself.
pub fn entrypoint(spec: &ContainerdSpec) -> String {
    let d = spec.dir.display();
    let default_subnet = &spec.subnet;
    format!(
        r#"#!/bin/busybox sh
set -e
bb=/bin/busybox
for m in $($bb grep ' /proc/' /proc/self/mountinfo | $bb cut -d' ' -f5 | $bb sort -r); do
  $bb umount "$m"
done
subnet=${{FLOTILLA_POD_CIDR:-{default_subnet}}}
$bb mkdir -p {d}/cni /tmp
$bb sed "s|{default_subnet}|$subnet|" /etc/flotilla/10-node.conflist > {d}/cni/10-node.conflist
for route in $FLOTILLA_POD_ROUTES; do
  [ "${{route%%=*}}" = "$subnet" ] || $bb ip route replace "${{route%%=*}}" via "${{route#*=}}"
done
/usr/bin/containerd --config /etc/flotilla/containerd.toml > {d}/containerd.log 2>&1 &
until /usr/bin/ctr --address {d}/containerd.sock version > /dev/null 2>&1; do $bb sleep 0.1; done
for image in /var/lib/flotilla/images/*.tar; do
  /usr/bin/ctr --address {d}/containerd.sock -n k8s.io images import "$image" > /dev/null
done
exec "$@"
"#
    )
}

fn copy(from: &Path, rootfs: &Path, to: &Path) -> anyhow::Result<()> {
    let dest = rootfs.join(to.strip_prefix("/")?);
    std::fs::create_dir_all(dest.parent().expect("an absolute path has a parent"))?;
    std::fs::copy(from, &dest).map_err(|e| anyhow::anyhow!("copying {}: {e}", from.display()))?;
    Ok(())
}

/// Writes the node image's build context (`rootfs/`, `Dockerfile`) into `dir`.
pub fn write_node_context(agent: &Path, dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        agent.is_file(),
        "{} is missing (build the workspace binaries first: cargo build --workspace --bins)",
        agent.display()
    );
    let rootfs = dir.join("rootfs");
    let agent_in_image = Path::new(crate::images::BIN_PATH).join("flotilla-node-agent");
    copy(agent, &rootfs, &agent_in_image)?;
    let mut libs = shared_libraries(agent)?;
    for bin in NODE_BINARIES {
        anyhow::ensure!(
            Path::new(bin).is_file(),
            "{bin} is missing (scripts/prereqs.sh installs containerd, runc, containernetworking-plugins, busybox-static)"
        );
        copy(Path::new(bin), &rootfs, Path::new(bin))?;
        libs.extend(shared_libraries(Path::new(bin))?);
    }
    libs.sort();
    libs.dedup();
    for lib in libs {
        copy(&lib, &rootfs, &lib)?;
    }
    let spec = node_containerd();
    let etc = rootfs.join("etc/flotilla");
    std::fs::create_dir_all(&etc)?;
    std::fs::write(etc.join("containerd.toml"), config_toml(&spec))?;
    std::fs::write(etc.join("10-node.conflist"), node_conflist(&spec))?;
    std::fs::write(etc.join("entrypoint.sh"), entrypoint(&spec))?;
    export_cri_images(&rootfs.join("var/lib/flotilla/images"))?;
    for empty in ["tmp", "run", NODE_DIR.trim_start_matches('/')] {
        std::fs::create_dir_all(rootfs.join(empty))?;
    }
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin\n\
         ENTRYPOINT [\"/bin/busybox\", \"sh\", \"/etc/flotilla/entrypoint.sh\"]\n\
         CMD [\"{}\", \"--runtime=cri\", \"--cri-endpoint=unix://{}/containerd.sock\"]\n",
        agent_in_image.display(),
        NODE_DIR
    );
    std::fs::write(dir.join("Dockerfile"), dockerfile)?;
    Ok(())
}

/// Builds `flotilla/node:<tag>` with the Docker CLI; returns its reference.
pub fn build_node_image(bin_dir: &Path, tag: &str) -> anyhow::Result<String> {
    let work = tempfile::Builder::new().prefix("flotilla-node").tempdir()?;
    write_node_context(&bin_dir.join("flotilla-node-agent"), work.path())?;
    let reference = format!("flotilla/node:{tag}");
    let out = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &reference])
        .arg(work.path())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker build of {reference} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(reference)
}
