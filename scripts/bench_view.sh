#!/usr/bin/env bash
# scripts/bench_view.sh [ROWS] — cold reads of the mounted views (CSV and
# Parquet) against a local file of the same bytes (the peer), in one run.
#
#   scripts/bench_view.sh              # 12,000,000 rows (~790 MB CSV view)
#   scripts/bench_view.sh 1000000      # quicker
#
# Every read is `cat FILE >/dev/null` right after `echo 3 >
# /proc/sys/vm/drop_caches`, so both sides read from disk. Cases per view:
#   nocache      a mount without view cache (--view-cache-gb 0): every open
#                renders, as before the cache
#   miss         the view cache is empty: the open renders (and fills the
#                cache in the background); fresh mount each run
#   hit          the same mount after the fill: served from the cache file by
#                FUSE passthrough
#   hit_remount  a new mount, its first open of the view: served from the
#                cache file by passthrough
#   hit_pread    a mount with --no-passthrough: the cache file read by bcfs
# The peer, cat of the local copy (bcfs export of the same view), runs right
# after each bcfs run; medians of RUNS, ratio = bcfs / peer seconds.
#
# Then the trader's daily case (rows after_append): on a hard-linked clone of
# the store (partition files are immutable; the rest is copied), mounted with
# an empty view cache, both views of version N are read once (cached); each
# run appends one day (14,400 rows, 10 symbols) with `bcfs ingest`, and for
# each view exports version N+1 as the peer's local file (untimed), drops
# caches and cats the view (the first open of N+1: an incremental fill copies
# N's cached file, or a Parquet one but its footer, and writes the day),
# waits for the fill, then cats the peer. The script fails unless every fill
# was incremental (.metadata/cache.json incremental_fills) and the last
# reads equal the exports byte for byte.
#
# For scripts/bench.sh each case is also a line
#   RESULT view_cache_VIEW_CASE BCFS_S PEER_S - - RUNS s BYTES
# and the daily case is RESULT view_cache_VIEW_after_append.
#
# Needs root and /dev/fuse (mount, drop_caches), go.
# Environment: ROWS (when no argument; default 12000000), BENCH_DIR (work
# dir, default mktemp -d /tmp/bcfs-benchview.XXXX), KEEP=1 (keep it), RUNS
# (default 3), BCFS (a prebuilt binary; default: go build of the repo), STORE
# (an existing store with dataset big: skips the data generation and ingest).
set -euo pipefail

ROWS=${1:-${ROWS:-12000000}}
RUNS=${RUNS:-3}
die() { echo "bench_view: $*" >&2; exit 1; }
[[ $ROWS =~ ^[0-9]+$ && $ROWS -ge 100 ]] || die "ROWS must be an integer >= 100, got '$ROWS'"
[[ $(id -u) == 0 ]] || die "needs root (mount, drop_caches)"
[[ -c /dev/fuse ]] || die "no /dev/fuse"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-$(mktemp -d /tmp/bcfs-benchview.XXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
LOG=$W/bench_view.log
MNT=$W/mnt
VC=$W/views
MOUNT_PID=

unmount_store() {
	if [[ -n $MOUNT_PID ]]; then
		kill -INT "$MOUNT_PID" 2>/dev/null || true
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$MOUNT_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$MOUNT_PID" 2>/dev/null; then
			umount -l "$MNT" 2>/dev/null || true
			kill -KILL "$MOUNT_PID" 2>/dev/null || true
		fi
		wait "$MOUNT_PID" 2>/dev/null || true
		MOUNT_PID=
	fi
	if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; fi
}
cleanup() {
	local rc=$?
	unmount_store || true
	if [[ ${KEEP:-0} == 1 ]]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mount_store [FLAGS...]: a fresh mount of $S at $MNT with the view cache in
# $VC (views of any size).
mount_store() {
	unmount_store
	mkdir -p "$MNT"
	"$BCFS" mount --store "$S" --view-cache-dir "$VC" --view-cache-min-mb 0 "$@" "$MNT" >>"$W/mount.log" 2>&1 &
	MOUNT_PID=$!
	local i
	for ((i = 0; i < 300; i++)); do
		if mountpoint -q "$MNT" && [[ -e $MNT/big.csv ]]; then return 0; fi
		kill -0 "$MOUNT_PID" 2>/dev/null || die "bcfs mount exited: $(tail -n 3 "$W/mount.log")"
		sleep 0.1
	done
	die "mount did not show big.csv within 30s"
}

drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }

# seconds CMD...: wall seconds of CMD.
seconds() {
	local t0=$EPOCHREALTIME
	"$@" >/dev/null || die "failed: $*"
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# wait_fill SIZE: until the cache holds a file of SIZE bytes and no fill runs.
wait_fill() {
	local i
	for ((i = 0; i < 1200; i++)); do
		if find "$VC" -maxdepth 1 -name '*.view' -size "$1"c | grep -q . &&
			! find "$VC" -maxdepth 1 -name '.tmp-*' | grep -q .; then
			return 0
		fi
		sleep 0.25
	done
	die "the view cache holds no $1-byte file after 5 minutes (log: $W/mount.log)"
}

ROWS_OUT=() RESULTS=()
# measure VIEW "CASE PREP [AFTER]"...: RUNS rounds; in each, for every case
# in turn (so that the load of a shared machine falls on all of them), PREP,
# drop caches, cat the mounted view (timed), AFTER (untimed), then drop
# caches and cat the local copy (timed: the peer). Records the medians.
measure() {
	local view=$1 i c kase prep after bytes b p
	shift
	for c in "$@"; do
		read -r kase _ <<<"$c"
		: >"$W/b.$kase" && : >"$W/p.$kase"
	done
	for ((i = 1; i <= RUNS; i++)); do
		for c in "$@"; do
			read -r kase prep after <<<"$c"
			$prep
			drop_caches
			seconds cat "$MNT/big.$view" >>"$W/b.$kase"
			${after:-:}
			drop_caches
			seconds cat "$W/local.$view" >>"$W/p.$kase"
		done
	done
	bytes=$(stat -c %s "$W/local.$view")
	for c in "$@"; do
		read -r kase _ <<<"$c"
		b=$(median "$W/b.$kase") p=$(median "$W/p.$kase")
		ROWS_OUT+=("$(awk -v v="$view" -v k="$kase" -v b="$b" -v p="$p" -v s="$bytes" -v n="$RUNS" 'BEGIN {
			printf "%-8s %-12s %8.3f %8.3f %6.2f %10.0f %10.0f %5d", v, k, b, p, b / p, s / b / 1e6, s / p / 1e6, n }')")
		echo "bench_view: $view $kase: bcfs $(tr '\n' ' ' <"$W/b.$kase")s, peer $(tr '\n' ' ' <"$W/p.$kase")s"
		RESULTS+=("RESULT view_cache_${view}_$kase $b $p - - $RUNS s $bytes")
	done
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -n ${BCFS:-} ]]; then
	[[ -x $BCFS ]] || die "BCFS=$BCFS is not executable"
else
	BCFS=$W/bcfs
	(cd "$REPO" && go build -o "$BCFS" .) || die "go build of bcfs failed"
fi
if [[ -n ${STORE:-} ]]; then
	S=$STORE
else
	S=$W/store
	(cd "$REPO" && go build -o "$W/gendata" ./scripts/gendata) || die "go build of gendata failed"
	echo "bench_view: generating and ingesting $ROWS rows"
	"$W/gendata" -rows "$ROWS" -symbols 10 -provider yahoo -out "$W/big.csv"
	"$BCFS" ingest --store "$S" "$W/big.csv" >>"$LOG" 2>&1 || die "ingest failed (log: $LOG)"
	rm -f "$W/big.csv"
fi
"$BCFS" export --store "$S" --format csv -o "$W/local.csv" big >>"$LOG" 2>&1 || die "export failed"
"$BCFS" export --store "$S" --format parquet -o "$W/local.parquet" big >>"$LOG" 2>&1 || die "export failed"

for view in csv parquet; do
	size=$(stat -c %s "$W/local.$view")
	nocache_mount() { mount_store --view-cache-gb 0; }
	miss_prep() { unmount_store && rm -rf "$VC" && mount_store; }
	# The fill finishes (and syncs) before the peer reads.
	filled() { wait_fill "$size"; }
	measure "$view" "nocache nocache_mount" "miss miss_prep filled"
	cmp "$MNT/big.$view" "$W/local.$view" || die "big.$view through the mount differs from bcfs export"
	measure "$view" "hit :"
	grep -q "served without FUSE passthrough" "$W/mount.log" && echo "bench_view: note: the kernel refused passthrough (see $W/mount.log)"
	measure "$view" "hit_remount mount_store"
	pread_mount() { mount_store --no-passthrough; }
	measure "$view" "hit_pread pread_mount"
	cmp "$MNT/big.$view" "$W/local.$view" || die "big.$view through the mount (pread) differs from bcfs export"
	unmount_store
done

# --- after_append: first open of a version one day newer than a cached one ---
DAY_ROWS=14400
A=$W/append-store
rm -rf "$A" "$VC"
# Hard links for the partition files, which are never modified; copies of
# everything else, so that nothing the clone writes reaches $S. A store on
# another filesystem is copied whole.
cp -al "$S" "$A" 2>/dev/null || { rm -rf "$A" && cp -a "$S" "$A"; } || die "cannot clone $S"
find "$A" -type f ! -name '*.parquet' -exec sh -c 'for f; do cp -p "$f" "$f.copy" && mv "$f.copy" "$f"; done' sh {} +
base_rows=$("$BCFS" stats --store "$A" --json big | sed -n 's/.*"row_count": *\([0-9]*\).*/\1/p' | head -n 1)
[[ $base_rows =~ ^[0-9]+$ ]] || die "no row_count in bcfs stats --json big"
[[ -x $W/gendata ]] || (cd "$REPO" && go build -o "$W/gendata" ./scripts/gendata) || die "go build of gendata failed"
"$W/gendata" -rows $((RUNS * DAY_ROWS)) -symbols 10 -provider yahoo -overlap-from "$base_rows" -out "$W/days.csv"
mkdir -p "$W/days"
awk -v n=$DAY_ROWS -v dir="$W/days" 'NR == 1 { h = $0; next }
	{ i = int((NR - 2) / n) + 1; f = sprintf("%s/%02d.csv", dir, i); if (!(f in seen)) { print h > f; seen[f] = 1 } print >> f }' "$W/days.csv"
S_MAIN=$S S=$A
mount_store
for view in csv parquet; do
	cat "$MNT/big.$view" >/dev/null
	wait_fill "$(stat -c %s "$MNT/big.$view")"
	: >"$W/b.after_append.$view" && : >"$W/p.after_append.$view"
done
for ((i = 1; i <= RUNS; i++)); do
	day=$(printf '%s/%02d.csv' "$W/days" "$i")
	"$BCFS" ingest --store "$S" --dataset big "$day" >>"$LOG" 2>&1 || die "ingest of $day failed (log: $LOG)"
	for view in csv parquet; do
		"$BCFS" export --store "$S" --format "$view" -o "$W/local.$view" big >>"$LOG" 2>&1 || die "export failed"
		drop_caches
		seconds cat "$MNT/big.$view" >>"$W/b.after_append.$view"
		wait_fill "$(stat -c %s "$W/local.$view")"
		drop_caches
		seconds cat "$W/local.$view" >>"$W/p.after_append.$view"
	done
done
for view in csv parquet; do
	cmp "$MNT/big.$view" "$W/local.$view" || die "big.$view through the mount after the appends differs from bcfs export"
done
incremental=$(sed -n 's/.*"incremental_fills": *\([0-9]*\).*/\1/p' "$MNT/.metadata/cache.json" | head -n 1)
[[ $incremental == $((2 * RUNS)) ]] || die "cache.json says $incremental incremental fills, want $((2 * RUNS)) (one per view and appended day)"
unmount_store
S=$S_MAIN
for view in csv parquet; do
	b=$(median "$W/b.after_append.$view") p=$(median "$W/p.after_append.$view") bytes=$(stat -c %s "$W/local.$view")
	ROWS_OUT+=("$(awk -v v="$view" -v b="$b" -v p="$p" -v s="$bytes" -v n="$RUNS" 'BEGIN {
		printf "%-8s %-12s %8.3f %8.3f %6.2f %10.0f %10.0f %5d", v, "after_append", b, p, b / p, s / b / 1e6, s / p / 1e6, n }')")
	echo "bench_view: $view after_append: bcfs $(tr '\n' ' ' <"$W/b.after_append.$view")s, peer $(tr '\n' ' ' <"$W/p.after_append.$view")s"
	RESULTS+=("RESULT view_cache_${view}_after_append $b $p - - $RUNS s $bytes")
done

echo
echo "rows=$ROWS cores=$(nproc) kernel=$(uname -r) runs=$RUNS"
echo "load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-12s %8s %8s %6s %10s %10s %5s\n' view case bcfs_s peer_s ratio bcfs_MBps peer_MBps runs
printf '%s\n' "${ROWS_OUT[@]}"
echo "cold reads (page cache dropped before each); peer = cat of a local file with the same bytes."
echo "nocache: --view-cache-gb 0 (renders every open); miss: fresh mount, empty view cache (renders once, into the cache);"
echo "hit: same mount after the background fill (passthrough);"
echo "hit_remount: new mount, then the first open (passthrough); hit_pread: --no-passthrough."
echo "after_append: first open of the view after bcfs ingest of one day onto a version whose view is cached (incremental fill)."
printf '%s\n' "${RESULTS[@]}"
