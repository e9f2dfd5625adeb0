#!/usr/bin/env bash
# scripts/bench_backup.sh [ROWS] — throughput of bcfs backup and restore
# against peers doing the same copy, on this machine:
#
#   folder target: `bcfs backup` vs `cp -r` of the store folder;
#                  `bcfs restore` vs `cp -r` of the backup folder
#   S3 target:     `bcfs backup` vs bulks3 put (a plain bulk upload of the
#                  same files with the same client library, 4 requests at a
#                  time like bcfs); `bcfs restore` vs bulks3 get
#   no change:     a second `bcfs backup` of an unchanged store (listing)
#
# The S3 server is Versity's gateway (versitygw, posix backend) on
# 127.0.0.1, as in the tests; scripts/test.sh installs it. Page cache stays
# warm for both sides (nothing is dropped), so the figures compare the
# programs, not the disk.
#
#   scripts/bench_backup.sh            # 12,000,000 rows (~790 MB CSV)
#   scripts/bench_backup.sh 300000     # quick check
#
# bcfs fsyncs every file it writes (and its folder) before publishing it;
# cp and bulks3 get do not, so on a busy disk the wall ratio includes
# writeback that the peer leaves to the kernel: the folder cases are also
# timed against `cp -r` (and the S3 restore against bulks3 get) followed
# by `sync -f` (syncfs of the target's file system), and CPU time (user +
# system) is reported beside wall time. Needs /usr/bin/time.
#
# Environment: BENCH_DIR (work dir, default mktemp), KEEP=1 (keep it),
# RUNS (repeats, median reported, default 3), BCFS_VERSITYGW (server binary).
set -euo pipefail

ROWS=${1:-12000000}
RUNS=${RUNS:-3}
die() { echo "bench_backup: $*" >&2; exit 1; }
[[ $ROWS =~ ^[0-9]+$ && $ROWS -ge 100 ]] || die "ROWS must be an integer >= 100"
GW=${BCFS_VERSITYGW:-}
for c in "$GW" "$(command -v versitygw || true)" /var/cache/bcfs-ci/bin/versitygw "$HOME/.cache/bcfs-ci/bin/versitygw"; do
	if [[ -n $c && -x $c ]]; then GW=$c; break; fi
done
[[ -x $GW ]] || die "versitygw not found (scripts/test.sh installs it)"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-$(mktemp -d /tmp/bcfs-bench-backup.XXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
GW_PID=
cleanup() {
	local rc=$?
	if [[ -n $GW_PID ]]; then kill -9 "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true; fi
	if [[ ${KEEP:-0} == 1 ]]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
	exit $rc
}
trap cleanup EXIT

echo "building bcfs, gendata, bulks3 ..."
(cd "$REPO" && go build -o "$W/bcfs" . && go build -o "$W/gendata" ./scripts/gendata && go build -o "$W/bulks3" ./scripts/bulks3)
B=$W/bcfs
ST=$W/store
echo "generating and ingesting $ROWS rows ..."
"$W/gendata" -rows "$ROWS" -symbols 10 -provider yahoo -out "$W/bars.csv"
"$B" --store "$ST" ingest --dataset ES_1min "$W/bars.csv" >/dev/null
rm -f "$W/bars.csv"
files=$(find "$ST/datasets" -name '*.parquet' | wc -l)
bytes=$(du -sb "$ST/datasets" | cut -f1)
echo "store: $files partition files, $((bytes / 1000000)) MB under datasets/"

# S3 server
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret0123456789 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
mkdir -p "$W/gw"
"$GW" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "127.0.0.1:$PORT" posix "$W/gw" >"$W/gw.log" 2>&1 &
GW_PID=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
"$W/bulks3" mb bench
"$W/bulks3" mb peer
"$B" --store "$ST" backup target add usb "file://$W/usb"
"$B" --store "$ST" backup target add s3 "s3://bench/bcfs"

# timeit NAME CMD... : "wall cpu" seconds (cpu = user + system) appended to $W/t.NAME
timeit() {
	local name=$1; shift
	/usr/bin/time -f "%e %U %S" -o "$W/time.out" "$@" >/dev/null
	awk '{ print $1, $2 + $3 }' "$W/time.out" >>"$W/t.$name"
}
# median NAME COLUMN (1 wall, 2 cpu)
median() { cut -d' ' -f"$2" "$W/t.$1" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

for run in $(seq "$RUNS"); do
	echo "run $run of $RUNS ..."
	rm -rf "$W/usb" "$W/cp" "$W/cps" "$W/gw/bench/bcfs" "$W/gw/peer/x" "$W/r1" "$W/r2" "$W/rcp" "$W/rcps" "$W/rget" "$W/rgets"
	mkdir "$W/usb"
	sync
	timeit backup_folder "$B" --store "$ST" backup --target usb
	timeit cp_store cp -r "$ST" "$W/cp"
	timeit cp_store_sync sh -c 'cp -r "$1" "$2" && sync -f "$2"' sh "$ST" "$W/cps"
	timeit backup_s3 "$B" --store "$ST" backup --target s3
	timeit put_peer "$W/bulks3" put "$ST/datasets" s3://peer/x
	timeit nochange "$B" --store "$ST" backup
	timeit restore_folder "$B" --store "$W/r1" restore --from "file://$W/usb"
	timeit cp_backup cp -r "$W/usb" "$W/rcp"
	timeit cp_backup_sync sh -c 'cp -r "$1" "$2" && sync -f "$2"' sh "$W/usb" "$W/rcps"
	timeit restore_s3 "$B" --store "$W/r2" restore --from s3://bench/bcfs
	timeit get_peer "$W/bulks3" get s3://peer/x "$W/rget"
	timeit get_peer_sync sh -c '"$1" get s3://peer/x "$2" && sync -f "$2"' sh "$W/bulks3" "$W/rgets"
	# The restores are exact.
	"$B" --store "$W/r1" verify >/dev/null
	"$B" --store "$W/r2" verify >/dev/null
done
cmp <("$B" --store "$ST" export ES_1min) <("$B" --store "$W/r2" export ES_1min) || die "restored export differs"

mb=$((bytes / 1000000))
row() { # LABEL BCFS-TIMES PEER-TIMES PEER-NAME
	awk -v l="$1" -v b="$(median "$2" 1)" -v p="$(median "$3" 1)" -v bc="$(median "$2" 2)" -v pc="$(median "$3" 2)" -v n="$4" -v mb="$mb" \
		'BEGIN { printf "%-15s bcfs %6.2fs %4.0f MB/s cpu %5.2fs | %-10s %6.2fs %4.0f MB/s cpu %5.2fs | ratio %5.2f wall, %s cpu\n", l, b, mb/b, bc, n, p, mb/p, pc, b/p, (pc > 0 ? sprintf("%5.2f", bc/pc) : "-") }'
}
echo
echo "medians of $RUNS runs, $ROWS rows, $files files, $mb MB (ratio = bcfs / peer); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
row "backup folder" backup_folder cp_store "cp -r"
row "backup folder" backup_folder cp_store_sync "cp -r; sync"
row "backup s3" backup_s3 put_peer "bulks3 put"
row "restore folder" restore_folder cp_backup "cp -r"
row "restore folder" restore_folder cp_backup_sync "cp -r; sync"
row "restore s3" restore_s3 get_peer "bulks3 get"
row "restore s3" restore_s3 get_peer_sync "get; sync"
printf "%-15s bcfs %6.2fs cpu %5.2fs (a backup of an unchanged store to both targets: listing)\n" "no-change" "$(median nochange 1)" "$(median nochange 2)"
