#!/usr/bin/env bash
# detcd vs etcd 3.4.23, side by side, with etcd's own benchmark tool (the tool behind etcd's
# published figures; ../shared/tools/etcd-benchmark builds it from etcd v3.4.23's source).
#
#   scripts/bench-vs-etcd.sh [ROUNDS]        (default 3)
#
# For quick comparisons while working (not for the table in docs/BENCH.md):
#   BENCH_CASES=put-seq,put-64   only these cases
#   BENCH_SERVERS=detcd          only this server (the ratio column then reads 0)
#
# Each round starts a fresh 3-member cluster of each server in turn (Debian's etcd-server 3.4.23,
# then detcd; same ports, flags and data-dir disk: scripts/local-cluster.sh), records which member
# leads, and runs the six cases of issue 17 against all three endpoints. The table gives, per case,
# the median over the rounds of requests/s, average and p99 latency, and the ratio detcd/etcd.
# Raw outputs stay in $BENCH_OUT (default target/bench-vs-etcd/<time>/).
#
# Needs: the Rust toolchain; apt (installs etcd-server/etcd-client and Debian's Go for the tool).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
here=$(pwd)
out=${BENCH_OUT:-target/bench-vs-etcd/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

tool_src=${BENCH_TOOL_SRC:-$(cd .. && pwd)/shared/tools/etcd-benchmark}
tool=target/etcd-benchmark/benchmark
if [[ ! -x $tool ]]; then
  [[ -x $tool_src/build.sh ]] || { echo "bench-vs-etcd: no benchmark tool source at $tool_src (set BENCH_TOOL_SRC)" >&2; exit 1; }
  "$tool_src/build.sh" target/etcd-benchmark >/dev/null
fi
scripts/install-test-deps.sh >/dev/null
cargo build --release --bin detcd
detcd_bin=$here/target/release/detcd
etcd_bin=/usr/bin/etcd
etcdctl=$(command -v etcdctl)

ep=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
cases=(
  "put-seq|--conns=1 --clients=1 put --key-size=8 --sequential-keys --val-size=256 --total=5000"
  "put-64|--conns=16 --clients=64 put --key-size=8 --sequential-keys --val-size=256 --total=20000"
  "put-1000|--conns=100 --clients=1000 put --key-size=8 --sequential-keys --val-size=256 --total=50000"
  "range-l|--conns=16 --clients=64 range KEY --consistency=l --total=50000"
  "range-s|--conns=16 --clients=64 range KEY --consistency=s --total=50000"
  "txn-put|--conns=16 --clients=64 txn-put --key-size=8 --val-size=256 --total=20000"
)

if [[ -n ${BENCH_CASES:-} ]]; then
  keep=()
  for c in "${cases[@]}"; do [[ ",$BENCH_CASES," == *",${c%%|*},"* ]] && keep+=("$c"); done
  cases=("${keep[@]}")
fi
servers=${BENCH_SERVERS:-etcd,detcd}

# The leader's endpoint in an `etcdctl endpoint status -w table` file.
leader_of() { awk -F'|' '$6 ~ /true/ {gsub(/ /, "", $2); print $2}' "$1"; }

wait_ports_free() {
  for _ in $(seq 100); do
    if ! ss -Htln | awk '{print $4}' | grep -Eq ':(2379|22379|32379|2380|22380|32380)$'; then return 0; fi
    sleep 0.1
  done
  echo "bench-vs-etcd: ports stay taken" >&2
  exit 1
}

# run_server NAME BIN ROUND: a fresh cluster, the leader, then every case.
run_server() {
  local name=$1 bin=$2 round=$3
  local dir=$out/$name-r$round
  wait_ports_free
  scripts/local-cluster.sh "$bin" "$dir/data" >"$dir.cluster.log" 2>&1 &
  local cluster=$!
  for _ in $(seq 100); do
    ETCDCTL_API=3 "$etcdctl" --endpoints=$ep endpoint health >/dev/null 2>&1 && break
    sleep 0.2
  done
  ETCDCTL_API=3 "$etcdctl" --endpoints=$ep put KEY "$(head -c 256 /dev/zero | tr '\0' v)" >/dev/null
  ETCDCTL_API=3 "$etcdctl" --endpoints=$ep endpoint status -w table >"$dir.status" 2>&1
  local leader
  leader=$(leader_of "$dir.status")
  for c in "${cases[@]}"; do
    local id=${c%%|*} args=${c#*|}
    # shellcheck disable=SC2086
    "$tool" --endpoints=$ep $args >"$dir.$id.txt" 2>&1 || echo "bench-vs-etcd: $name $id failed (see $dir.$id.txt)" >&2
    echo "$name round $round $id leader=$leader $(awk '/Requests\/sec/ {print $2 " req/s"}' "$dir.$id.txt")"
  done
  kill -TERM "$cluster" 2>/dev/null || true
  wait "$cluster" 2>/dev/null || true
}

for r in $(seq "$rounds"); do
  if [[ ,$servers, == *,etcd,* ]]; then run_server etcd "$etcd_bin" "$r"; fi
  if [[ ,$servers, == *,detcd,* ]]; then run_server detcd "$detcd_bin" "$r"; fi
done

# One figure of one run: requests/s, average and p99 in ms.
figure() {
  awk '/Requests\/sec:/ {r=$2} /Average:/ {a=$2*1000} /99% in/ && !/99.9%/ {p=$3*1000} END {printf "%.0f %.2f %.2f\n", r, a, p}' "$1"
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

echo
echo "| case | etcd req/s | detcd req/s | ratio | etcd avg / p99 ms | detcd avg / p99 ms | leaders (etcd; detcd) |"
echo "|---|---:|---:|---:|---:|---:|---|"
for c in "${cases[@]}"; do
  id=${c%%|*}
  declare -A m=()
  for s in etcd detcd; do
    if [[ ,$servers, != *,$s,* ]]; then m[$s.r]=0; m[$s.a]=-; m[$s.p]=-; m[$s.l]=-; continue; fi
    rows=$(for r in $(seq "$rounds"); do figure "$out/$s-r$r.$id.txt"; done)
    m[$s.r]=$(echo "$rows" | awk '{print $1}' | median)
    m[$s.a]=$(echo "$rows" | awk '{print $2}' | median)
    m[$s.p]=$(echo "$rows" | awk '{print $3}' | median)
    m[$s.l]=$(for r in $(seq "$rounds"); do leader_of "$out/$s-r$r.status"; done | sed 's/^127.0.0.1://' | paste -sd, -)
  done
  ratio=$(awk -v d="${m[detcd.r]}" -v e="${m[etcd.r]}" 'BEGIN {printf "%.2f", (e > 0 ? d / e : 0)}')
  echo "| $id | ${m[etcd.r]} | ${m[detcd.r]} | **$ratio** | ${m[etcd.a]} / ${m[etcd.p]} | ${m[detcd.a]} / ${m[detcd.p]} | ${m[etcd.l]}; ${m[detcd.l]} |"
  unset m
done
echo
echo "raw outputs: $out (median of $rounds rounds; machine: $(nproc) cores, $(uname -r))"
