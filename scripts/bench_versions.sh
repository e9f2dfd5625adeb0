#!/usr/bin/env bash
# scripts/bench_versions.sh — cost of history and retention on a store with
# many versions: bcfs log, listing .versions/NAME/ through a mount, cleanup
# (dry run and real) and row retention, each with wall time and peak RSS
# (GNU time), beside a peer doing the raw file work.
#
#   scripts/bench_versions.sh                 # 1,000 versions, 12M rows
#   VERSIONS=200 ROWS=2000000 scripts/bench_versions.sh   # quick check
#
# Needs go, /usr/bin/time, and for the mount step root and /dev/fuse. The
# store is built once (scripts/versionsbench) in BENCH_DIR and copied with
# cp -a before each destructive step.
set -euo pipefail
VERSIONS=${VERSIONS:-1000}
ROWS=${ROWS:-12000000}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${BENCH_DIR:-/tmp/bcfs-bench-versions}
S=$W/store DS=ES_1min
mkdir -p "$W"
BCFS=${BCFS:-$W/bcfs}
[[ -n ${BCFS_PREBUILT:-} ]] || (cd "$REPO" && go build -o "$BCFS" .)
if [[ ! -f $S/bcfs.json ]]; then
  (cd "$REPO" && go run ./scripts/versionsbench -store "$S" -versions "$VERSIONS" -rows "$ROWS")
fi

# measure LABEL CMD...: wall seconds and peak RSS of one run.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/time.out" "$@" > "$W/cmd.out" 2> "$W/cmd.err" || { cat "$W/cmd.err" >&2; echo "bench_versions: $label failed" >&2; exit 1; }
  read -r secs kb < "$W/time.out"
  printf '%-52s %8.2f s %8.1f MB\n' "$label" "$secs" "$(echo "$kb/1024" | bc -l)"
}
fresh() { rm -rf "$W/$1"; cp -a "$S" "$W/$1"; echo "$W/$1"; }

echo "store: $(du -sh "$S" | cut -f1), $(ls "$S/datasets/$DS/_log" | wc -l) manifests, $(find "$S/datasets/$DS" -name '*.parquet' | wc -l) partition files"
measure "bcfs log ($VERSIONS versions)" "$BCFS" --store "$S" log "$DS"
measure "bcfs log --json" "$BCFS" --store "$S" log --json "$DS"
measure "peer: cat of every manifest" sh -c "cat $S/datasets/$DS/_log/*.json > /dev/null"

if [[ -e /dev/fuse && $(id -u) == 0 ]]; then
  MNT=$W/mnt; mkdir -p "$MNT"
  "$BCFS" --store "$S" mount --daemon "$MNT" > /dev/null
  measure "ls .versions/$DS (fresh mount, $((2*VERSIONS+1)) names)" ls "$MNT/.versions/$DS"
  measure "ls -l .versions/$DS (stat: reads each manifest)" ls -l "$MNT/.versions/$DS"
  measure "peer: ls -l of the _log folder" ls -l "$S/datasets/$DS/_log"
  measure "cat .versions/$DS/@$(date -u +%F).parquet" sh -c "cat '$MNT/.versions/$DS/@$(date -u +%F).parquet' > /dev/null"
  umount "$MNT"
fi

for keep in 900 10; do
  D=$(fresh keep$keep)
  "$BCFS" --store "$D" policy add "*" --keep-versions "$keep" > /dev/null
  measure "cleanup --dry-run, keep-versions $keep" "$BCFS" --store "$D" cleanup --dry-run --grace 0s
  measure "cleanup, keep-versions $keep" "$BCFS" --store "$D" cleanup --grace 0s --json
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  removed %d versions, %d files, %.1f MB" % (r["versions_removed"], r["files_deleted"], r["space_freed_bytes"]/1e6))' "$W/cmd.out"
  NFILES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files_deleted"])' "$W/cmd.out")
  rm -rf "$W/peer"; mkdir -p "$W/peer"
  set +o pipefail
  find "$S/datasets/$DS" -name '*.parquet' | head -n "$NFILES" | xargs -r cp -t "$W/peer"
  set -o pipefail
  measure "peer: rm -f of $NFILES partition files" sh -c "rm -f '$W'/peer/* && sync -f '$W/peer'"
  measure "bcfs verify (every kept version) after" "$BCFS" --store "$D" verify
done

D=$(fresh droprows)
HALF_DAYS=$(( ROWS / 2 / 1440 ))
"$BCFS" --store "$D" policy add "*" --drop-rows-older-than "${HALF_DAYS}d" > /dev/null
measure "cleanup --drop-rows-older-than ${HALF_DAYS}d (half of $ROWS rows)" "$BCFS" --store "$D" cleanup --grace 0s --json
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("  dropped %d rows: %d partitions whole, %d rewritten" % (r["rows_dropped"], r["partitions_removed"], r["partitions_rewritten"]))' "$W/cmd.out"
# Peer: the same work done by hand, one partition's rows ingested into an
# empty store (decode, write one partition, commit).
PART=$W/part.csv
set +o pipefail
"$BCFS" --store "$S" export "$DS" | head -$(( ROWS / (ROWS / 525600 + 1) + 1 )) > "$PART"
set -o pipefail
rm -rf "$W/peerstore"
measure "peer: bcfs ingest of one partition's rows ($(($(wc -l < "$PART") - 1)))" "$BCFS" --store "$W/peerstore" ingest -d "$DS" "$PART"
rm -rf "$W"/keep* "$W"/droprows "$W/peerstore" "$W/peer" "$PART"
