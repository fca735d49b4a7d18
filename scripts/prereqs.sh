#!/usr/bin/env bash
# Installs what building and testing Flotilla needs on a Debian machine: protoc (etcd-client's
# gRPC code), etcd (integration tests and `flotilla up`), busybox-static (the example image),
# a C compiler and make (jemalloc, the binaries' allocator, is built from C), docker-compose
# (the container topology's e2e test, tests/tests/e2e_compose.rs), containerd, runc and the CNI
# plugins (the CRI runtime's tests start a private containerd: tests/src/containerd.rs).
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
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
