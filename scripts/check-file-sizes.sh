#!/usr/bin/env bash
# No source or test file over 800 lines (STYLE.md: "small files"). Generated, vendored and data
# files are exempt: the lock file, protos copied from etcd, golden outputs, scenario and report data.
set -euo pipefail
cd "$(dirname "$0")/.."
max=800
bad=0
while IFS= read -r f; do
    n=$(wc -l < "$f")
    if (( n > max )); then
        echo "$f: $n lines (limit $max)"
        bad=1
    fi
done < <(git ls-files --cached --others --exclude-standard -- ':!node/vendor' '*.rs' '*.sh' '*.py' '*.js' '*.ts' '*.css' '*.html' 'justfile' '.ci/run')
if (( bad )); then
    echo "split the files above where a second topic starts"
    exit 1
fi
echo "file sizes: every source and test file is at most $max lines"
