// Package cache keeps rendered views: chunks in memory (Chunks) and whole
// views on disk (Views).
//
// Chunks are the CSV bytes of one row group of one partition file, in memory,
// bounded in bytes, using ristretto. A chunk key names immutable content:
// partition files are written once and never modified, so a key never needs
// invalidation; chunks of files that are gone simply age out. Concurrent
// misses on one key render it once (singleflight).
//
// Views is a folder of whole views, one file per key, named by a hash of the
// key. The caller's key names fixed content (the mount's names the store,
// dataset, version, commit time, view kind and size, and the bcfs binary
// that rendered it), so a file is never invalidated, only evicted; a new
// commit has a new key and can never be served an old version's file.
// Invariants:
//
//   - A file appears only whole: it is written to a temp file (.tmp-PID-*),
//     synced, its CRC32C stored in the extended attribute user.bcfs.crc32c
//     and its mtime in user.bcfs.checked, then renamed into place. Temp
//     files of dead processes are removed.
//   - A file is served only if its size is exactly the size the caller
//     expects and its bytes match the CRC32C: a file whose mtime is not the
//     one recorded in user.bcfs.checked (a write into it changes it) is
//     read whole and checked first, and removed if it fails.
//   - The folder holds at most the bound: before and after each fill the
//     least recently used files (by access time, set on every hit) are
//     removed. An open file stays readable after its removal.
//   - Several processes may share the folder: names are content keys,
//     renames are atomic, and eviction counts every file in the folder.
//   - Nothing in it is store data: deleting the folder loses nothing.
//   - A fill may start with a copy of the start of another cached view
//     (OpenBase, FillWriter.CopyBase: an older version whose view starts as
//     the new one does), made by the kernel (copy_file_range). That file is
//     checked as a hit is, and must still be the file checked (inode, size,
//     mtime) after the copy; a copy of part of it reads it whole against
//     its checksum. The new file's checksum covers all of its bytes: the
//     older file's own when it was copied whole, continued over the rest.
package cache
