#!/usr/bin/env bash
# Runs every test: unit tests, the api-server against a real etcd, kubectl against the api-server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/prereqs.sh
cargo nextest run --workspace --no-fail-fast "$@"
