package store

import (
	"errors"

	"bcfs/metastore"
)

var (
	// ErrNotFound: no dataset or folder of that name.
	ErrNotFound = errors.New("not found")
	// ErrExists: the target name is taken.
	ErrExists = errors.New("already exists")
	// ErrNotEmpty: the folder holds datasets or folders.
	ErrNotEmpty = errors.New("folder not empty")
	// ErrInvalidName: a name that is not in canonical form (see ValidName),
	// with "..", NUL, an absolute path, an empty, reserved or too long
	// segment. It is metastore's, so either package's check matches it.
	ErrInvalidName = metastore.ErrInvalidName
	// ErrBadInput: the input cannot be ingested; the dataset is unchanged.
	// The wrapped error says file, line, column, value and reason.
	ErrBadInput = errors.New("bad input")
	// ErrReadOnly: the store was opened read-only.
	ErrReadOnly = errors.New("store is read-only")
	// ErrCorrupt: stored data does not match its manifest.
	ErrCorrupt = errors.New("store data corrupt")
	// ErrUnsafeStore: the store's root or one of its top folders is a
	// symlink or writable by other users; the error names the path and the
	// fix.
	// A symlink met inside the store (metastore.ErrSymlink) wraps it too.
	ErrUnsafeStore = metastore.ErrUnsafeStore
)

// Errors of the namespace (namespace.go): what a file operation on a name
// of that kind cannot do.
var (
	// ErrNotPermitted: the operation has no meaning for this kind of name
	// (a folder named like a view, writing into .metadata or .trash).
	ErrNotPermitted = errors.New("operation not permitted")
	// ErrIsFolder: a file operation on a folder.
	ErrIsFolder = errors.New("is a folder")
	// ErrNotFolder: a folder operation on a file.
	ErrNotFolder = errors.New("not a folder")
	// ErrWriterDied: the process writing a view was killed before it
	// closed the file; nothing it wrote was ingested.
	ErrWriterDied = errors.New("the writing process was killed before closing the file; nothing was ingested")
	// ErrScratchFull: the scratch folder is at its bound
	// (Options.ScratchBytes); the mount answers ENOSPC.
	ErrScratchFull = errors.New("scratch space full")
)
