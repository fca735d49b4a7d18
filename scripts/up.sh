#!/usr/bin/env bash
# Brings Flotilla up on this machine: etcd, the api-server, scheduler and controller-manager as
# separate processes, three node agents, and examples/web.yaml. Ctrl-C stops everything.
# Extra arguments go to `flotilla up` (see `flotilla up --help`, e.g. --exit, --runtime simulated).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
cargo build --workspace --bins
exec "${CARGO_TARGET_DIR:-target}/debug/flotilla" up "$@"
