#!/usr/bin/env bash
# scripts/bench_ingest_dir.sh — `bcfs ingest` of many small vendor files:
# one after another (--jobs 1 --files-per-commit 1: each file decoded,
# merged and committed before the next, the peer) against the default
# (datasets in parallel, --jobs N = the number of cores, and the files of
# one dataset validated one by one and merged in one commit), each into a
# fresh store, medians of RUNS runs, ratio printed. The files are real
# yfinance daily CSVs from /work/shared/data, FILES copies in all.
#
# SHAPE=days (default): DAYS folders day00..dayNN, each holding the same
#   FILES/DAYS names s0.csv, s1.csv, ... (a vendor's daily drop): FILES/DAYS
#   datasets of DAYS files each, overlapping and conflicting (later wins).
# SHAPE=symbols: one folder, FILES distinct names in 10 sub-folders: FILES
#   datasets of one file each (nothing to merge; parallelism only).
#
# After the last run of each mode every dataset is exported: the two modes
# must give byte-identical exports, and every file must be reported merged.
#
#   scripts/bench_ingest_dir.sh                 # 500 files, 50 days x 10 datasets, 3 runs
#   SHAPE=symbols scripts/bench_ingest_dir.sh   # 500 datasets of one file
#   FILES=100 RUNS=1 JOBS=4 scripts/bench_ingest_dir.sh
#   PREV_BCFS=/path/to/old/bcfs scripts/bench_ingest_dir.sh
#
# PREV_BCFS (optional) is a second peer: a bcfs binary built from an earlier
# commit (scripts/bench.sh builds the one issue 11 measured, before folders
# and --jobs: it ingests the files it is given one after another), run with
# every input file as an argument, alternated with the others; its ratio is
# printed and handed over as RESULT ingest_dir_prev.
#
# Every run ingests into a store folder of its own ($W/seq0, $W/par0,
# $W/seq1, ...) and nothing is deleted until the script ends. On ext4
# without a journal (this project's test machine) the inode allocator
# refuses, and scans past, every inode freed in the last few minutes
# (recently_deleted() in fs/ext4/ialloc.c); deleting one run's store just
# before the next made each run slower than the one before and serialized
# the parallel run's inode allocation, so the benchmark measured its own
# cleanup. The previous invocation's tree is removed at the start, so
# invocations back to back can still be slowed by the inodes it freed: the
# script warns when it removes one, wait a few minutes (or use another
# BENCH_DIR filesystem) for clean figures. Other processes deleting files
# in the same block groups slow it too: /tmp, where every go test removes
# its temp folders, is such a place; BENCH_DIR=/var/tmp/... is quieter.
set -euo pipefail
FILES=${FILES:-500}
RUNS=${RUNS:-3}
JOBS=${JOBS:-$(nproc)}
SHAPE=${SHAPE:-days}
DAYS=${DAYS:-50}
DATA=${DATA:-/work/shared/data/yfinance/tests/data}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-/tmp/bcfs-bench-ingest-dir}
if [[ -e $W ]]; then
  echo "bench_ingest_dir: removing the previous run's $W: on ext4 without a journal its freed inodes can slow the next few minutes' runs" >&2
  rm -rf "$W"
fi
mkdir -p "$W/in"
# Standalone, the stores go when the script ends; with BENCH_DIR given
# (scripts/bench.sh) they stay for the caller, which removes its whole
# folder when it ends, so that its next step is not slowed either.
[[ -n ${BENCH_DIR:-} ]] || trap 'rm -rf "${W:?}"/seq[0-9]* "${W:?}"/par[0-9]*' EXIT
BCFS=${BCFS:-$W/bcfs}
[[ -n ${BCFS_PREBUILT:-} ]] || (cd "$REPO" && go build -o "$BCFS" .)

mapfile -t src < <(ls "$DATA"/*-1d-*.csv | sort)
((${#src[@]} > 0)) || { echo "bench_ingest_dir: no daily CSV in $DATA" >&2; exit 1; }
args=()
case $SHAPE in
days)
  ((FILES % DAYS == 0)) || { echo "bench_ingest_dir: FILES=$FILES is not a multiple of DAYS=$DAYS" >&2; exit 1; }
  per=$((FILES / DAYS))
  for ((d = 0; d < DAYS; d++)); do
    dir=$(printf '%s/in/day%03d' "$W" "$d")
    mkdir -p "$dir"
    args+=("$dir")
    for ((s = 0; s < per; s++)); do
      cp "${src[(d * per + s) % ${#src[@]}]}" "$dir/s$s.csv"
    done
  done
  datasets=$per
  ;;
symbols)
  for ((i = 0; i < FILES; i++)); do
    f=${src[i % ${#src[@]}]}
    d=$W/in/v$((i % 10))
    mkdir -p "$d"
    cp "$f" "$d/F$i-$(basename "$f")"
  done
  args=("$W/in")
  datasets=$FILES
  ;;
*) echo "bench_ingest_dir: SHAPE=$SHAPE: want days or symbols" >&2; exit 1 ;;
esac
echo "input: $FILES files in $datasets datasets ($SHAPE), $(du -sh "$W/in" | cut -f1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME FLAGS...: seconds of one ingest of the input into the new
# store $W/NAME (never an earlier run's: see the header); every file must
# be reported merged (committed, or no change when a file repeats what the
# dataset holds). The peak RSS goes to $W/<NAME without digits>.rss.
run() {
  local name=$1
  shift
  [[ ! -e $W/$name ]] || { echo "bench_ingest_dir: $W/$name exists" >&2; exit 1; }
  local t0 t1 n
  t0=$(date +%s.%N)
  /usr/bin/time -f %M -a -o "$W/${name%%[0-9]*}.rss" "$BCFS" --store "$W/$name" ingest --ohlc-check warn "$@" "${args[@]}" > "$W/$name.out" 2> "$W/$name.err" ||
    { cat "$W/$name.err" >&2; echo "bench_ingest_dir: ingest $* failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  n=$(grep -cE '^/.* -> .*: (committed version|no change, still version) ' "$W/$name.out")
  ((n == FILES)) || { echo "bench_ingest_dir: $name: $n of $FILES files reported merged" >&2; exit 1; }
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# exports NAME: every dataset of store $W/NAME exported, one after another.
exports() {
  local ds
  while read -r ds; do
    "$BCFS" --store "$W/$1" export "$ds"
  done < <(find "$W/$1/datasets" -name _log -type d | sed "s|^$W/$1/datasets/||; s|/_log$||" | sort)
}

seq_t=() par_t=() prev_t=()
if [[ -n ${PREV_BCFS:-} ]]; then
  mapfile -t prev_files < <(for a in "${args[@]}"; do find "$a" -type f | sort; done)
fi
for ((r = 0; r < RUNS; r++)); do
  seq_t+=("$(run "seq$r" --jobs 1 --files-per-commit 1)")
  par_t+=("$(run "par$r" --jobs "$JOBS")")
  if [[ -n ${PREV_BCFS:-} ]]; then
    prev_t+=("$(BCFS=$PREV_BCFS && args=("${prev_files[@]}") && run "prev$r")")
  fi
done
last=$((RUNS - 1))
exports "seq$last" > "$W/seq.csv"
exports "par$last" > "$W/par.csv"
cmp -s "$W/seq.csv" "$W/par.csv" || { echo "bench_ingest_dir: the exports differ ($W/seq.csv, $W/par.csv)" >&2; exit 1; }
rows=$(grep -vc '^timestamp' "$W/par.csv")
((rows > 0)) || { echo "bench_ingest_dir: no rows exported" >&2; exit 1; }
s=$(median "${seq_t[@]}") p=$(median "${par_t[@]}")
echo "exports of both stores byte-identical: $(find "$W/par$last/datasets" -name _log -type d | wc -l) datasets, $rows rows"
printf 'one after another (--jobs 1 --files-per-commit 1): runs %s, median %.2f s\n' "${seq_t[*]}" "$s"
printf 'default (--jobs %s, one commit per dataset):       runs %s, median %.2f s\n' "$JOBS" "${par_t[*]}" "$p"
printf 'speedup: %.2fx (load after: %s)\n' "$(awk -v a="$s" -v b="$p" 'BEGIN { print a / b }')" "$(cut -d' ' -f1-3 /proc/loadavg)"
# For scripts/bench.sh: RESULT STEP BCFS PEER BCFS_RSS_KB PEER_RSS_KB RUNS
# (peak RSS: median over the runs of each process's, from GNU time).
echo "RESULT ingest_dir $p $s $(median $(cat "$W/par.rss")) $(median $(cat "$W/seq.rss")) $RUNS"
if [[ -n ${PREV_BCFS:-} ]]; then
  v=$(median "${prev_t[@]}")
  printf 'earlier build %s, one file after another: runs %s, median %.2f s; speedup of the default: %.2fx\n' \
    "$PREV_BCFS" "${prev_t[*]}" "$v" "$(awk -v a="$v" -v b="$p" 'BEGIN { print a / b }')"
  echo "RESULT ingest_dir_prev $p $v $(median $(cat "$W/par.rss")) $(median $(cat "$W/prev.rss")) $RUNS"
fi
