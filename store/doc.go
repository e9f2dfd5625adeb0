// Package store is the canonical store of bcfs: datasets of bars kept as
// partitioned Parquet files with one JSON manifest per version, the ingest
// pipeline that merges new files into them, and the FUSE-free view layer
// (tree, exact sizes, bytes at an offset) that the mount and the CLI share.
//
// Terms:
//
//   - Dataset: a named series of versions; the name is a relative slash path
//     ("ES_1min", "yahoo/AAPL") and maps to STORE/datasets/<name>.
//   - Partition: the rows of one time bucket (year, month or day, the dataset's
//     granularity) in immutable Parquet files, sorted by (timestamp,
//     symbol). Usually one file; an append (append.go: rows all after the
//     bucket's last timestamp) adds a file holding only the new rows, and
//     compaction (compact.go, run by cleanup) folds them into one again.
//     The files of a bucket cover disjoint, increasing time ranges, so
//     reading them in manifest order reads the rows in order. Every file of
//     a version has exactly the version's schema, so row groups can be
//     concatenated into one Parquet view.
//   - Row group: the unit of the CSV view. The manifest records each row
//     group's byte range and the length of its CSV rendering, so a view's size
//     is known without reading data.
//   - Commit point: the exclusive creation of _log/<N>.json (metastore.Commit).
//   - Update: the one commit transaction (update.go). Every change of a
//     dataset's content or settings is a function from the head manifest to
//     the next one plus the files it wrote: Store.Update(ctx, name, fn) runs
//     fn on the head, commits, and when another writer (another process)
//     won the commit point runs fn again on the new head with jittered
//     backoff, for up to five minutes, not a fixed number of attempts. It
//     owns the head cache, subscriber notification and garbage collection;
//     files of an attempt that did not commit are removed at once. Ingest
//     and settings (including the rewrite of rows) are such functions;
//     restore and rollback are too.
//   - Trash: a deleted dataset moves whole, every version, to
//     STORE/trash/<id>/data with an entry.json saying name, time and reason
//     (trash.go). One rename moves it in or out, so a crash leaves it on
//     one side (on S3 the rename is a copy then a delete, manifests last in
//     and first out, so it is whole on at least one side: metastore.ObjFS); entry.json marks the second step that moving nested
//     datasets needs, and Open finishes it. TrashRestore brings every
//     version back byte-identical (under another name if asked); only
//     TrashEmpty removes data for good, nothing empties the trash by itself.
//   - Namespace (namespace.go): the FUSE-free model of a mount's names -
//     views, folders, datasets being created, scratch files, the reserved
//     .metadata, .trash and .versions - and what create, unlink, rename,
//     mkdir and rmdir mean for each kind. Removal goes to the trash; a
//     process that removed a view and creates it again within five seconds
//     gets the dataset back and merges into it (cp -a, install, tar -x, mv
//     across filesystems, editors). Renames merge onto an existing dataset,
//     rename a dataset, keep a backup copy, or move a folder in one rename.
//   - Pinned version: a Snapshot holds open file descriptors on the partition
//     files of the version it was taken from, so it keeps reading that version
//     whatever commits, deletes or garbage collection happen afterwards.
//     On S3 a mount also publishes its pins (_pins/, objstore.go) and GC on
//     every machine honours live ones; a CLI process is protected by the
//     grace period only.
//
// Safety (issue 7):
//
//   - The store never leaves itself: its FS is metastore.DirFS of the store
//     folder, which follows no symlink below it, and Open refuses a store
//     whose root or top folders (datasets, spool, scratch, trash, errors)
//     are symlinks or writable by other users (ErrUnsafeStore, naming the
//     path and the fix).
//   - Damage is never served as data: every read of partition bytes (the CSV
//     view's rendering, the Parquet view's copied row groups, a merge's read
//     of the stored partition) goes through checkedFile, which checks each
//     row group's and the footer's CRC32C from the manifest before any of
//     their bytes are decoded or served. A mismatch or a missing partition
//     file is ErrCorrupt (EIO at the mount), logged, and recorded as the
//     dataset's last_error. Manifests from before checksums read unchecked;
//     bcfs verify keeps checking whole files by SHA-256. The Parquet view
//     of a local store verifies a row group once per file identity and
//     then reads it straight from the page cache under a read lease that
//     any writer must break first (rowcheck.go says exactly what "verified
//     once" covers); bytes the page cache dropped are verified again.
//   - Every new partition file is read back before it is committed (footer
//     through the partition reader, CRC32C of its row groups), and the
//     schema is checked against metastore.CheckSchema: what no reader could
//     open is refused (ErrBadInput, exit 1), never committed.
//   - Spool files are named after their owner's pid and start time
//     (CreateSpool), so Open removes a dead process's spool at once; the
//     scratch folder can be bounded (Options.ScratchBytes, ReserveScratch).
//
// Memory is bounded by the partition, not the input: ingest routes incoming
// rows to per-partition buffers and merges a partition onto its stored file
// as soon as the input has moved past it, in a pool of two workers, while
// decoding goes on. What waits in the buffers is bounded by rows (2M) and
// by bytes, Options.IngestBufferBytes (default DefaultIngestBufferBytes,
// 256 MiB; counted as the text and headers of string values plus 8 bytes
// per number): after each decoded batch, while either bound is reached,
// the partition holding the most is merged at once. So an ingest holds at
// most that bound plus one decoder batch (formats MaxBatchBytes) in the
// buffers, plus the partitions being merged (two running, one waiting for
// a worker), whatever the input. Time-ordered input (forwards
// or backwards) merges each partition once; any other order merges a
// partition several times, each on top of the last, with the same result.
package store
