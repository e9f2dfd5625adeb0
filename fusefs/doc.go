// Package fusefs mounts a store with go-fuse v2. It is a thin adapter: what
// the tree holds, sizes and bytes come from package store; this package maps
// them to inodes, handles and errnos.
//
// Terms and invariants:
//
//   - View inode: one (dataset, version, view). Its inode number is a hash of
//     name, version, view and commit time; its size and bytes never change,
//     so reads use FOPEN_KEEP_CACHE and mmap is safe; st_nlink is 1. A
//     commit makes NAME.csv / NAME.parquet resolve to a new view inode.
//   - Close-to-open: view names have entry timeout 0 (folders, scratch and
//     generated names one second), so every open looks the name up and the
//     lookup reads the head (a stat of the next manifest): an open that
//     starts after any commit returned - this mount's, the CLI's, another
//     mount's - sees it. Nothing is invalidated with NotifyEntry: a
//     notification blocks on the folder lock of the request it follows.
//   - Pinned version: a read handle pins the version of its inode at open
//     and reads it to the end, whatever commits meanwhile.
//   - View cache (Options.ViewCache, package cache): whole rendered views on
//     disk, keyed by store, dataset, version, commit time, view kind, size
//     and the bcfs binary, so an open never gets another version's bytes
//     (.versions/NAME/N.csv shares the file of NAME.csv at version N).
//     An open that finds its view there reads the file: by FUSE passthrough
//     (the kernel reads the file itself; probed at mount, off with
//     NoPassthrough), else by pread. An open that misses starts (or joins)
//     a background fill of the cache and reads what the fill has written,
//     rendering itself only what lies far ahead of it. A fill whose view
//     starts as a cached view of one of the last few versions does (an
//     append after all of its files: store.Snapshot.Extends) copies that
//     prefix (all of a CSV view, a Parquet view but its footer) and writes
//     only the rest (incremental_fills in cache.json); its readers read
//     the prefix from the older file at once. A handle keeps its file
//     descriptor, so eviction never disturbs an open view.
//   - Inode modes: the kernel fails (EIO) a passthrough open of an inode
//     that has other open files in cached mode, and any non-passthrough
//     open of an inode that has passthrough files. A view inode therefore
//     counts its passthrough and other read handles (viewModes) and gives
//     passthrough only when no other read handle is open, and every later
//     read open shares the backing file while one is. An open for writing
//     of an inode that passthrough readers hold answers ESTALE after moving
//     the view's name to a new inode number (moveAside): the kernel looks
//     the name up again and opens the new inode; the readers keep theirs.
//   - Write handle: an open-for-write of a view. Until it writes or
//     truncates it reads the committed bytes of the version it opened
//     (O_RDWR opens by spreadsheets); the first write of a handle that did
//     not truncate starts its spool from those bytes. Bytes go to a spool
//     file in the store's spool folder; flush ingests the spool if it has
//     bytes not yet ingested, and close() returns the ingest's result. An
//     append handle appends to its own spool (two appenders never
//     interleave). A flush by a process that is being killed ingests nothing
//     (writerDied). Truncation resets the spool, never the dataset. The
//     truncate of open(O_TRUNC) comes as a setattr without a handle; it
//     empties the caller's unused handles on the inode. Write handles use
//     direct I/O so that the view inode's page cache only holds committed
//     bytes.
//   - Pending node: the name of a dataset created by this mount whose first
//     ingest has not committed yet.
//   - Scratch file: any name that is not a dataset view (editor temp files,
//     lock files). It is a real file under the store's scratch folder at the
//     same folder path, served loopback-style. Renaming a scratch file onto a
//     view name ingests it; the rename returns the ingest's error.
//   - .metadata: JSON documents generated at open, read with direct I/O.
//   - .trash: one read-only ID.json per deleted dataset (store.TrashEntry).
//   - Names: what a name is and what create, unlink, rename, mkdir and
//     rmdir do to it is store.Namespace's; the nodes pass it the caller's
//     process id (fuse.Caller, as a thread group id) so that a process
//     that removed a view and creates it again merges into it.
//   - Owner and mode: Options.UID, GID and Umask (mount --uid, --gid,
//     --umask) for everything, enforced by the kernel (default_permissions);
//     chmod and chown apply per dataset, folder or scratch file for the
//     life of the mount. Symlinks are refused (EPERM).
//
// Errors become errnos in translateError only.
package fusefs
