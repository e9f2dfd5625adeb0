package backend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"
)

// tempPrefix starts the names of files being written; List skips them.
const tempPrefix = ".tmp-"

// Local is a backend in a local folder. Every component of a name is opened
// relative to its parent's descriptor with O_NOFOLLOW, so a symlink inside
// the folder is never followed (it reads as an error, or is skipped by List).
type Local struct {
	root string // absolute
}

// NewLocal opens the folder root, creating it (and its parents) if create.
func NewLocal(root string, create bool) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if create {
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("folder %s does not exist (a disk not mounted?): %w", abs, ErrBadLocation)
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: %w: not a folder", abs, ErrBadLocation)
	}
	return &Local{root: abs}, nil
}

// Root returns the folder's absolute path.
func (l *Local) Root() string { return l.root }

func (l *Local) Location() string { return "file://" + l.root }

func (l *Local) path(name string) string { return filepath.Join(l.root, filepath.FromSlash(name)) }

// openDir returns a descriptor of folder dir (a slash path, "" or "." for
// the root), opening each component with O_NOFOLLOW. With create, missing
// folders are made and their parents fsynced.
func (l *Local) openDir(dir string, create bool) (int, error) {
	fd, err := unix.Open(l.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: l.root, Err: err}
	}
	if dir == "" || dir == "." {
		return fd, nil
	}
	for _, c := range strings.Split(dir, "/") {
		made := false
		if create {
			if err := unix.Mkdirat(fd, c, 0o755); err == nil {
				made = true
			} else if err != unix.EEXIST {
				unix.Close(fd)
				return -1, &fs.PathError{Op: "mkdir", Path: l.path(dir), Err: err}
			}
		}
		if made {
			if err := unix.Fsync(fd); err != nil {
				unix.Close(fd)
				return -1, &fs.PathError{Op: "fsync", Path: l.path(dir), Err: err}
			}
		}
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: l.path(dir), Err: err}
		}
		fd = nfd
	}
	return fd, nil
}

// split checks name and returns its folder and base.
func split(name string) (dir, base string, err error) {
	if err := CheckName(name); err != nil {
		return "", "", err
	}
	dir, base = path.Split(name)
	return strings.TrimSuffix(dir, "/"), base, nil
}

type localObject struct {
	*os.File
	size int64
}

func (o localObject) Size() int64 { return o.size }

func (l *Local) Open(_ context.Context, name string) (Object, error) {
	dir, base, err := split(name)
	if err != nil {
		return nil, err
	}
	dfd, err := l.openDir(dir, false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: l.path(name), Err: err}
	}
	f := os.NewFile(uintptr(fd), l.path(name))
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", l.path(name))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return localObject{File: f, size: fi.Size()}, nil
}

func (l *Local) Put(ctx context.Context, name string, b Blob) error {
	return l.put(ctx, name, b, false)
}

func (l *Local) PutIfAbsent(ctx context.Context, name string, b Blob) error {
	return l.put(ctx, name, b, true)
}

// put writes b to a temp file in name's folder, checks and fsyncs it, then
// publishes it by rename (replace) or hard link (exclusive), and fsyncs the
// folder.
func (l *Local) put(ctx context.Context, name string, b Blob, exclusive bool) error {
	dir, base, err := split(name)
	if err != nil {
		return err
	}
	dfd, err := l.openDir(dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tmp := tempPrefix + uuid.NewString()
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &fs.PathError{Op: "create", Path: l.path(path.Join(dir, tmp)), Err: err}
	}
	f := os.NewFile(uintptr(fd), l.path(path.Join(dir, tmp)))
	err = writeChecked(ctx, f, b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if exclusive {
			err = unix.Linkat(dfd, tmp, dfd, base, 0)
		} else {
			err = unix.Renameat(dfd, tmp, dfd, base)
		}
		if err != nil {
			err = &fs.PathError{Op: "publish", Path: l.path(name), Err: err}
		}
	}
	// After a rename the temp name is gone; after a link or a failure it is
	// garbage either way.
	_ = unix.Unlinkat(dfd, tmp, 0)
	if err != nil {
		return fmt.Errorf("put %s: %w", l.path(name), err)
	}
	if err := unix.Fsync(dfd); err != nil {
		return &fs.PathError{Op: "fsync", Path: l.path(dir), Err: err}
	}
	return nil
}

// writeChecked copies b to w, checking its size and (when given) SHA-256.
func writeChecked(ctx context.Context, w io.Writer, b Blob) error {
	var h hash.Hash
	if b.SHA256 != "" {
		h = sha256.New()
		w = io.MultiWriter(w, h)
	}
	buf := make([]byte, min(CopyChunk, max(b.Size, 1)))
	var off int64
	for off < b.Size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := b.R.ReadAt(buf[:min(int64(len(buf)), b.Size-off)], off)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if n == 0 || (err != nil && !errors.Is(err, io.EOF)) {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: source ended at %d of %d bytes", ErrChecksum, off, b.Size)
			}
			return err
		}
	}
	if h != nil {
		if got := hex.EncodeToString(h.Sum(nil)); got != b.SHA256 {
			return fmt.Errorf("%w: SHA-256 %s, want %s", ErrChecksum, got, b.SHA256)
		}
	}
	return nil
}

func (l *Local) Stat(_ context.Context, name string) (Info, error) {
	dir, base, err := split(name)
	if err != nil {
		return Info{}, err
	}
	dfd, err := l.openDir(dir, false)
	if err != nil {
		return Info{}, err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, &fs.PathError{Op: "stat", Path: l.path(name), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Info{}, &fs.PathError{Op: "stat", Path: l.path(name), Err: fs.ErrNotExist}
	}
	return Info{Name: name, Size: st.Size, ModTime: time.Unix(st.Mtim.Unix())}, nil
}

func (l *Local) Delete(_ context.Context, name string) error {
	dir, base, err := split(name)
	if err != nil {
		return err
	}
	dfd, err := l.openDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, base, 0); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return &fs.PathError{Op: "remove", Path: l.path(name), Err: err}
	}
	return unix.Fsync(dfd)
}

// List walks the folders under prefix's folder part, depth first in lexical
// order, so names come out sorted. Symlinks and temp files are skipped.
func (l *Local) List(ctx context.Context, prefix string, fn func(Info) error) error {
	start := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
		if err := CheckName(start); err != nil {
			return err
		}
	}
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		dfd, err := l.openDir(dir, false)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
				return nil // nothing under this prefix, or removed while walking
			}
			return err
		}
		d := os.NewFile(uintptr(dfd), l.path(dir))
		ents, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return err
		}
		// A folder "a" must be walked after a file "a.json" and before
		// "a0": order by the name with a trailing slash for folders.
		key := func(e os.DirEntry) string {
			if e.IsDir() {
				return e.Name() + "/"
			}
			return e.Name()
		}
		slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(key(a), key(b)) })
		for _, e := range ents {
			name := path.Join(dir, e.Name())
			if strings.HasPrefix(e.Name(), tempPrefix) {
				continue
			}
			switch {
			case e.IsDir():
				if strings.HasPrefix(name+"/", prefix) || strings.HasPrefix(prefix, name+"/") {
					if err := walk(name); err != nil {
						return err
					}
				}
			case e.Type().IsRegular():
				if !strings.HasPrefix(name, prefix) {
					continue
				}
				fi, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				if err := fn(Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(start)
}
