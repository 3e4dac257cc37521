#!/usr/bin/env bash
# Runs the job parser fuzzer for a bounded time on a copy of the seed corpus
# (so the checked-in corpus stays small and reviewed). Usage: FUZZER CORPUS SECONDS
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/"
set +e
# -rss_limit_mb and -max_len keep one input from eating the machine; the
# parser refuses more than 1 MiB anyway.
"$fuzzer" "$work" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$work/" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
  echo "fuzzer found a failing input (exit $status):" >&2
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [[ -e $f ]] && { echo "== $f" >&2; base64 "$f" >&2; }
  done
  exit 1
fi
