package fusefs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"syscall"

	"bcfs/store"
)

// translateError maps an error from the store or the scratch folder to the
// errno a FUSE reply carries. It is the only place that does so. Expected
// outcomes (not found, exists, bad input) are logged at debug or warn level
// with the full reason; anything unexpected is logged as an error and becomes
// EIO.
func translateError(log *slog.Logger, op, name string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, store.ErrBadInput):
		// The writer only sees EINVAL; the log and .metadata carry the
		// reason with file, line and column.
		log.Warn("ingest rejected", "op", op, "name", name, "err", err)
		return syscall.EINVAL
	case errors.Is(err, store.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		errno = syscall.ENOENT
	case errors.Is(err, store.ErrExists), errors.Is(err, fs.ErrExist):
		errno = syscall.EEXIST
	case errors.Is(err, store.ErrNotEmpty):
		errno = syscall.ENOTEMPTY
	case errors.Is(err, store.ErrInvalidName):
		errno = syscall.EINVAL
	case errors.Is(err, store.ErrReadOnly):
		errno = syscall.EROFS
	case errors.Is(err, store.ErrNotPermitted):
		errno = syscall.EPERM
	case errors.Is(err, store.ErrIsFolder):
		errno = syscall.EISDIR
	case errors.Is(err, store.ErrNotFolder):
		errno = syscall.ENOTDIR
	case errors.Is(err, store.ErrWriterDied):
		errno = syscall.EIO
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		errno = syscall.EINTR
	case errors.As(err, &errno):
		// Scratch files: the backing filesystem's errno is the answer.
	default:
		log.Error("unexpected error", "op", op, "name", name, "err", err)
		return syscall.EIO
	}
	log.Debug("fuse op failed", "op", op, "name", name, "err", err, "errno", errno)
	return errno
}
