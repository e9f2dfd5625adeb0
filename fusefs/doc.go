// Package fusefs mounts a store with go-fuse v2. It is a thin adapter: what
// the tree holds, sizes and bytes come from package store; this package maps
// them to inodes, handles and errnos.
//
// Terms and invariants:
//
//   - View inode: one (dataset, version, view). Its inode number is a hash of
//     name, version, view and commit time; its size and bytes never change,
//     so reads use FOPEN_KEEP_CACHE and mmap is safe. A commit makes
//     NAME.csv / NAME.parquet resolve to a new view inode; the kernel is told
//     with NotifyEntry from outside any filesystem lock. Lookup always asks
//     store.Stat, and entries and attributes time out after one second so
//     commits by other processes show up.
//   - Pinned version: a read handle pins the version of its inode at open
//     and reads it to the end, whatever commits meanwhile.
//   - Write handle: an open-for-write of a view. Bytes go to a spool file in
//     the store's spool folder; flush ingests the spool if it has bytes not
//     yet ingested, and close() returns the ingest's result. Truncation resets
//     the spool, never the dataset. Write handles use direct I/O so that the
//     view inode's page cache only ever holds committed bytes.
//   - Pending node: the name of a dataset created by this mount whose first
//     ingest has not committed yet.
//   - Scratch file: any name that is not a dataset view (editor temp files,
//     lock files). It is a real file under the store's scratch folder at the
//     same folder path, served loopback-style. Renaming a scratch file onto a
//     view name ingests it; the rename returns the ingest's error.
//   - .metadata: JSON documents generated at open, read with direct I/O.
//
// Errors become errnos in translateError only.
package fusefs
