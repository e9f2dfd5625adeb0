package store

import "errors"

var (
	// ErrNotFound: no dataset or folder of that name.
	ErrNotFound = errors.New("not found")
	// ErrExists: the target name is taken.
	ErrExists = errors.New("already exists")
	// ErrNotEmpty: the folder holds datasets or folders.
	ErrNotEmpty = errors.New("folder not empty")
	// ErrInvalidName: a name with "..", NUL, an absolute path, an empty or
	// reserved segment.
	ErrInvalidName = errors.New("invalid dataset name")
	// ErrBadInput: the input cannot be ingested; the dataset is unchanged.
	// The wrapped error says file, line, column, value and reason.
	ErrBadInput = errors.New("bad input")
	// ErrReadOnly: the store was opened read-only.
	ErrReadOnly = errors.New("store is read-only")
	// ErrCorrupt: stored data does not match its manifest.
	ErrCorrupt = errors.New("store data corrupt")
)
