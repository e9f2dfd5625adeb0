#!/usr/bin/env bash
# scripts/bench_ingest_dir.sh — `bcfs ingest DIR` of many small vendor files:
# one after another (--jobs 1, the peer) against parallel (--jobs N, default
# the number of cores), each into a fresh store, medians of RUNS runs, ratio
# printed. The files are real yfinance daily CSVs from /work/shared/data,
# copied under FILES distinct names into sub-folders (one dataset each).
#
#   scripts/bench_ingest_dir.sh               # 500 files, 3 runs
#   FILES=100 RUNS=1 JOBS=4 scripts/bench_ingest_dir.sh
set -euo pipefail
FILES=${FILES:-500}
RUNS=${RUNS:-3}
JOBS=${JOBS:-$(nproc)}
DATA=${DATA:-/work/shared/data/yfinance/tests/data}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-/tmp/bcfs-bench-ingest-dir}
rm -rf "$W" && mkdir -p "$W/in"
BCFS=${BCFS:-$W/bcfs}
[[ -n ${BCFS_PREBUILT:-} ]] || (cd "$REPO" && go build -o "$BCFS" .)

mapfile -t src < <(ls "$DATA"/*.csv | sort)
((${#src[@]} > 0)) || { echo "bench_ingest_dir: no CSV in $DATA" >&2; exit 1; }
for ((i = 0; i < FILES; i++)); do
  f=${src[i % ${#src[@]}]}
  d=$W/in/v$((i % 10))
  mkdir -p "$d"
  cp "$f" "$d/F$i-$(basename "$f")"
done
echo "input: $FILES files, $(du -sh "$W/in" | cut -f1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# run JOBS: seconds of one ingest of the folder into a fresh store.
run() {
  rm -rf "$W/store"
  local t0 t1
  t0=$(date +%s.%N)
  "$BCFS" --store "$W/store" ingest --jobs "$1" --ohlc-check warn "$W/in" > "$W/out" 2> "$W/err" ||
    { cat "$W/err" >&2; echo "bench_ingest_dir: ingest --jobs $1 failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  local n
  n=$(grep -c "committed version" "$W/out")
  ((n == FILES)) || { echo "bench_ingest_dir: $n of $FILES files committed" >&2; exit 1; }
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

seq_t=() par_t=()
for ((r = 0; r < RUNS; r++)); do
  seq_t+=("$(run 1)")
  par_t+=("$(run "$JOBS")")
done
s=$(median "${seq_t[@]}") p=$(median "${par_t[@]}")
printf 'sequential (--jobs 1): runs %s, median %.2f s\n' "${seq_t[*]}" "$s"
printf 'parallel (--jobs %s):  runs %s, median %.2f s\n' "$JOBS" "${par_t[*]}" "$p"
printf 'speedup sequential/parallel: %.2fx\n' "$(awk -v a="$s" -v b="$p" 'BEGIN { print a / b }')"
# For scripts/bench.sh: RESULT STEP BCFS PEER BCFS_RSS_KB PEER_RSS_KB RUNS.
echo "RESULT ingest_dir $p $s - - $RUNS"
