package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// ErrChecksum: the bytes of a Put do not have the size or SHA-256 the Blob
// says; nothing was stored.
var ErrChecksum = errors.New("content does not match its size or SHA-256")

// ErrBadLocation: a location URL or name that cannot name a backend object.
var ErrBadLocation = errors.New("bad backend location")

// Backend is a place that holds named objects.
type Backend interface {
	// Location names the backend for messages: "file:///abs/path" or
	// "s3://bucket/prefix".
	Location() string
	// Open opens an object for ranged reads.
	Open(ctx context.Context, name string) (Object, error)
	// Put stores b under name, replacing what was there.
	Put(ctx context.Context, name string, b Blob) error
	// PutIfAbsent stores b under name unless name exists (fs.ErrExist).
	PutIfAbsent(ctx context.Context, name string, b Blob) error
	// List calls fn for every object whose name starts with prefix (a plain
	// string prefix, as on S3), in lexical order of names.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Stat returns an object's size and modification time.
	Stat(ctx context.Context, name string) (Info, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, name string) error
}

// Object is an open object: ranged reads and its size.
type Object interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Blob is data to store: Size bytes read from R at offsets 0..Size. SHA256,
// when not empty, is the lower-case hex digest the bytes must have.
type Blob struct {
	R      io.ReaderAt
	Size   int64
	SHA256 string
}

// Bytes makes a Blob of b.
func Bytes(b []byte) Blob {
	return Blob{R: bytesReaderAt(b), Size: int64(len(b))}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Info describes a stored object.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// CheckName reports whether name is a clean relative slash path.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrBadLocation)
	case strings.ContainsAny(name, "\x00\\"):
		return fmt.Errorf("%w: name %q contains NUL or backslash", ErrBadLocation, name)
	case path.IsAbs(name), path.Clean(name) != name, name == "..", strings.HasPrefix(name, "../"):
		return fmt.Errorf("%w: name %q is not a clean relative path", ErrBadLocation, name)
	}
	return nil
}

// ReadAll reads a whole object, refusing one larger than limit bytes.
func ReadAll(ctx context.Context, b Backend, name string, limit int64) ([]byte, error) {
	o, err := b.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	if o.Size() > limit {
		return nil, fmt.Errorf("%s/%s: %d bytes, more than the %d allowed", b.Location(), name, o.Size(), limit)
	}
	buf := make([]byte, o.Size())
	if _, err := o.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
		return nil, err
	}
	return buf, nil
}

// CopyChunk is the read size of Copy: large enough that one ranged GET per
// chunk costs little.
const CopyChunk = 8 << 20

// Copy writes the object's bytes to w in CopyChunk reads.
func Copy(w io.Writer, o Object) (int64, error) {
	buf := make([]byte, min(int64(CopyChunk), max(o.Size(), 1)))
	var off int64
	for off < o.Size() {
		n, err := o.ReadAt(buf[:min(int64(len(buf)), o.Size()-off)], off)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return off, werr
			}
			off += int64(n)
		}
		if err != nil && !(errors.Is(err, io.EOF) && off == o.Size()) {
			return off, err
		}
		if n == 0 && err == nil {
			return off, io.ErrUnexpectedEOF
		}
	}
	return off, nil
}
