#!/usr/bin/env bash
# End to end on a kind cluster: build Flotilla's images, load them into kind's nodes, install the
# Helm chart, wait for the aggregated API, then run examples/web.yaml through the kind cluster's
# own API endpoint and curl its published port on every node. Needs kind, docker, helm, kubectl.
#
#   scripts/kind-e2e.sh            # creates the cluster flotilla-e2e and deletes it at the end
#   KEEP=1 scripts/kind-e2e.sh     # leaves the cluster running for a look around
#
# docs/kind.md says what this script needs and what was and was not run where Flotilla is built.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${CLUSTER:-flotilla-e2e}"
NAMESPACE="${NAMESPACE:-flotilla-system}"
TAG="${TAG:-kind}"
PORT=8080 # examples/web.yaml's publishedPort
export PATH="$PWD/.tools/bin:$PATH"

for tool in kind docker helm kubectl cargo; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is not installed" >&2; exit 1; }
done

step() { printf '\n== %s\n' "$*"; }
fail() {
  echo "kind-e2e: FAILED: $*" >&2
  kubectl get apiservice v1alpha1.flotilla.dev -o wide || true
  kubectl -n "$NAMESPACE" get pods -o wide || true
  kubectl -n "$NAMESPACE" logs deploy/flotilla-api-server --tail=50 || true
  kubectl -n "$NAMESPACE" logs ds/flotilla-node-agent --tail=50 || true
  exit 1
}
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept cluster $CLUSTER (kind delete cluster --name $CLUSTER)"
  else
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
}

step "build binaries and images (tag $TAG)"
cargo build --release --bins
target/release/flotilla images --bin-dir target/release --tag "$TAG"
target/release/flotilla images --web-only

step "create kind cluster $CLUSTER (1 control plane, 2 workers)"
trap cleanup EXIT
kind create cluster --name "$CLUSTER" --wait 120s --config - <<'KIND'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
KIND
kubectl config use-context "kind-$CLUSTER"

step "load images into the nodes' containerd"
for image in api-server scheduler controller-manager node-agent etcd; do
  kind load docker-image --name "$CLUSTER" "flotilla/$image:$TAG"
done
kind load docker-image --name "$CLUSTER" flotilla/web:latest

step "helm install"
helm install flotilla charts/flotilla --namespace "$NAMESPACE" --create-namespace \
  --set image.tag="$TAG" --set image.pullPolicy=Never --wait --timeout 5m \
  || fail "helm install"
kubectl wait --for=condition=Available apiservice/v1alpha1.flotilla.dev --timeout=180s \
  || fail "the aggregated API never became Available"
kubectl api-resources --api-group=flotilla.dev

step "nodes join"
nodes=$(kubectl get nodes -o name | wc -l)
for _ in $(seq 1 60); do
  ready=$(kubectl get swarmnodes -o jsonpath='{range .items[*]}{.status.state}{"\n"}{end}' 2>/dev/null \
    | grep -ci '^ready$' || true)
  [ "$ready" -ge "$nodes" ] && break
  sleep 2
done
kubectl get swarmnodes
[ "$ready" -ge "$nodes" ] || fail "$ready of $nodes SwarmNodes ready"

step "examples/web.yaml through kind's API endpoint"
kubectl apply -f examples/web.yaml
for _ in $(seq 1 90); do
  running=$(kubectl get ssvc web -o jsonpath='{.status.runningReplicas}' 2>/dev/null || true)
  [ "${running:-0}" -ge 3 ] && break
  sleep 2
done
kubectl get ssvc web
kubectl get tasks -o wide
[ "${running:-0}" -ge 3 ] || fail "web has ${running:-0}/3 running"

step "the routing mesh answers on every node's port $PORT"
for node in $(kind get nodes --name "$CLUSTER"); do
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$node")
  body=$(docker exec "$node" curl -fsS --max-time 5 "http://$ip:$PORT/") \
    || fail "no answer from $node ($ip:$PORT)"
  echo "$node: $body"
done

step "RBAC of the host cluster governs SwarmServices"
kubectl create serviceaccount viewer -n default
kubectl create rolebinding viewer --clusterrole=view --serviceaccount=default:viewer -n default
kubectl auth can-i list swarmservices.flotilla.dev --as=system:serviceaccount:default:viewer -n default
if kubectl --as=system:serviceaccount:default:viewer delete ssvc web -n default 2>/dev/null; then
  fail "a viewer deleted a SwarmService"
fi

step "helm uninstall"
kubectl delete -f examples/web.yaml --wait=true
helm uninstall flotilla --namespace "$NAMESPACE" --wait
echo "kind-e2e: PASSED"
