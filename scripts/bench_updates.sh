#!/usr/bin/env bash
# scripts/bench_updates.sh [ROWS] — what a daily update costs: bytes written to
# the store and time per commit, for DAYS updates of one day of 1-minute bars
# (10 symbols, 14,400 rows) into a dataset of ROWS rows in month partitions.
#
#   scripts/bench_updates.sh             # 12,000,000 rows (~790 MB CSV), 30 days
#   scripts/bench_updates.sh 1000000     # quick check
#
# The peer is the same bcfs with appends off (BCFS_APPEND=0: every update
# rewrites its month partition whole, as bcfs did before appends), run in the
# same process sequence: day by day, the append store then the peer store, so
# both see the same machine load.
#
# Bytes written = the sizes of the files an update created in the store
# (partition files and the manifest; found by listing the store before and
# after). The data's own Parquet = the partition file that day makes when
# ingested alone into an empty store. Commit time = wall time of the whole
# `bcfs ingest` process (start, open, decode, merge, write, commit), so an
# upper bound of the commit itself; "in bcfs" is the ingest's own time as
# its log line says (Store.Ingest: decode, merge, write, commit). At the end the append store is compacted
# (`bcfs compact`), and its bytes are counted too.
#
# Environment:
#   DAYS        updates (default 30)
#   BENCH_DIR   work dir (default: a fresh mktemp -d /tmp/bcfs-updates.XXXX)
#   KEEP=1      keep the work dir
#   BCFS        a prebuilt bcfs binary (default: go build of the repo root)
set -euo pipefail

ROWS=${1:-12000000}
DAYS=${DAYS:-30}
DAY_ROWS=14400
SYMBOLS=10

die() { echo "bench_updates: $*" >&2; exit 1; }
[[ $ROWS =~ ^[0-9]+$ && $ROWS -ge $DAY_ROWS ]] || die "ROWS must be an integer >= $DAY_ROWS, got '$ROWS'"
[[ $DAYS =~ ^[0-9]+$ && $DAYS -ge 1 ]] || die "DAYS must be an integer >= 1"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-$(mktemp -d /tmp/bcfs-updates.XXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
LOG=$W/bench.log
cleanup() {
	local rc=$?
	if [[ ${KEEP:-0} == 1 ]]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BCFS=${BCFS:-}
if [[ -z $BCFS ]]; then
	(cd "$REPO" && go build -o "$W/bcfs" .) || die "go build failed"
	BCFS=$W/bcfs
fi
(cd "$REPO" && go build -o "$W/gendata" ./scripts/gendata) || die "go build of gendata failed"

# --- data --------------------------------------------------------------------
echo "generating $ROWS rows and $DAYS days of $DAY_ROWS rows after them..."
"$W/gendata" -rows "$ROWS" -symbols "$SYMBOLS" -provider yahoo -out "$W/big.csv"
"$W/gendata" -rows $((DAYS * DAY_ROWS)) -symbols "$SYMBOLS" -provider yahoo -overlap-from "$ROWS" -out "$W/days.csv"
mkdir -p "$W/days"
awk -v n=$DAY_ROWS -v dir="$W/days" 'NR == 1 { h = $0; next }
	{ i = int((NR - 2) / n) + 1; f = sprintf("%s/%02d.csv", dir, i); if (!(f in seen)) { print h > f; seen[f] = 1 } print >> f }' "$W/days.csv"
[[ $(ls "$W/days" | wc -l) -eq $DAYS ]] || die "split into $(ls "$W/days" | wc -l) files, want $DAYS"

# --- helpers -----------------------------------------------------------------
# files STORE: "path size" of every file under the store's datasets, sorted.
files() { (cd "$1" && find datasets -type f -printf '%p %s\n' | LC_ALL=C sort); }
# written BEFORE AFTER: bytes of the files in AFTER that BEFORE lacks.
written() { LC_ALL=C comm -13 "$1" "$2" | awk '{ s += $2 } END { print s + 0 }'; }
now_ns() { date +%s%N; }
median() { LC_ALL=C sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }

ingest() { # MODE STORE FILE
	local append=1
	[[ $1 == rewrite ]] && append=0
	echo "+ BCFS_APPEND=$append bcfs --store $2 ingest --dataset bars $3" >>"$LOG"
	BCFS_APPEND=$append /usr/bin/time -f %M -a -o "${RSS_OUT:-/dev/null}" "$BCFS" --store "$2" -v ingest --dataset bars "$3" >"$W/.out" 2>&1 || {
		cat "$W/.out" >>"$LOG"
		die "ingest of $3 ($1) failed (log: $LOG; KEEP=1 keeps it)"
	}
	cat "$W/.out" >>"$LOG"
	# The ingest's own time in the process (decode, merge, write, commit),
	# from its log line: "msg=ingested ... elapsed=35.2ms".
	if [[ -n ${MS_OUT:-} ]]; then
		grep 'msg=ingested' "$W/.out" | sed -n 's/.*elapsed=\([0-9.]*\)\([µmn]*s\).*/\1 \2/p' |
			awk '{ v = $1; if ($2 == "s") v *= 1000; else if ($2 == "µs") v /= 1000; else if ($2 == "ns") v /= 1e6; printf "%.1f\n", v }' >>"$MS_OUT"
	fi
}

# --- base dataset --------------------------------------------------------------
for mode in append rewrite; do
	echo "ingesting the base dataset ($mode store)..."
	ingest "$mode" "$W/store-$mode" "$W/big.csv"
done

# --- daily updates -------------------------------------------------------------
for mode in append rewrite; do : >"$W/$mode.ms"; : >"$W/$mode.inms"; : >"$W/$mode.bytes"; : >"$W/$mode.rss"; done
: >"$W/own.bytes"
for f in "$W"/days/*.csv; do
	for mode in append rewrite; do
		st=$W/store-$mode
		files "$st" >"$W/before"
		t0=$(now_ns)
		RSS_OUT=$W/$mode.rss MS_OUT=$W/$mode.inms ingest "$mode" "$st" "$f"
		t1=$(now_ns)
		files "$st" >"$W/after"
		echo $(((t1 - t0) / 1000000)) >>"$W/$mode.ms"
		written "$W/before" "$W/after" >>"$W/$mode.bytes"
	done
	own=$W/own-$(basename "$f" .csv)
	ingest append "$own" "$f"
	(cd "$own" && find datasets -name '*.parquet' -printf '%s\n') | sum >>"$W/own.bytes"
	rm -rf "$own"
done

# --- compaction of the append store ------------------------------------------
files "$W/store-append" >"$W/before"
t0=$(now_ns)
"$BCFS" --store "$W/store-append" compact bars >>"$LOG" 2>&1 || die "compact failed (log: $LOG)"
t1=$(now_ns)
files "$W/store-append" >"$W/after"
compact_bytes=$(written "$W/before" "$W/after")
compact_ms=$(((t1 - t0) / 1000000))
for mode in append; do
	"$BCFS" --store "$W/store-$mode" export bars >"$W/export-$mode-compacted.csv"
done
"$BCFS" --store "$W/store-rewrite" export bars >"$W/export-rewrite.csv"
cmp -s "$W/export-append-compacted.csv" "$W/export-rewrite.csv" || die "the append store exports other bytes than the rewrite store"

# --- report --------------------------------------------------------------------
own=$(sum <"$W/own.bytes")
a_bytes=$(sum <"$W/append.bytes")
r_bytes=$(sum <"$W/rewrite.bytes")
a_ms=$(median <"$W/append.ms")
r_ms=$(median <"$W/rewrite.ms")
a_last=$(tail -n 10 "$W/append.bytes" | sum)
r_last=$(tail -n 10 "$W/rewrite.bytes" | sum)
own_last=$(tail -n 10 "$W/own.bytes" | sum)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
printf '\n%d daily updates of %d rows into %d rows (month partitions); the data added is %d bytes of Parquet\n' "$DAYS" "$DAY_ROWS" "$ROWS" "$own"
printf '%-28s %14s %14s %10s\n' "" "append" "rewrite (peer)" "ratio"
printf '%-28s %14d %14d %10s\n' "bytes written, all days" "$a_bytes" "$r_bytes" "$(ratio "$a_bytes" "$r_bytes")"
printf '%-28s %14s %14s\n' "  / data added" "$(ratio "$a_bytes" "$own")x" "$(ratio "$r_bytes" "$own")x"
printf '%-28s %14s %14s\n' "  last 10 days / data added" "$(ratio "$a_last" "$own_last")x" "$(ratio "$r_last" "$own_last")x"
printf '%-28s %14s %14s %10s\n' "median commit (ms, process)" "$a_ms" "$r_ms" "$(ratio "$a_ms" "$r_ms")"
printf '%-28s %14s %14s\n' "max commit (ms, process)" "$(sort -n "$W/append.ms" | tail -n 1)" "$(sort -n "$W/rewrite.ms" | tail -n 1)"
a_in=$(median <"$W/append.inms")
r_in=$(median <"$W/rewrite.inms")
printf '%-28s %14s %14s %10s\n' "median ingest (ms, in bcfs)" "$a_in" "$r_in" "$(ratio "$a_in" "$r_in")"
printf 'bcfs compact afterwards: %d bytes in %d ms; appends + compaction = %sx the data added (export byte-identical to the peer)\n' \
	"$compact_bytes" "$compact_ms" "$(ratio $((a_bytes + compact_bytes)) "$own")"
# For scripts/bench.sh: RESULT STEP BCFS PEER BCFS_RSS_KB PEER_RSS_KB RUNS UNIT
# (bytes: B; the peer of the byte counts is the data added, of the commit
# time the rewrite store; RSS: median peak RSS of the daily ingests).
a_rss=$(median <"$W/append.rss") r_rss=$(median <"$W/rewrite.rss")
echo "RESULT updates_bytes $a_bytes $own - - $DAYS B"
echo "RESULT updates_bytes_last10 $a_last $own_last - - $((DAYS < 10 ? DAYS : 10)) B"
echo "RESULT updates_bytes_compacted $((a_bytes + compact_bytes)) $own - - $DAYS B"
echo "RESULT updates_bytes_rewrite $r_bytes $own - - $DAYS B"
echo "RESULT update_commit $(awk -v a="$a_ms" 'BEGIN { print a / 1000 }') $(awk -v r="$r_ms" 'BEGIN { print r / 1000 }') $a_rss $r_rss $DAYS s"
echo "RESULT update_ingest $(awk -v a="$a_in" 'BEGIN { print a / 1000 }') $(awk -v r="$r_in" 'BEGIN { print r / 1000 }') $a_rss $r_rss $DAYS s"
