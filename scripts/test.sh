#!/usr/bin/env bash
# The whole medchain test suite, as CI runs it (.ci/run calls this script).
# It installs what the tests need on a fresh Debian machine, then runs:
# formatting and vet checks, the race detector on the state-machine
# packages, and every test (unit, in-process node, API, CLI acceptance,
# multi-process network and fault tests, fuzz seed corpora).
#
#   scripts/test.sh            everything (about 7 minutes on 2 cores)
#   MEDCHAIN_SHORT=1 scripts/test.sh   skip the node, network and fault tests
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need go; then
  echo "Go is required (https://go.dev/dl); this repository needs go $(sed -n 's/^go //p' go.mod)" >&2
  exit 1
fi
# Tools from Debian that the tests use; install only what is missing.
missing=()
for p in git:git; do
  cmd=${p%%:*}; pkg=${p##*:}
  need "$cmd" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  else
    echo "missing: ${missing[*]} (install them with apt-get)" >&2
    exit 1
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

short=()
if [ -n "${MEDCHAIN_SHORT:-}" ]; then short=(-short); fi

echo "== race detector on the state machine"
go test -race -count=1 "${short[@]}" ./app/... ./store/... ./x/... ./tx/... ./internal/...

echo "== all tests"
go test -count=1 -timeout 25m "${short[@]}" ./...
