#!/usr/bin/env bash
# Regenerates tests/golden/etcd-3.4.23/: starts a fresh 3-member Debian etcd 3.4.23 cluster on
# 127.0.0.1 (machine-1..3, client ports 2379/22379/32379, peer ports 2380/22380/32380,
# token token-01), runs every command of tests/golden/commands.txt with
#   ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 ...
# and records stdout, stderr and the exit code of each in NN-NAME.txt; then stops etcd.
# The file format must stay in step with record() in tests/lib.rs (the Rust e2e test builds the
# same text from detcd's answers and compares both after masking).
#
# Usage: scripts/etcd-reference.sh [OUT_DIR]   (needs scripts/install-test-deps.sh first)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMANDS="$ROOT/tests/golden/commands.txt"
OUT=${1:-$ROOT/tests/golden/etcd-3.4.23}
ETCD=${ETCD_BIN:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL_BIN:-etcdctl}
ENDPOINTS=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
NAMES=(machine-1 machine-2 machine-3)
CPORTS=(2379 22379 32379)
PPORTS=(2380 22380 32380)
INITIAL=machine-1=http://127.0.0.1:2380,machine-2=http://127.0.0.1:22380,machine-3=http://127.0.0.1:32380
export ETCDCTL_API=3

[[ -x $ETCD ]] || { echo "no etcd at $ETCD: run scripts/install-test-deps.sh" >&2; exit 1; }
command -v "$ETCDCTL" >/dev/null || { echo "no etcdctl: run scripts/install-test-deps.sh" >&2; exit 1; }

port_pids() { # pids listening on TCP port $1 on any address
  ss -Htlnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# The etcd-server package may have started its own daemon on 2379/2380: stop it (and only it).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi
for p in "${CPORTS[@]}" "${PPORTS[@]}"; do
  for pid in $(port_pids "$p"); do
    if [[ $(ps -o comm= -p "$pid") == etcd && $(ps -o user= -p "$pid" | tr -d ' ') == etcd ]]; then
      echo "stopping the packaged etcd service (pid $pid) on port $p"
      kill "$pid"; sleep 1
    fi
  done
  if [[ -n $(port_pids "$p") ]] || ss -Htln "sport = :$p" | grep -q .; then
    echo "port $p is in use; stop whatever listens there first" >&2; exit 1
  fi
done

TMP=$(mktemp -d /tmp/etcd-reference.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

for i in 0 1 2; do
  n=${NAMES[$i]} c=${CPORTS[$i]} p=${PPORTS[$i]}
  "$ETCD" --name "$n" --data-dir "$TMP/$n.etcd" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$INITIAL" --initial-cluster-token token-01 --initial-cluster-state new \
    >"$TMP/$n.log" 2>&1 &
  PIDS+=($!)
done

# Wait until every member answers endpoint status and one of them says it is the leader.
ready=0
for _ in $(seq 1 200); do
  answered=0 leader=0
  for c in "${CPORTS[@]}"; do
    if js=$("$ETCDCTL" --endpoints=127.0.0.1:$c --dial-timeout=1s --command-timeout=2s endpoint status -w json 2>/dev/null); then
      answered=$((answered + 1))
      me=$(sed -n 's/.*"member_id":\([0-9]*\).*/\1/p' <<<"$js")
      ld=$(sed -n 's/.*"leader":\([0-9]*\).*/\1/p' <<<"$js")
      [[ -n $me && $me == "$ld" ]] && leader=1
    fi
  done
  if [[ $answered == 3 && $leader == 1 ]]; then ready=1; break; fi
  sleep 0.1
done
if [[ $ready != 1 ]]; then
  echo "cluster did not become ready; logs:" >&2; tail -n 20 "$TMP"/*.log >&2; exit 1
fi

mkdir -p "$OUT"
rm -f "$OUT"/[0-9][0-9]-*.txt

n=0
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z $line || $line == \#* ]] && continue
  n=$((n + 1))
  IFS=$'\t' read -r name args stdin_spec <<<"$line" || true
  eval "argv=($args)"   # commands.txt allows plain quoting only
  if [[ " $args" != *" --endpoints"* ]]; then argv=(--endpoints="$ENDPOINTS" "${argv[@]}"); fi
  if [[ -z ${stdin_spec:-} ]]; then
    cp /dev/null "$TMP/stdin"
  elif [[ $stdin_spec == @bytes:* ]]; then
    head -c "${stdin_spec#@bytes:}" /dev/zero | tr '\0' x >"$TMP/stdin"
  else
    printf '%b' "$stdin_spec" >"$TMP/stdin"
  fi
  set +e
  "$ETCDCTL" "${argv[@]}" <"$TMP/stdin" >"$TMP/out" 2>"$TMP/err"
  code=$?
  set -e
  file=$(printf '%s/%02d-%s.txt' "$OUT" "$n" "$name")
  {
    printf '$ etcdctl %s\n' "$args"
    [[ -n ${stdin_spec:-} ]] && printf '< %s\n' "$stdin_spec"
    printf -- '--- stdout\n'
    out=$(cat "$TMP/out"); [[ -n $out ]] && printf '%s\n' "$out"
    printf -- '--- stderr\n'
    err=$(cat "$TMP/err"); [[ -n $err ]] && printf '%s\n' "$err"
    printf -- '--- exit %d\n' "$code"
  } >"$file"
  printf '%-45s exit %d\n' "$(basename "$file")" "$code"
done <"$COMMANDS"

echo "wrote $n files to $OUT"
