#!/usr/bin/env bash
# Compares the node agent's runtimes on this machine (docs/benchmark.md, "Node runtimes"):
#   scripts/bench-runtimes.sh [docker|cri …]     (default: docker cri; needs root for cri)
# For each runtime: `flotilla up --runtime R` (3 agents, examples/web.yaml), the time from the
# apply to 3/3, then a scale to 30 (10 tasks per agent) and the time to 30/30; the agents' CPU
# (user + system, /proc/<pid>/stat) over a WINDOW-second steady window and their RSS, with 3 and
# with 30 tasks running. Env: BIN (binaries dir, default target/debug), WINDOW (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug}
WINDOW=${WINDOW:-60}
TICK=$(getconf CLK_TCK)
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(docker cri)

now() { date +%s.%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Waits until `kubectl get ssvc web` shows N/N running; prints the seconds since $2.
wait_replicas() {
  local want=$1 since=$2 deadline=$((SECONDS + 300))
  while [ $SECONDS -lt $deadline ]; do
    got=$(kubectl get ssvc web -o jsonpath='{.status.runningReplicas}' 2>/dev/null || true)
    if [ "${got:-0}" = "$want" ]; then
      echo "$(now) - $since" | bc
      return 0
    fi
    sleep 0.2
  done
  echo "timed out waiting for $want replicas" >&2
  return 1
}

# Prints, per agent, CPU ms per second over the window and RSS in MiB; then the sums.
measure() {
  local label=$1; shift
  local before=() total_cpu=0 total_rss=0
  for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
  sleep "$WINDOW"
  local i=0
  for p in "$@"; do
    local used=$(( $(cpu_ticks "$p") - before[i] ))
    local ms_per_s rss
    ms_per_s=$(echo "scale=2; $used * 1000 / $TICK / $WINDOW" | bc)
    rss=$(echo "scale=1; $(rss_kib "$p") / 1024" | bc)
    total_cpu=$(echo "$total_cpu + $ms_per_s" | bc)
    total_rss=$(echo "$total_rss + $rss" | bc)
    i=$((i + 1))
  done
  echo "  $label: agents' CPU $total_cpu ms/s in total, RSS $total_rss MiB in total (3 agents)"
}

for rt in "${runtimes[@]}"; do
  data=$(mktemp -d /tmp/flotilla-bench-XXXX)
  log=$data/up.log
  echo "runtime $rt (data $data)"
  "$BIN/flotilla" up --runtime "$rt" --data-dir "$data" --port 16443 --timeout 300s \
    > >(while IFS= read -r l; do printf '%s %s\n' "$(now)" "$l"; done > "$log") 2>&1 &
  up=$!
  until grep -q "applied SwarmService/web" "$log" 2>/dev/null; do sleep 0.2; done
  applied=$(grep "applied SwarmService/web" "$log" | cut -d' ' -f1)
  export KUBECONFIG=$data/kubeconfig
  t3=$(wait_replicas 3 "$applied")
  echo "  apply → 3/3: ${t3}s"
  mapfile -t agents < <(grep -E "started node-[0-9]+ " "$log" | sed -E 's/.*pid ([0-9]+).*/\1/')
  sleep 10
  measure "3 tasks" "${agents[@]}"
  scaled=$(now)
  kubectl scale ssvc/web --replicas=30 > /dev/null
  t30=$(wait_replicas 30 "$scaled")
  echo "  scale 3 → 30/30: ${t30}s"
  sleep 10
  measure "30 tasks" "${agents[@]}"
  kill -TERM "$up"
  wait "$up" || true
  rm -rf "$data"
done
