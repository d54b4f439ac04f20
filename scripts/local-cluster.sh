#!/usr/bin/env bash
# Starts a local 3-member cluster on 127.0.0.1 like etcd's demo: client ports 2379/22379/32379, peer
# ports 2380/22380/32380, token token-01, names machine-1..3. Runs in the foreground; Ctrl-C stops
# all three members (SIGTERM each, clean shutdown).
#
#   scripts/local-cluster.sh [SERVER_BIN] [DATA_ROOT]
#
# SERVER_BIN defaults to target/release/detcd (built if missing). Passing /usr/bin/etcd starts a
# Debian etcd cluster with the same flags, for side-by-side comparison. Extra flags for every
# member: LOCAL_CLUSTER_ARGS="--snapshot-count=1000000".
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/detcd}
root=${2:-$(mktemp -d /tmp/detcd-cluster.XXXXXX)}
mkdir -p "$root"
if [[ "$bin" == target/release/detcd && ! -x "$bin" ]]; then
  cargo build --release --bin detcd
fi
token=token-01
cluster="machine-1=http://127.0.0.1:2380,machine-2=http://127.0.0.1:22380,machine-3=http://127.0.0.1:32380"
pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
}
trap stop EXIT INT TERM
i=0
for port in 2379 22379 32379; do
  i=$((i + 1))
  peer=$((port + 1))
  "$bin" --name "machine-$i" --data-dir "$root/machine-$i" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "$token" \
    ${LOCAL_CLUSTER_ARGS:-} >"$root/machine-$i.log" 2>&1 &
  pids+=($!)
done
echo "cluster up: endpoints 127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 (logs in $root)"
wait
