#!/usr/bin/env bash
# A short coverage-guided run of the parser fuzz target (about a minute).
# Usage: fuzz/run_short.sh [seconds]   (default 60; needs `pip install atheris`)
# Exit 0: no crash. Non-zero: libFuzzer found a crash; the input is saved as
# fuzz/crash-* -- add it to tests/corpus/ as a regression case once fixed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-60}"
python="${PYTHON:-python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here"/seeds/* "$work"/
# New inputs go to the temporary corpus (first directory); the seeds stay as they are.
exec "$python" "$here/fuzz_parser.py" "$work" \
  -dict="$here/expr.dict" -max_total_time="$seconds" -max_len=512 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$here/" -print_final_stats=1
