package metastore

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions wrap them with %w; test with errors.Is.
var (
	// ErrConflict: the version being committed already exists. The caller
	// re-merges on top of the new head and retries.
	ErrConflict = errors.New("version already committed")
	// ErrCorrupt: a manifest or metadata file does not decode or fails
	// validation (bad JSON, checksum mismatch, inconsistent counts, unsafe paths).
	ErrCorrupt = errors.New("corrupt metadata")
	// ErrUnsupportedFormat: the file was written by a newer bcfs (its
	// format_version is unknown). Also wraps ErrCorrupt for manifests, but Head
	// does not skip such a version: an older bcfs must not commit on top of it.
	ErrUnsupportedFormat = errors.New("unsupported format version")
	// ErrInvalid: a manifest handed to Encode or Commit breaks an invariant.
	ErrInvalid = errors.New("invalid manifest")
	// ErrNoVersions: the dataset has no readable version.
	ErrNoVersions = errors.New("no committed versions")
	// ErrNotFound: the requested version does not exist.
	ErrNotFound = errors.New("version not found")
	// ErrNotDurable: the version was published (readers can see it) but the
	// final fsync of the _log folder failed, so it may not survive a crash.
	// The commit must not be retried: the version exists.
	ErrNotDurable = errors.New("commit published but not durable")
	// ErrInvalidName: a dataset name is empty, absolute, escapes the store, or
	// uses a component reserved for the on-disk layout.
	ErrInvalidName = errors.New("invalid dataset name")
	// ErrLimit: a version would exceed what its readers accept (columns,
	// column names, header size, row groups; see CheckLimits). Nothing is
	// committed.
	ErrLimit = errors.New("over a store limit")
	// ErrUnsafeStore: a store that another user could redirect: a symlink
	// inside it, or a folder of it writable by other users.
	ErrUnsafeStore = errors.New("unsafe store")
	// ErrSymlink: a symlink inside a store, which DirFS never follows (it
	// could lead a write or a delete out of the store). It wraps
	// ErrUnsafeStore.
	ErrSymlink = fmt.Errorf("%w: a symlink, which bcfs never follows inside a store", ErrUnsafeStore)
)
