#!/usr/bin/env bash
# scripts/bench.sh [ROWS] — whole-program figures for bcfs, side by side with
# DuckDB doing the same job, in one run.
#
#   scripts/bench.sh              # 12,000,000 rows (~790 MB CSV), 2M-row merge
#   scripts/bench.sh 200000       # quick check
#
# Needs: go, node + npm (DuckDB comes from npm @duckdb/node-api, installed into
# scripts/bench/node_modules with `npm ci` on first use), and GNU time at
# /usr/bin/time for wall seconds and peak RSS (Debian: apt-get install -y time).
# The mount section also needs root and /dev/fuse; without them it prints
# "skipped: <reason>".
#
# Environment:
#   BENCH_DIR   work dir (default: a fresh mktemp -d /tmp/bcfs-bench.XXXX)
#   KEEP=1      keep the work dir (removed at the end otherwise)
#   RUNS        repeats per step, median reported (default 3)
#   SLOW        seconds: a step whose first run takes longer runs once (default 60)
#   MERGE_ROWS  rows of the merge input, half overlapping (default ROWS/6: 2M for 12M)
#   BCFS        a prebuilt bcfs binary (default: go build of the repo root)
#
# Each DuckDB step is its own `node scripts/bench/duck.js SQL` process, so peak
# RSS is per step (it includes node itself, ~50 MB). DuckDB keeps its default
# thread count (all cores): that is the fair peer.
set -euo pipefail

ROWS=${1:-12000000}
RUNS=${RUNS:-3}
SLOW=${SLOW:-60}
MERGE_ROWS=${MERGE_ROWS:-$((ROWS / 6))}
SYMBOLS=10

die() { echo "bench: $*" >&2; exit 1; }
FAILED_CHECKS=0
check_failed() { echo "bench: CHECK FAILED: $*"; FAILED_CHECKS=$((FAILED_CHECKS + 1)); }

[[ $ROWS =~ ^[0-9]+$ && $ROWS -ge 100 ]] || die "ROWS must be an integer >= 100, got '$ROWS'"
[[ $MERGE_ROWS =~ ^[0-9]+$ && $MERGE_ROWS -ge 2 ]] || die "MERGE_ROWS must be an integer >= 2"
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (Debian: apt-get install -y time)"
command -v node >/dev/null || die "node missing"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-$(mktemp -d /tmp/bcfs-bench.XXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
LOG=$W/bench.log
MNT=$W/mnt
MOUNT_PID=

cleanup() {
	local rc=$?
	unmount_store || true
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "work dir kept: $W"
	else
		rm -rf "$W"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers -----------------------------------------------------------------

# timed FILE CMD...: one run of CMD under GNU time; appends
# "wall_seconds peak_rss_kb cpu_seconds" (cpu = user + system).
timed() {
	local out=$1
	shift
	echo "+ $*" >>"$LOG"
	if ! /usr/bin/time -f "%e %M %U %S" -o "$W/.time" "$@" >>"$LOG" 2>&1; then
		tail -n 20 "$LOG" >&2
		die "failed: $* (log: $LOG; KEEP=1 keeps it)"
	fi
	tail -n 1 "$W/.time" | awk '{ printf "%s %s %.2f\n", $1, $2, $3 + $4 }' >>"$out"
}

# slower SECS...: true when a first run was slow enough to skip the repeats.
slower() {
	local x
	for x in "$@"; do
		awk -v s="$x" -v m="$SLOW" 'BEGIN { exit !(s > m) }' && return 0
	done
	return 1
}

# pair STEP BPREP PPREP: runs the bcfs command in array B and the peer command
# in array P alternately, RUNS times each (once if a first run is slower than
# SLOW), each after its PREP (a function, or :), untimed. Alternating spreads
# the load of a shared machine over both sides. BSIDE=mount measures the
# bcfs side on the mount process rather than on the client.
pair() {
	local step=$1 bprep=$2 pprep=$3 i
	local fb=$W/m.$step.bcfs fp=$W/m.$step.peer
	: >"$fb"
	: >"$fp"
	for ((i = 1; i <= RUNS; i++)); do
		$bprep || die "$step: preparing bcfs failed: ${MOUNT_ERR:-see $LOG}"
		if [[ ${BSIDE:-} == mount ]]; then
			timed_mount "$fb" "${B[@]}"
		else
			timed "$fb" "${B[@]}"
		fi
		$pprep || die "$step: preparing the peer failed"
		timed "$fp" "${P[@]}"
		if ((i == 1)) && slower "$(cut -d' ' -f1 "$fb")" "$(cut -d' ' -f1 "$fp")"; then break; fi
	done
}

# median FILE COLUMN
median() {
	cut -d' ' -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

STEPS=()
declare -A PEER_DESC
step() { STEPS+=("$1"); PEER_DESC[$1]=$2; }

# report: the table of every recorded step.
report() {
	echo
	echo "rows=$ROWS merge_rows=$MERGE_ROWS symbols=$SYMBOLS cores=$(nproc) duckdb=$DUCK_VERSION"
	echo "load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%-20s %8s %8s %6s %9s %9s %8s %8s %5s\n' step bcfs_s peer_s ratio bcfs_cpu peer_cpu bcfs_MB peer_MB runs
	local s b p
	for s in "${STEPS[@]}"; do
		b=$W/m.$s.bcfs p=$W/m.$s.peer
		if [[ ! -s $b || ! -s $p ]]; then
			printf '%-22s %s\n' "$s" "not measured"
			continue
		fi
		awk -v s="$s" -v bs="$(median "$b" 1)" -v ps="$(median "$p" 1)" \
			-v bm="$(median "$b" 2)" -v pm="$(median "$p" 2)" \
			-v bc="$(median "$b" 3)" -v pc="$(median "$p" 3)" \
			-v runs="$(wc -l <"$b" | tr -d ' ')/$(wc -l <"$p" | tr -d ' ')" 'BEGIN {
			ratio = ps > 0 ? sprintf("%.2f", bs / ps) : "inf"
			printf "%-20s %8.2f %8.2f %6s %9.2f %9.2f %8.0f %8.0f %5s\n", s, bs, ps, ratio, bc, pc, bm / 1024, pm / 1024, runs
		}'
	done
	echo
	echo "peer of each step:"
	for s in "${STEPS[@]}"; do printf '  %-20s %s\n' "$s" "${PEER_DESC[$s]}"; done
	echo "medians over the runs (bcfs/peer); _s wall seconds, _cpu user+system seconds, MB peak RSS."
	echo "ratio = bcfs_s / peer_s. On a loaded machine trust the cpu columns more than the wall ones."
	echo "mount rows: bcfs_s is the client's wall time; bcfs_cpu and bcfs_MB add the mount process's CPU and give its peak RSS."
}

DUCK=(node "$REPO/scripts/bench/duck.js")
duck() { "${DUCK[@]}" "$@"; }

# sqlstr PATH: PATH as a SQL string literal.
sqlstr() { printf "'%s'" "${1//\'/\'\'}"; }

# --- setup -------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: work dir $W, log $LOG"
if [[ ! -d $REPO/scripts/bench/node_modules/@duckdb/node-api ]]; then
	echo "bench: installing @duckdb/node-api (npm ci)"
	npm ci --prefix "$REPO/scripts/bench" --no-audit --no-fund >>"$LOG" 2>&1 || die "npm ci failed (log: $LOG)"
fi
DUCK_VERSION=$(duck "SELECT version()")

if [[ -n ${BCFS:-} ]]; then
	[[ -x $BCFS ]] || die "BCFS=$BCFS is not executable"
else
	BCFS=$W/bcfs
	(cd "$REPO" && go build -o "$BCFS" .) || die "go build of bcfs failed"
fi
(cd "$REPO" && go build -o "$W/gendata" ./scripts/gendata) || die "go build of gendata failed"

BIG=$W/big.csv MERGE=$W/merge.csv
S=$W/store
echo "bench: generating $ROWS rows and a $MERGE_ROWS-row merge input"
"$W/gendata" -rows "$ROWS" -symbols "$SYMBOLS" -provider yahoo -out "$BIG"
# The merge input starts MERGE_ROWS/2 rows before the end of big.csv: those
# keys conflict (ibkr, prices moved by a few ticks), the rest are new.
"$W/gendata" -rows "$MERGE_ROWS" -symbols "$SYMBOLS" -provider ibkr -jitter 3 \
	-overlap-from $((ROWS - MERGE_ROWS / 2)) -out "$MERGE"
echo "bench: big.csv $(du -h "$BIG" | cut -f1), merge.csv $(du -h "$MERGE" | cut -f1)"

qBIG=$(sqlstr "$BIG") qMERGE=$(sqlstr "$MERGE")
qX=$(sqlstr "$W/x.parquet") qMERGED=$(sqlstr "$W/merged.parquet")

# --- 1. ingest ----------------------------------------------------------------

echo "bench: 1. ingest"
step ingest "duckdb COPY read_csv(big.csv) TO x.parquet"
fresh_store() { rm -rf "$S"; }
B=("$BCFS" ingest --store "$S" "$BIG")
P=("${DUCK[@]}" "COPY (SELECT * FROM read_csv($qBIG)) TO $qX (FORMAT parquet)")
pair ingest fresh_store :

# --- 2. export ----------------------------------------------------------------

echo "bench: 2. export"
step export_csv "duckdb COPY x.parquet TO out.csv"
B=("$BCFS" export --store "$S" --format csv -o "$W/out.csv" big)
P=("${DUCK[@]}" "COPY (SELECT * FROM $qX) TO $(sqlstr "$W/duck-out.csv")")
pair export_csv : :
step export_parquet "duckdb COPY x.parquet TO out.parquet"
B=("$BCFS" export --store "$S" --format parquet -o "$W/out.parquet" big)
P=("${DUCK[@]}" "COPY (SELECT * FROM $qX) TO $(sqlstr "$W/duck-out.parquet") (FORMAT parquet)")
pair export_parquet : :

lines=$(($(wc -l <"$W/out.csv") - 1))
[[ $lines == "$ROWS" ]] || check_failed "bcfs export has $lines rows, want $ROWS"

# --- 3. merge -----------------------------------------------------------------

echo "bench: 3. merge"
step merge "duckdb full rewrite: union, ROW_NUMBER dedup (ibkr>barchart>yahoo, newer), ORDER BY, parquet"
rm -rf "$W/store.base"
cp -a "$S" "$W/store.base"
restore_store() { rm -rf "$S" && cp -a "$W/store.base" "$S"; }
RANK="CASE provider WHEN 'ibkr' THEN 0 WHEN 'barchart' THEN 1 WHEN 'yahoo' THEN 2 ELSE 3 END"
MERGE_SQL="COPY (
  SELECT * EXCLUDE (rk, src) FROM (
    SELECT *, $RANK AS rk, 0 AS src FROM $qX
    UNION ALL BY NAME
    SELECT *, $RANK AS rk, 1 AS src FROM read_csv($qMERGE)
  )
  QUALIFY row_number() OVER (PARTITION BY timestamp, symbol ORDER BY rk, src DESC) = 1
  ORDER BY timestamp, symbol
) TO $qMERGED (FORMAT parquet)"
B=("$BCFS" ingest --store "$S" --dataset big "$MERGE")
P=("${DUCK[@]}" "$MERGE_SQL")
pair merge restore_store :
rm -rf "$W/store.base"

# bcfs and DuckDB must agree on the merged rows (untimed check).
"$BCFS" export --store "$S" --format csv -o "$W/merged-bcfs.csv" big >>"$LOG" 2>&1
COLS="timestamp, open, high, low, close, volume::DOUBLE AS volume, symbol, provider"
diff=$(duck "SELECT
  (SELECT count(*) FROM (SELECT $COLS FROM read_csv($(sqlstr "$W/merged-bcfs.csv")) EXCEPT ALL SELECT $COLS FROM $qMERGED)),
  (SELECT count(*) FROM (SELECT $COLS FROM $qMERGED EXCEPT ALL SELECT $COLS FROM read_csv($(sqlstr "$W/merged-bcfs.csv")))),
  (SELECT count(*) FROM $qMERGED)")
read -r only_bcfs only_duck merged_rows <<<"$diff"
want=$((ROWS + MERGE_ROWS - MERGE_ROWS / 2))
if [[ $only_bcfs == 0 && $only_duck == 0 && $merged_rows == "$want" ]]; then
	echo "bench: merge check ok: bcfs and DuckDB agree on all $merged_rows rows"
else
	check_failed "merge differs: $only_bcfs rows only in bcfs, $only_duck only in DuckDB; DuckDB has $merged_rows rows, want $want"
fi

# --- 4. mount -----------------------------------------------------------------

# mount_store: fresh mount of $S at $MNT in the background; false (with
# MOUNT_ERR) when it does not come up.
mount_store() {
	unmount_store
	mkdir -p "$MNT"
	"$BCFS" mount --store "$S" "$MNT" >>"$W/mount.log" 2>&1 &
	MOUNT_PID=$!
	local i
	for ((i = 0; i < 300; i++)); do
		if mountpoint -q "$MNT" && [[ -e $MNT/big.csv ]]; then return 0; fi
		if ! kill -0 "$MOUNT_PID" 2>/dev/null; then
			MOUNT_ERR="bcfs mount exited: $(tail -n 1 "$W/mount.log")"
			MOUNT_PID=
			return 1
		fi
		sleep 0.1
	done
	MOUNT_ERR="mount did not show big.csv within 30s"
	return 1
}

# unmount_store: SIGINT (the documented clean unmount), then umount as a fallback.
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

COLD_NOTE=
drop_caches() {
	sync
	if ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		COLD_NOTE="page cache could not be dropped (not permitted): cold rows are warm"
	fi
}

# mount_cpu: user + system clock ticks used so far by the mount process.
mount_cpu() { awk '{ print $14 + $15 }' "/proc/$MOUNT_PID/stat"; }

# timed_mount FILE CMD...: like timed, but the work happens in the mount
# process: record the client's wall time, the client's plus the mount
# process's CPU, and the mount process's peak RSS (VmHWM).
timed_mount() {
	local out=$1
	shift
	local before after hwm
	before=$(mount_cpu)
	: >"$W/.tm"
	timed "$W/.tm" "$@"
	after=$(mount_cpu)
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$MOUNT_PID/status")
	awk -v d=$((after - before)) -v hz="$CLK_TCK" -v hwm="$hwm" \
		'{ printf "%s %s %.2f\n", $1, hwm, $3 + d / hz }' "$W/.tm" >>"$out"
}
CLK_TCK=$(getconf CLK_TCK)

mount_skip=
if [[ $(id -u) != 0 ]]; then
	mount_skip="not root"
elif [[ ! -c /dev/fuse ]]; then
	mount_skip="no /dev/fuse"
elif ! "$BCFS" mount --help >/dev/null 2>&1; then
	mount_skip="this bcfs has no mount command"
elif ! mount_store; then
	mount_skip=$MOUNT_ERR
fi

if [[ -n $mount_skip ]]; then
	echo "bench: 4. mount skipped: $mount_skip"
	unmount_store
else
	echo "bench: 4. mount"
	# Local copies of exactly what the mount shows, for the peer side.
	"$BCFS" export --store "$S" --format csv -o "$W/local.csv" big >>"$LOG" 2>&1
	"$BCFS" export --store "$S" --format parquet -o "$W/local.parquet" big >>"$LOG" 2>&1
	# cat's output must not land in the log; sh adds ~1 ms.
	# shellcheck disable=SC2016 # $1 is the inner shell's
	CAT=(sh -c 'cat "$1" >/dev/null' sh)
	cold_mount() { mount_store && drop_caches; }
	mount_if_needed() { [[ -n $MOUNT_PID ]] || mount_store; }

	step mount_csv_cold "cat local copy of the exported CSV, page cache dropped"
	BSIDE=mount
	B=("${CAT[@]}" "$MNT/big.csv") P=("${CAT[@]}" "$W/local.csv")
	pair mount_csv_cold cold_mount drop_caches
	step mount_csv_warm "cat local copy of the exported CSV, cached"
	pair mount_csv_warm mount_if_needed :
	if cmp -s "$MNT/big.csv" "$W/local.csv"; then
		echo "bench: mount check ok: big.csv view == bcfs export"
	else
		check_failed "big.csv through the mount differs from bcfs export"
	fi

	step mount_parquet_cold "cat local copy of the exported Parquet, page cache dropped"
	B=("${CAT[@]}" "$MNT/big.parquet") P=("${CAT[@]}" "$W/local.parquet")
	pair mount_parquet_cold cold_mount drop_caches
	step mount_parquet_warm "cat local copy of the exported Parquet, cached"
	pair mount_parquet_warm mount_if_needed :
	rows_view=$(duck "SELECT count(*) FROM read_parquet($(sqlstr "$MNT/big.parquet"))" 2>>"$LOG" || echo error)
	if [[ $rows_view == "$want" ]]; then
		echo "bench: mount check ok: DuckDB reads $rows_view rows from big.parquet"
	else
		check_failed "DuckDB read '$rows_view' rows from big.parquet, want $want"
	fi

	step mount_cp_new "bcfs ingest of the same file into a fresh store"
	# Every run copies into the same new name, so each starts from the store
	# as it was before the first copy.
	unmount_store
	rm -rf "$W/store.base"
	cp -a "$S" "$W/store.base"
	cp_prep() { unmount_store && restore_store && mount_store; }
	fresh_cli_store() { rm -rf "$W/store.cli"; }
	B=(cp "$BIG" "$MNT/copy.csv") P=("$BCFS" ingest --store "$W/store.cli" --dataset copy "$BIG")
	pair mount_cp_new cp_prep fresh_cli_store
	BSIDE=
	unmount_store
	rm -rf "$W/store.base" "$W/store.cli"
fi

[[ -n $COLD_NOTE ]] && echo "bench: note: $COLD_NOTE"
report | tee "$W/report.txt"
((FAILED_CHECKS == 0)) || die "$FAILED_CHECKS check(s) failed: the figures above are not comparable"
