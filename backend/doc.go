// Package backend is where bcfs keeps bytes: a local folder or an
// S3-compatible bucket, behind the few operations the store and its backups
// need (in the spirit of restic's internal/backend).
//
// Terms:
//
//   - Name: a clean relative slash path inside the backend ("datasets/ES/_log/
//     00000000000000000001.json"); never absolute, never "..", never empty
//     components (CheckName). The local backend resolves every component
//     without following symlinks, so a name never leaves its folder.
//   - Put: stores a whole object atomically; a reader sees the old object or
//     the new one, never a part. When the Blob carries a SHA-256 the bytes
//     are checked against it before they become visible (locally by hashing
//     while writing; on S3 the digest is the signed x-amz-content-sha256, so
//     the server refuses bytes that do not match it).
//   - PutIfAbsent: the commit point. It fails with an error matching
//     fs.ErrExist when the name exists: a hard link of a fsynced temp file
//     locally, a conditional PUT (If-None-Match: *) on S3.
//   - Durability (local): data is fsynced before it is published, and the
//     folder is fsynced after, so a published name survives a crash.
//
// Errors: a missing object matches fs.ErrNotExist, an existing one
// fs.ErrExist, a SHA-256 or size mismatch ErrChecksum. Other errors name the
// location (folder path, or bucket and key) and what the server said.
// Transient S3 errors (timeouts, 5xx, connection resets and refusals) are
// retried with exponential backoff before they are returned.
package backend
