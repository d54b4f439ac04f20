#!/usr/bin/env bash
# Loads simulator reports (index.html) in headless Chromium from local files and checks that the
# figures (raft, clients, per-node metrics, the request-trace waterfall) and the client history
# timeline are there and that the page raised no JavaScript error.
#
#   scripts/browser-check.sh PAGE.html...     # check these pages
#   scripts/browser-check.sh                  # make split-brain seed 42's report first (cargo sim)
#
# Installs nothing: Chromium comes from scripts/install-test-deps.sh (Debian package chromium).
# Each page gets a fresh profile and at most $BROWSER_CHECK_TIMEOUT_S seconds (default 60).
# How the page reports its health: see sim/src/report/html.rs (data-report-ready, data-js-errors,
# #js-errors, the timeline canvas's data-drawn-ops).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=${CHROMIUM:-/usr/bin/chromium}
timeout_s=${BROWSER_CHECK_TIMEOUT_S:-60}
[[ -x $chromium ]] || { echo "browser-check: $chromium not found (run scripts/install-test-deps.sh)" >&2; exit 1; }

pages=("$@")
if [[ ${#pages[@]} -eq 0 ]]; then
  out=$(mktemp -d)
  cargo sim run split-brain --seed 42 --out "$out/split-brain-seed42" >/dev/null
  pages=("$out/split-brain-seed42/index.html")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
passed=0
for page in "${pages[@]}"; do
  [[ -f $page ]] || { echo "browser-check: FAIL $page: no such file"; failed=$((failed + 1)); continue; }
  url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
  profile=$(mktemp -d -p "$work")
  dom="$work/dom.html"
  log="$work/chromium.log"
  # --virtual-time-budget lets the page's scripts finish before the DOM is dumped.
  if ! timeout "$timeout_s" "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$profile" --enable-logging=stderr --v=0 --virtual-time-budget=5000 \
      --window-size=1400,2000 --dump-dom "$url" >"$dom" 2>"$log"; then
    echo "browser-check: FAIL $page: chromium did not finish within ${timeout_s}s or failed"; tail -5 "$log"
    failed=$((failed + 1)); continue
  fi
  problems=()
  grep -q 'data-report-ready="1"' "$dom" || problems+=("the page's scripts did not finish (no data-report-ready)")
  grep -q 'data-js-errors="0"' "$dom" || problems+=("JavaScript errors: $(grep -o 'id="js-errors"[^<]*' "$dom" | head -3)")
  grep -q '<pre id="js-errors"></pre>' "$dom" || problems+=("#js-errors is not empty")
  if grep -q 'Uncaught' "$log"; then problems+=("console: $(grep -m3 'Uncaught' "$log")"); fi
  grep -q '<svg id="raft-plot"' "$dom" || problems+=("no term/leader figure (svg#raft-plot)")
  grep -q '<svg id="metrics-plot"' "$dom" || problems+=("no per-node metrics figure (svg#metrics-plot)")
  if grep -q 'id="timeline-data"' "$dom"; then
    grep -q '<svg id="clients-plot"' "$dom" || problems+=("no throughput/latency figure (svg#clients-plot)")
    drawn=$(grep -o '<canvas id="timeline"[^>]*data-drawn-ops="[0-9]*"' "$dom" | grep -o '[0-9]*"$' | tr -d '"' || true)
    [[ -n $drawn && $drawn -gt 0 ]] || problems+=("the timeline drew no operation (data-drawn-ops=${drawn:-missing})")
    # The request-trace waterfall (when requests carried trace IDs): an svg with the client's
    # span and at least one member's.
    if grep -q 'id="trace-waterfall"' "$dom"; then
      bars=$(grep -o '<svg[^>]*class="waterfall".*</svg>' "$dom" | grep -o '<rect' | wc -l || true)
      [[ $bars -ge 2 ]] || problems+=("the request-trace waterfall has ${bars:-0} span bars")
    fi
  fi
  if [[ ${#problems[@]} -eq 0 ]]; then
    echo "browser-check: ok $page${drawn:+ (timeline: $drawn operations drawn)}"
    passed=$((passed + 1))
  else
    echo "browser-check: FAIL $page"
    printf '  - %s\n' "${problems[@]}"
    failed=$((failed + 1))
  fi
done
echo "browser-check: $((passed + failed)) page(s) checked, $failed with problems"
[[ $failed -eq 0 ]]
