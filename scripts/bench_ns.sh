#!/usr/bin/env bash
# scripts/bench_ns.sh [DATASETS] — namespace walks over a mount of many
# datasets: `find`, `du -sh` and `ls -lR` of the whole mount and of
# .metadata/, side by side with the same walks over a plain folder holding the
# same names (the peer), medians over RUNS.
#
#   scripts/bench_ns.sh            # 10,000 datasets: 100 folders x 100
#   scripts/bench_ns.sh 1000       # quick check
#
# Needs root (or fusermount3) and /dev/fuse, go, GNU time at /usr/bin/time.
# The store is built once through the mount (cp -r of small CSV files, each
# an ingest) and kept in BENCH_DIR for later runs.
#
# Environment:
#   BENCH_DIR   work dir (default /tmp/bcfs-bench-ns.<DATASETS>; kept)
#   RUNS        repeats per step, median reported (default 5)
#   BCFS        a prebuilt bcfs binary (default: go build of the repo root)
#
# Each bcfs run starts on a fresh mount (the kernel's dentry and attribute
# caches and the store's head cache are cold); the peer folder is warm in the
# page cache, as a local folder a user walks twice would be.
set -euo pipefail

N=${1:-10000}
RUNS=${RUNS:-5}
[[ $N =~ ^[0-9]+$ && $N -ge 100 ]] || { echo "bench_ns: DATASETS must be an integer >= 100" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench_ns: /usr/bin/time missing (apt-get install -y time)" >&2; exit 1; }
FOLDERS=100
PER=$((N / FOLDERS))
N=$((PER * FOLDERS))

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-/tmp/bcfs-bench-ns.$N}
mkdir -p "$W"
W=$(cd "$W" && pwd)
S=$W/store MNT=$W/mnt PEER=$W/peer LOG=$W/bench.log
MOUNT_PID=
die() { echo "bench_ns: $*" >&2; exit 1; }

unmount_store() {
	if [[ -n $MOUNT_PID ]]; then
		kill -INT "$MOUNT_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do kill -0 "$MOUNT_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$MOUNT_PID" 2>/dev/null || true
		wait "$MOUNT_PID" 2>/dev/null || true
		MOUNT_PID=
	fi
	if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" 2>/dev/null || umount -l "$MNT" || true; fi
}
trap unmount_store EXIT
trap 'exit 130' INT TERM

mount_store() {
	unmount_store
	mkdir -p "$MNT"
	"$BCFS" mount --store "$S" "$MNT" >>"$W/mount.log" 2>&1 &
	MOUNT_PID=$!
	for ((i = 0; i < 300; i++)); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$MOUNT_PID" 2>/dev/null || die "bcfs mount exited: $(tail -n 3 "$W/mount.log")"
		sleep 0.1
	done
	die "mount did not come up in 30 s"
}

median() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

if [[ -z ${BCFS:-} ]]; then
	BCFS=$W/bcfs
	(cd "$REPO" && go build -o "$BCFS" .) || die "go build failed"
fi

# --- the store: FOLDERS folders of PER datasets, 5 bars each -----------------
if [[ ! -e $S/.bench-ready ]]; then
	echo "bench_ns: building a store of $N datasets in $S (once)"
	rm -rf "$S" "$W/src" "$PEER"
	mkdir -p "$W/src"
	awk -v F=$FOLDERS -v P=$PER -v dir="$W/src" 'BEGIN {
		for (f = 0; f < F; f++) {
			d = sprintf("%s/f%03d", dir, f)
			system("mkdir -p " d)
			for (p = 0; p < P; p++) {
				file = sprintf("%s/d%04d.csv", d, p)
				print "timestamp,open,high,low,close,volume" > file
				for (r = 0; r < 5; r++)
					printf "2024-01-%02d 00:00:00,%d,%d,%d,%d,%d\n", r + 2, 100 + f, 102 + f, 99 + f, 101 + f, 1000 + p > file
				close(file)
			}
		}
	}'
	mount_store
	/usr/bin/time -f "%e s to copy $N files into the mount" cp -r "$W/src/." "$MNT/" 2>&1 | tail -n 1
	unmount_store
	got=$("$BCFS" --store "$S" ls | tail -n +2 | wc -l)
	[[ $got == "$N" ]] || die "store holds $got datasets, want $N"
	rm -rf "$W/src"
	touch "$S/.bench-ready"
fi

# --- the peer: the same names in a plain folder ------------------------------
# Rebuilt whenever the mount shows other names (a new version of bcfs may
# add folders such as .versions).
mount_store
(cd "$MNT" && find . -print) >"$W/names.new"
unmount_store
if [[ ! -d $PEER ]] || ! cmp -s "$W/names.new" "$W/names"; then
	rm -rf "$PEER"
	mkdir -p "$PEER"
	(cd "$PEER" && while IFS= read -r p; do
		case $p in
		*.csv | *.parquet | *.json) printf 'x' >"$p" ;;
		*) mkdir -p "$p" ;;
		esac
	done <"$W/names.new")
	mv "$W/names.new" "$W/names"
fi

# --- measure -----------------------------------------------------------------
STEPS=("find" "find no-dot" "du -sh" "ls -lR" "find .metadata" "ls -lR .metadata")
run_step() { # run_step STEP ROOT
	local root=$1
	shift
	case $1 in
	"find") find "$root" ;;
	"find no-dot") find "$root" -name '.?*' -prune -o -print ;; # datasets and folders only
	"du -sh") du -sh "$root" ;;
	"ls -lR") ls -lR "$root" ;;
	"find .metadata") find "$root/.metadata" ;;
	"ls -lR .metadata") ls -lR "$root/.metadata" ;;
	esac
}
export -f run_step
echo "bench_ns: $N datasets ($FOLDERS folders x $PER), $RUNS runs, cores=$(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
TCK=$(getconf CLK_TCK)
mount_cpu() { awk -v t="$TCK" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$MOUNT_PID/stat"; }
printf '%-18s %9s %9s %8s %9s %9s %9s\n' step bcfs_s peer_s ratio bcfs_cpu peer_cpu entries
for step in "${STEPS[@]}"; do
	fb=$W/t.bcfs fp=$W/t.peer cb=$W/c.bcfs cp=$W/c.peer
	: >"$fb"
	: >"$fp"
	: >"$cb"
	: >"$cp"
	for ((r = 0; r < RUNS; r++)); do
		mount_store
		c0=$(mount_cpu)
		/usr/bin/time -f "%e %U %S" -o "$W/.t" bash -c 'run_step "$0" "$1" >"$2"' "$MNT" "$step" "$W/out.bcfs" 2>>"$LOG" ||
			die "$step on the mount failed (log $LOG)"
		c1=$(mount_cpu)
		cut -d' ' -f1 "$W/.t" >>"$fb"
		awk -v a="$c0" -v b="$c1" '{ printf "%.2f\n", $2 + $3 + b - a }' "$W/.t" >>"$cb"
		/usr/bin/time -f "%e %U %S" -o "$W/.t" bash -c 'run_step "$0" "$1" >"$2"' "$PEER" "$step" "$W/out.peer" 2>>"$LOG" ||
			die "$step on the peer failed"
		cut -d' ' -f1 "$W/.t" >>"$fp"
		awk '{ printf "%.2f\n", $2 + $3 }' "$W/.t" >>"$cp"
	done
	entries=$(wc -l <"$W/out.bcfs")
	awk -v s="$step" -v b="$(median "$fb")" -v p="$(median "$fp")" -v bc="$(median "$cb")" -v pc="$(median "$cp")" -v e="$entries" \
		'BEGIN { ratio = p > 0 ? sprintf("%.1f", b / p) : "inf"; printf "%-18s %9.3f %9.3f %8s %9.2f %9.2f %9d\n", s, b, p, ratio, bc, pc, e }'
done
unmount_store
echo "medians of $RUNS runs; bcfs_s on a fresh mount each run, peer_s on a plain folder with the same names (warm)."
echo "_cpu: user+system seconds; bcfs_cpu adds the mount process's CPU during the step to the client's."
echo "On a loaded machine trust the cpu columns more than the wall ones."
echo "entries: lines the command printed on the mount."
