#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 60s; not
# part of CI: scripts/test.sh runs only the seed corpora). New crashers land
# in PKG/testdata/fuzz/TARGET/ and then run as seeds in every `go test`:
# fix the bug, keep the file.
#   scripts/fuzz.sh                 all targets, 60s each
#   FUZZTIME=5m scripts/fuzz.sh ./formats
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}
parallel=${FUZZPARALLEL:-2}
pkgs=("${@:-./...}")
failed=()
for pkg in $(go list "${pkgs[@]}"); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $target ($fuzztime)"
    # A short minimization keeps a slow target fuzzing: minimizing a new
    # input for the default minute shows as a stall (0 execs/sec).
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 10s -parallel "$parallel" "$pkg"; then
      failed+=("$pkg $target")
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all fuzz targets ran $fuzztime without a failure"
