#!/usr/bin/env bash
# scripts/bench_checksums.sh [ITERATIONS] — what the row-group checksums cost.
#
# Runs store's BenchmarkViewChecksums: a 1M-row dataset's CSV view rendered
# whole (as `bcfs export` does) and its Parquet view read in 128 KiB reads
# (as through the mount), from a fresh snapshot each time, with the
# manifest's CRC32C checks (on) and with the checksums stripped so the bytes
# are read unchecked as before (off), alternating within each iteration.
# "cold" drops the partition files from the page cache first (fadvise
# DONTNEED), "warm" reads them from memory. Each line reports the median
# MB/s of on and off over ITERATIONS (default 20) and ratio-on/off. The
# Parquet view verifies a row group once per file identity: warm is the
# cost of reading verified row groups, cold of checking each one read back
# from the disk.
set -euo pipefail
N=${1:-20}
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'ViewChecksums' -benchtime "${N}x" -count 1 ./store/ | grep -E '^(Benchmark|cpu)'
