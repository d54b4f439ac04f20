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
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
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
rm -f "$OUT"/[0-9][0-9]-*.txt "$OUT"/[0-9][0-9][0-9]-*.txt

# Background jobs (&JOB lines), captured lease IDs (NAME>VAR lines): see tests/lib.rs `Kind`.
SETTLE=1.5
declare -A JOB_PID JOB_ARGS VARS

# write_record FILE ARGS STDIN_SPEC OUT ERR TRAILER...: one golden file, as record() in tests/lib.rs.
write_record() {
  local file=$1 args=$2 spec=$3 outf=$4 errf=$5; shift 5
  {
    printf '$ etcdctl %s\n' "$args"
    [[ -n $spec ]] && printf '< %s\n' "$spec"
    printf -- '--- stdout\n'
    out=$(cat "$outf"); [[ -n $out ]] && printf '%s\n' "$out"
    printf -- '--- stderr\n'
    err=$(cat "$errf"); [[ -n $err ]] && printf '%s\n' "$err"
    for t in "$@"; do printf -- '--- %s\n' "$t"; done
  } >"$file"
}

# expand ARGS: replaces {VAR} by captured values, then splits with plain quoting.
expand() {
  local a=$1 v
  for v in "${!VARS[@]}"; do a=${a//\{$v\}/${VARS[$v]}}; done
  eval "argv=($a)"   # commands.txt allows plain quoting only
  if [[ " $a" != *" --endpoints"* ]]; then argv=(--endpoints="$ENDPOINTS" "${argv[@]}"); fi
}

n=0
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z $line || $line == \#* ]] && continue
  IFS=$'\t' read -r head args stdin_spec <<<"$line" || true
  stdin_spec=${stdin_spec:-}
  name=${head%%>*}; capture=""
  [[ $head == *">"* ]] && capture=${head#*>}
  if [[ $name == @sleep ]]; then
    sleep "$args"; continue
  fi
  if [[ $name == \&* ]]; then
    job=${name#&}
    expand "$args"
    # Job control on: without it bash starts background commands with SIGINT ignored, and Ctrl-C
    # (the ^JOB line) would not reach etcdctl.
    set -m
    "$ETCDCTL" "${argv[@]}" </dev/null >"$TMP/job-$job.out" 2>"$TMP/job-$job.err" &
    JOB_PID[$job]=$! JOB_ARGS[$job]=$args
    set +m
    sleep "$SETTLE"; continue
  fi
  n=$((n + 1))
  file=$(printf '%s/%03d-%s.txt' "$OUT" "$n" "$name")
  if [[ $args == =* || $args == ^* ]]; then
    job=${args:1}
    [[ -n ${JOB_PID[$job]:-} ]] || { echo "commands.txt: no job $job" >&2; exit 1; }
    sleep "$SETTLE"
    if [[ $args == =* ]]; then
      write_record "$file" "${JOB_ARGS[$job]} &" "" "$TMP/job-$job.out" "$TMP/job-$job.err" running
      code=running
    else
      kill -INT "${JOB_PID[$job]}" 2>/dev/null || true
      set +e; wait "${JOB_PID[$job]}"; code=$?; set -e
      unset "JOB_PID[$job]"
      write_record "$file" "${JOB_ARGS[$job]} &" "" "$TMP/job-$job.out" "$TMP/job-$job.err" "interrupted (SIGINT)" "exit $code"
    fi
    cp "$TMP/job-$job.out" "$TMP/out"
  else
    expand "$args"
    if [[ -z $stdin_spec ]]; then
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
    write_record "$file" "$args" "$stdin_spec" "$TMP/out" "$TMP/err" "exit $code"
  fi
  if [[ -n $capture ]]; then
    VARS[$capture]=$(grep -oE '\b[0-9a-f]{16}\b' "$TMP/out" | head -n1)
    [[ -n ${VARS[$capture]} ]] || { echo "$(basename "$file"): no lease ID to capture" >&2; exit 1; }
  fi
  printf '%-45s exit %s\n' "$(basename "$file")" "$code"
done <"$COMMANDS"
for job in "${!JOB_PID[@]}"; do kill "${JOB_PID[$job]}" 2>/dev/null || true; done

echo "wrote $n files to $OUT"
