#!/usr/bin/env bash
# scripts/bench_s3.sh — the store on S3 against the same store on local disk,
# on a local S3 server (versitygw over a folder on 127.0.0.1), in one run.
# Not part of CI. Prints:
#
#   1. requests per minute an idle mount sends, with 10 and with 1,000
#      datasets (counted by a counting proxy, scripts/bench/s3count), and the
#      requests of one commit (CLI ingest of one row; cp of one row into a
#      mount);
#   2. ingest of ROWS rows (scripts/gendata) and export of the CSV view, S3
#      store time / local store time;
#   3. cold and warm `cat` of a mounted CSV view, S3 mount vs local mount;
#   4. commit latency of a one-row ingest (median of RUNS), local vs S3.
#
#   scripts/bench_s3.sh                 # ROWS=12000000
#   ROWS=1000000 scripts/bench_s3.sh    # quick
#
# Environment: BENCH_DIR (default /tmp/bcfs-bench-s3, removed first), ROWS,
# RUNS (default 5), IDLE_SECONDS (default 60), BCFS_VERSITYGW (default: the
# one scripts/test.sh installs). Needs root and /dev/fuse for the mounts.
set -euo pipefail

ROWS=${ROWS:-12000000}
RUNS=${RUNS:-5}
IDLE=${IDLE_SECONDS:-60}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-/tmp/bcfs-bench-s3}
GW=${BCFS_VERSITYGW:-}
for p in "$GW" /var/cache/bcfs-ci/bin/versitygw "$HOME/.cache/bcfs-ci/bin/versitygw" "$(command -v versitygw || true)"; do
	[[ -n $p && -x $p ]] && GW=$p && break
done
[[ -x $GW ]] || { echo "bench_s3: versitygw not found (scripts/test.sh installs it)" >&2; exit 1; }

PIDS=() MOUNTS=()
cleanup() {
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$W"
mkdir -p "$W"/gw/data/bench "$W/src"
(cd "$REPO" && go build -o "$W/bcfs" . && go build -o "$W/gendata" ./scripts/gendata && go build -o "$W/s3count" ./scripts/bench/s3count)

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GWPORT=$(port) PXPORT=$(port)
"$GW" --access benchkey --secret benchsecret0123456789 --port "127.0.0.1:$GWPORT" posix "$W/gw/data" >"$W/gw/log" 2>&1 &
PIDS+=($!)
"$W/s3count" -listen "127.0.0.1:$PXPORT" -target "http://127.0.0.1:$GWPORT" >"$W/s3count.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "127.0.0.1:$PXPORT/__count" >/dev/null && break; sleep 0.1; done

export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret0123456789 AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$PXPORT AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
B=$W/bcfs
reset() { curl -sf -XPOST "127.0.0.1:$PXPORT/__reset"; }
count() { curl -sf "127.0.0.1:$PXPORT/__count"; }
total() { count | python3 -c 'import json,sys; print(json.load(sys.stdin).get("total",0))'; }
now() { date +%s.%N; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

mount_bg() { # STORE MNT [flags...]
	local st=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	"$B" --store "$st" mount "$@" "$mnt" >>"$W/mount.log" 2>&1 &
	PIDS+=($!)
	MOUNTS+=("$mnt")
	for _ in $(seq 300); do mountpoint -q "$mnt" && return 0; sleep 0.1; done
	echo "bench_s3: mount of $st did not come up" >&2
	tail "$W/mount.log" >&2
	exit 1
}
unmount() { umount "$1" 2>/dev/null || umount -l "$1"; sleep 0.5; }

onerow() { # FILE DAY
	printf 'timestamp,open,high,low,close,volume\n2024-02-%02d 10:00:00,1,2,0.5,1.5,%d\n' "$2" "$2" >"$1"
}

echo "== 1. requests (counting proxy in front of versitygw)"
make_datasets() { # STORE N
	local st=$1 n=$2 files=()
	mkdir -p "$W/src/ds$n"
	for i in $(seq -w 1 "$n"); do
		printf 'timestamp,open,high,low,close,volume\n2024-01-02 09:30:00,1,2,0.5,1.5,%d\n' "$((10#$i))" >"$W/src/ds$n/D$i.csv"
		files+=("$W/src/ds$n/D$i.csv")
	done
	"$B" --store "$st" --work-dir "$W/work-cli" ingest "${files[@]}" >/dev/null
}
for N in 10 1000; do
	ST=s3://bench/n$N
	make_datasets "$ST" "$N"
	mount_bg "$ST" "$W/mnt-n$N" --work-dir "$W/work-n$N"
	sleep 3
	reset
	sleep "$IDLE"
	c=$(count)
	echo "idle mount, $N datasets, refresh 2s: $(python3 -c "import json; d=json.loads('$c'); print(round(d.get('total',0)*60/$IDLE,1))") requests/min  ($c over ${IDLE}s)"
	reset
	ls -l "$W/mnt-n$N" >/dev/null
	echo "ls -l of the mount's root, $N datasets (cold kernel cache): $(count)"
	sleep 1.5
	reset
	cat "$W/mnt-n$N/D$(printf %0${#N}d 1).csv" >/dev/null
	echo "open and read of one view: $(count)"
	if [[ $N == 1000 ]]; then
		onerow "$W/src/one.csv" 1
		reset
		"$B" --store "$ST" --work-dir "$W/work-cli" ingest --dataset D0001 "$W/src/one.csv" >/dev/null
		echo "one commit (CLI ingest of one row, $N datasets): $(count)"
		onerow "$W/src/one2.csv" 2
		reset
		t0=$(now)
		cp "$W/src/one2.csv" "$W/mnt-n$N/D0002.csv"
		sleep 1
		echo "one commit (cp of one row into the mount, 1 s after, polls included): $(count)"
	fi
	unmount "$W/mnt-n$N"
done

echo "== 2. ingest of $ROWS rows and CSV export: S3 store / local store"
"$W/gendata" -rows "$ROWS" -symbols 4 -provider yahoo -out "$W/src/big.csv"
LOCAL=$W/local
t0=$(now); "$B" --store "$LOCAL" ingest --dataset BIG "$W/src/big.csv" >/dev/null; t1=$(now)
"$B" --store s3://bench/big --work-dir "$W/work-big" ingest --dataset BIG "$W/src/big.csv" >/dev/null; t2=$(now)
li=$(python3 -c "print($t1-$t0)") si=$(python3 -c "print($t2-$t1)")
echo "ingest: local $(printf %.2f "$li") s, S3 $(printf %.2f "$si") s, ratio S3/local $(ratio "$si" "$li")"
t0=$(now); "$B" --store "$LOCAL" export BIG -o "$W/local.csv"; t1=$(now)
reset
"$B" --store s3://bench/big --work-dir "$W/work-big" export BIG -o "$W/s3.csv"; t2=$(now)
le=$(python3 -c "print($t1-$t0)") se=$(python3 -c "print($t2-$t1)")
cmp "$W/local.csv" "$W/s3.csv" || { echo "bench_s3: exports differ" >&2; exit 1; }
echo "CSV export ($(stat -c %s "$W/local.csv") bytes): local $(printf %.2f "$le") s, S3 $(printf %.2f "$se") s, ratio S3/local $(ratio "$se" "$le"); requests $(count)"

echo "== 3. cat of the mounted CSV view, cold and warm (fresh mount each; warm = second cat)"
catview() { # MNT
	local t0 t1 t2
	t0=$(now); cat "$1/BIG.csv" >/dev/null; t1=$(now); cat "$1/BIG.csv" >/dev/null; t2=$(now)
	python3 -c "print(f'{$t1-$t0:.2f} {$t2-$t1:.2f}')"
}
mount_bg "$LOCAL" "$W/mnt-local"
read -r lc lw < <(catview "$W/mnt-local")
unmount "$W/mnt-local"
mount_bg s3://bench/big "$W/mnt-s3" --work-dir "$W/work-mnt" --cache-dir "$W/cache-mnt"
read -r sc sw < <(catview "$W/mnt-s3")
unmount "$W/mnt-s3"
echo "cold cat: local $lc s, S3 $sc s (ratio $(ratio "$sc" "$lc")); warm cat: local $lw s, S3 $sw s (ratio $(ratio "$sw" "$lw"))"
mount_bg s3://bench/big "$W/mnt-s3b" --work-dir "$W/work-mnt" --cache-dir "$W/cache-mnt"
read -r sc2 _ < <(catview "$W/mnt-s3b")
unmount "$W/mnt-s3b"
echo "cat on a new mount with the disk cache already filled: S3 $sc2 s (the rendered-chunk memory cache is cold)"

echo "== 4. one-row ingest commit latency, median of $RUNS"
lat() { # STORE [flags]
	local st=$1 xs=()
	shift
	for i in $(seq 1 "$RUNS"); do
		onerow "$W/src/lat$i.csv" "$i"
		local t0 t1
		t0=$(now); "$B" --store "$st" "$@" ingest --dataset LAT "$W/src/lat$i.csv" >/dev/null; t1=$(now)
		xs+=("$(python3 -c "print($t1-$t0)")")
	done
	printf '%s\n' "${xs[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'
}
ll=$(lat "$LOCAL")
sl=$(lat s3://bench/lat --work-dir "$W/work-lat")
echo "one-row ingest (whole CLI process): local $ll s, S3 $sl s, ratio $(ratio "$sl" "$ll")"
