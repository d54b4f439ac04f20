#!/usr/bin/env bash
# Simulator speed, release build: how many simulated seconds one wall second runs, and how sweep
# throughput scales with --jobs. Figures are end to end (simulate + check the history).
#   scripts/bench-sim.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo simbuild >/dev/null 2>&1 || cargo simbuild
sim=target/sim/release/sim
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
# CPU seconds (user + system) of a command: the figure that does not depend on what else runs.
cpu() { bash -c 'TIMEFORMAT=%U+%S; { time "$@" >/dev/null 2>&1; } 2>&1 | tail -1 | bc -l' _ "$@"; }

echo "== one run: split-brain, 3 nodes, 5 clients, 30 simulated seconds"
total=0
ctotal=0
for seed in 1 2 3 4 5; do
  t=$(secs $sim run split-brain --seed $seed --duration 30 --out /tmp/detcd-bench-run)
  c=$(cpu $sim run split-brain --seed $seed --duration 30 --out /tmp/detcd-bench-run)
  printf '  seed %d: %.3f s wall (%.0fx real time), %.3f s CPU (%.0fx per core)\n' $seed "$t" "$(echo "30 / $t" | bc -l)" "$c" "$(echo "30 / $c" | bc -l)"
  total=$(echo "$total + $t" | bc -l)
  ctotal=$(echo "$ctotal + $c" | bc -l)
done
printf '  mean: %.0fx real time (wall), %.0fx per core (CPU)\n' "$(echo "150 / $total" | bc -l)" "$(echo "150 / $ctotal" | bc -l)"

echo "== sweep: split-brain seeds 1..40 (12 simulated seconds each)"
t1=$(secs $sim sweep split-brain --seeds 1..40 --jobs 1)
t2=$(secs $sim sweep split-brain --seeds 1..40 --jobs 2)
printf '  --jobs 1: %.2f s (%.1f runs/s)\n' "$t1" "$(echo "40 / $t1" | bc -l)"
printf '  --jobs 2: %.2f s (%.1f runs/s), speed-up %.2fx on %d cores\n' "$t2" "$(echo "40 / $t2" | bc -l)" "$(echo "$t1 / $t2" | bc -l)" "$(nproc)"
