#!/usr/bin/env bash
# Runs every test of the project, both builds:
#   1. installs what the tests need that cargo cannot (etcdctl, from Debian's etcd-client);
#   2. the real build: unit tests, the checker, and the e2e tests (real detcd processes on
#      127.0.0.1 driven by the real etcdctl, compared with etcd 3.4.23's golden outputs);
#   3. the simulation build (--cfg madsim, target/sim): determinism, elections, KV over the
#      simulated network, the report of split-brain seed 42;
#   4. that report (and two variants) in headless Chromium: figures and timeline present, no
#      JavaScript error.
# Works on a fresh machine with only the Rust toolchain (and apt, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/check-file-sizes.sh
scripts/install-test-deps.sh --client-only

echo "== real build: cargo test --workspace"
# The e2e tests run target/debug/detcd; build every binary first.
cargo build --workspace --bins
cargo test --workspace

echo "== simulation build: cargo simtest"
cargo simtest
# madsim's own determinism check: each seed runs twice and every random draw and scheduling
# decision is compared.
MADSIM_TEST_CHECK_DETERMINISM=1 MADSIM_TEST_NUM=3 cargo simtest --test madsim_determinism

echo "== simulation build: the node's own sim tests (lease expiry on every member, watch resume)"
# (release, like cargo simtest, so both share one sim build)
cargo test --config 'build.rustflags=["--cfg","madsim"]' --target-dir target/sim --release -p detcd-node --test sim_leases_watches

echo "== reports in headless Chromium: split-brain seed 42, with a linearizability failure, 10,000 operations (written by sim/tests/report.rs)"
scripts/browser-check.sh target/sim/tmp/report-{split-brain-seed42,split-brain-seed42-violation,ten-thousand-operations}/index.html
