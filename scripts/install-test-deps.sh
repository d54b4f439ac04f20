#!/usr/bin/env bash
# Installs what the real-mode e2e tests (tests/) need, idempotently:
#   - etcdctl 3.4 (Debian package etcd-client): drives the servers under test;
#   - etcd 3.4.23 (Debian package etcd-server): only for scripts/etcd-reference.sh
#     (regenerating tests/golden/) and for validating the harness against real etcd;
#   - Chromium (Debian package chromium, /usr/bin/chromium): the headless browser check of the
#     simulator's HTML reports (scripts/browser-check.sh);
#   - Prometheus 2.x (Debian package prometheus: /usr/bin/prometheus and promtool): scrapes a
#     real cluster in tests/tests/metrics.rs and checks the dashboard's alert rules.
# Pass --client-only to skip etcd-server.
# Non-interactive; meant to run as root (CI=true) or with sudo available.
set -euo pipefail

want_server=1
[[ "${1:-}" == "--client-only" ]] && want_server=0

pkgs=()
command -v etcdctl >/dev/null 2>&1 || pkgs+=(etcd-client)
[[ -x /usr/bin/chromium ]] || pkgs+=(chromium)
[[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]] || pkgs+=(prometheus)
if [[ $want_server == 1 ]] && ! command -v etcd >/dev/null 2>&1 && [[ ! -x /usr/bin/etcd ]]; then
  pkgs+=(etcd-server)
fi

if [[ ${#pkgs[@]} -eq 0 ]]; then
  echo "install-test-deps: nothing to do (etcdctl, chromium, prometheus$([[ $want_server == 1 ]] && echo ', etcd') present)"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-test-deps: need root or sudo to install ${pkgs[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

# Keep the package's maintainer scripts from starting an etcd service on 2379/2380
# (which would collide with the tests' fixed demo ports): deny service starts while
# installing, via policy-rc.d, unless one already exists.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e $policy ]]; then
  $SUDO sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
  made_policy=1
fi
cleanup() { [[ $made_policy == 1 ]] && $SUDO rm -f "$policy"; true; }
trap cleanup EXIT

echo "install-test-deps: installing ${pkgs[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}"

# If something started an etcd anyway (e.g. an init system ignoring policy-rc.d), stop it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $SUDO systemctl stop etcd || true
  $SUDO systemctl disable etcd >/dev/null 2>&1 || true
fi
for pid in $(pgrep -x etcd 2>/dev/null || true); do
  # Only the packaged daemon (run as user etcd / from /etc/default/etcd), not test clusters.
  if [[ $(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ') == etcd ]]; then
    echo "install-test-deps: stopping packaged etcd service (pid $pid)"
    $SUDO kill "$pid" || true
  fi
done

etcdctl version | head -1
