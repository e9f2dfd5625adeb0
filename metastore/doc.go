// Package metastore keeps the versions of bcfs datasets: one JSON manifest
// per version, published by an atomic commit, plus recovery, garbage
// collection and the metadata documents shown under .metadata/.
//
// Terms:
//
//   - Store root: the folder holding bcfs.json (StoreConfig) and datasets/.
//   - Dataset: a relative slash name ("ES_1min", "yahoo/AAPL", see
//     CheckName); its dataset dir is datasets/<name>, recognized by its _log
//     folder. Datasets may nest: "yahoo/AAPL" lives inside "yahoo"'s dir.
//   - Partition: one immutable Parquet file <key>/<uuid>.parquet holding the
//     rows of one time bucket (key "year=2024/month=01", see PartitionKey),
//     sorted by (timestamp, symbol). Written once, never modified.
//   - Row group: a byte range of a partition file; the manifest records its
//     rows, the byte length of its CSV rendering, so view sizes are known
//     without reading data, and its CRC32C (and the footer's), which every
//     read checks (manifests from before checksums have none).
//   - Manifest: _log/<20-digit version>.json. It lists the partition files
//     of the version (sorted by key, then time: a key may have several files
//     with disjoint, increasing time ranges, FormatMultiFile), the schema, the settings, the parent
//     version, counts, view sizes and the ingest report, and ends with a
//     SHA-256 checksum of its own encoding.
//   - Commit point: the exclusive hard link of a fsynced temp manifest to its
//     version name (Commit). Before it the version does not exist; after it
//     it is complete. Whoever links version N first wins; others get
//     ErrConflict and re-merge on the new head (optimistic concurrency).
//   - Head: the highest version whose manifest decodes (Head). A corrupt
//     manifest above it is skipped; new commits use NextVersion so they
//     never collide with it.
//   - Pinned version: a version an open snapshot reads; Recover never removes
//     its files (the caller passes their paths).
//   - Retention: every version is kept until a retention policy drops it
//     (DropVersions). A dropped version leaves a tombstone,
//     _log/.dropped-<20 digits>.json, holding its manifest; while the
//     tombstone is younger than the grace period its files stay, so a reader
//     or rollback that loaded the manifest just before still finds them.
//   - Garbage: a partition file no manifest and no young tombstone
//     references, not pinned, and older than a grace period, a temp file of
//     an interrupted write, or an old tombstone (Collect). Garbage is only
//     ever a file whose name the store generated.
//
// Invariants: a committed manifest is never modified; every partition file a
// retained manifest names exists; files are made durable (fsync, or for a
// group commit of several datasets one syncfs, PublishGroup) before the
// manifest naming them, and a manifest before its publishing link.
//
// All file access goes through FS so that tests can inject faults and
// simulate crashes (package faultfs, imported only by tests). A local store
// uses DirFS, which resolves every path from the store folder without
// following symlinks. Encode, and so Commit, refuse a version beyond what
// readers accept (CheckLimits: columns, column names, header size, row
// groups). Dataset names have one canonical form (CheckName).
//
// A store on S3 runs on ObjFS, an FS over an object store (objfs.go): the
// commit point becomes a conditional PUT (If-None-Match: *), renames become
// copies then deletes with manifests last in and first out, and every
// commit records itself in the store's journal (journal.go) so that mounts
// on other machines learn of it with one LIST per poll. DiskCache
// (objfs_cache.go) keeps partition blocks of a mount on local disk.
package metastore
