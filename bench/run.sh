#!/usr/bin/env bash
# Runs the benchmark matrix of bench/RESULTS.md: medchain and CometBFT's
# kvstore, 1 and 4 validators, at max rate and at 500 tx/s, REPS times,
# kvstore and medchain back to back so that both see the same machine.
# Each run's JSON goes to bench/runs/<app>-v<N>-<rate>-<rep>.json.
#
#   MEDCHAIN=/path/to/medchain REPS=3 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MEDCHAIN=${MEDCHAIN:-medchain}
REPS=${REPS:-3}
DURATION=${DURATION:-30s}
out=bench/runs
mkdir -p "$out"
run() { # app validators rate rep
  local f="$out/$1-v$2-$3-$4.json"
  echo "== $(date -u +%H:%M:%S) $1 validators=$2 rate=$3 rep=$4 (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$MEDCHAIN" bench --app "$1" --validators "$2" --duration "$DURATION" --rate "$3" -o json >"$f.tmp"
  mv "$f.tmp" "$f"
}
for rep in $(seq 1 "$REPS"); do
  for v in 1 4; do
    for app in kvstore medchain; do run "$app" "$v" 0 "$rep"; done
  done
  for v in 1 4; do
    for app in kvstore medchain; do run "$app" "$v" 500 "$rep"; done
  done
done
