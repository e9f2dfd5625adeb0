package metastore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DirFS returns the FS of a store folder: every name must lie under root
// (an absolute, clean path), and nothing below root is followed if it is a
// symlink, so no operation of the store ever leaves it, whatever another
// user swaps in. Each name is resolved from a descriptor of root with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), or, on kernels without
// openat2, one component at a time with O_NOFOLLOW. A symlink reads as an
// error wrapping ErrSymlink. root itself is opened with O_NOFOLLOW; the
// folders above it are the user's and are followed.
//
// The descriptor of root is opened at the first operation that finds root
// (O_PATH|O_DIRECTORY|O_NOFOLLOW) and kept until Close, so a lookup costs
// one openat2 and no reopening of root. A root renamed or replaced after
// that is not followed: the FS keeps working on the folder it opened.
func DirFS(root string) FS { return &dirFS{root: filepath.Clean(root), fd: -1} }

type dirFS struct {
	root string
	mu   sync.RWMutex // held for reading while fd is in use
	fd   int          // descriptor of root, -1 until opened or after Close
	done bool         // Close was called
}

// noOpenat2 is set once openat2 returned ENOSYS.
var noOpenat2 atomic.Bool

// errOutside: a name that is not under the FS's root.
var errOutside = errors.New("not inside the store folder")

func (d *dirFS) rel(op, name string) (string, error) {
	r, err := filepath.Rel(d.root, filepath.Clean(name))
	if err != nil || r == ".." || strings.HasPrefix(r, "../") || filepath.IsAbs(r) {
		return "", &fs.PathError{Op: op, Path: name, Err: errOutside}
	}
	return r, nil
}

// pathErr wraps a syscall error of op on name. A refused symlink becomes
// ErrSymlink, naming the symlink found on the way to name.
func (d *dirFS) pathErr(op, name string, err error) error {
	switch err {
	case unix.ELOOP, unix.ENOTDIR:
		// O_DIRECTORY|O_NOFOLLOW meeting a symlink says ENOTDIR.
		if link := d.firstSymlink(name); link != "" {
			name, err = link, ErrSymlink
		} else if err == unix.ELOOP {
			err = ErrSymlink
		}
	case unix.EXDEV:
		err = errOutside
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// firstSymlink returns the first component of name, from the root down,
// that is a symlink, or "".
func (d *dirFS) firstSymlink(name string) string {
	rel, err := filepath.Rel(d.root, name)
	if err != nil {
		return ""
	}
	p := d.root
	for _, c := range append([]string{""}, strings.Split(rel, "/")...) {
		p = filepath.Join(p, c)
		if fi, err := os.Lstat(p); err != nil {
			return ""
		} else if fi.Mode()&fs.ModeSymlink != 0 {
			return p
		}
	}
	return ""
}

// openRoot returns the kept descriptor of root, opening it if needed, and
// holds d.mu for reading until release is called.
func (d *dirFS) openRoot() (fd int, release func(), err error) {
	for {
		d.mu.RLock()
		if d.fd >= 0 {
			return d.fd, d.mu.RUnlock, nil
		}
		d.mu.RUnlock()
		d.mu.Lock()
		if d.fd >= 0 {
			d.mu.Unlock()
			continue
		}
		fd, err := d.openRootFD()
		if err != nil {
			d.mu.Unlock()
			return -1, nil, err
		}
		if d.done {
			// After Close the FS still works (snapshots of a closed store
			// stay readable), opening root for each call as it once did.
			d.mu.Unlock()
			return fd, func() { unix.Close(fd) }, nil
		}
		d.fd = fd
		d.mu.Unlock()
	}
}

// openRootFD opens root, which must be a folder and not a symlink.
func (d *dirFS) openRootFD() (int, error) {
	fd, err := unix.Open(d.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		var st unix.Stat_t
		if err = unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			err = unix.ENOTDIR
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return -1, d.pathErr("open", d.root, err)
	}
	return fd, nil
}

// Close closes the kept descriptor of root. Later operations still work,
// each opening root again.
func (d *dirFS) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done = true
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// openBeneath opens rel (relative to the root, clean, "." for the root)
// with flags, following no symlink.
func (d *dirFS) openBeneath(op, name, rel string, flags int, mode uint32) (int, error) {
	rfd, release, err := d.openRoot()
	if err != nil {
		return -1, err
	}
	defer release()
	fd, err := openAt(rfd, rel, flags, mode)
	if err != nil {
		return -1, d.pathErr(op, name, err)
	}
	return fd, nil
}

// openAt opens rel below the folder dfd, following no symlink, and returns
// the errno of a failure.
func openAt(dfd int, rel string, flags int, mode uint32) (int, error) {
	flags |= unix.O_CLOEXEC
	if flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
		mode = 0 // openat2 refuses a mode it would not use
	}
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(dfd, rel, &unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS})
		if err != unix.ENOSYS {
			return fd, err
		}
		noOpenat2.Store(true)
	}
	parts := strings.Split(rel, "/")
	fd, err := unix.Dup(dfd)
	if err != nil {
		return -1, err
	}
	for i, c := range parts {
		f := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		m := uint32(0)
		if i == len(parts)-1 {
			f, m = flags|unix.O_NOFOLLOW, mode
		}
		nfd, err := unix.Openat(fd, c, f, m)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = nfd
	}
	return fd, nil
}

// openParent opens the folder holding name and returns its descriptor and
// name's last component.
func (d *dirFS) openParent(op, name string) (int, string, error) {
	rel, err := d.rel(op, name)
	if err != nil {
		return -1, "", err
	}
	if rel == "." {
		return -1, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir, base := filepath.Split(rel)
	if dir = strings.TrimSuffix(dir, "/"); dir == "" {
		dir = "."
	}
	fd, err := d.openBeneath(op, name, dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	return fd, base, err
}

func (d *dirFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	rel, err := d.rel("open", name)
	if err != nil {
		return nil, err
	}
	fd, err := d.openBeneath("open", name, rel, flag, uint32(perm.Perm()))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (d *dirFS) Create(name string) (File, error) {
	return d.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
}

func (d *dirFS) Open(name string) (File, error) { return d.OpenFile(name, os.O_RDONLY, 0) }

func (d *dirFS) Link(oldname, newname string) error {
	ofd, obase, err := d.openParent("link", oldname)
	if err != nil {
		return err
	}
	defer unix.Close(ofd)
	nfd, nbase, err := d.openParent("link", newname)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	if err := unix.Linkat(ofd, obase, nfd, nbase, 0); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (d *dirFS) Rename(oldname, newname string) error {
	ofd, obase, err := d.openParent("rename", oldname)
	if err != nil {
		return err
	}
	defer unix.Close(ofd)
	nfd, nbase, err := d.openParent("rename", newname)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	if err := unix.Renameat(ofd, obase, nfd, nbase); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (d *dirFS) Remove(name string) error {
	dfd, base, err := d.openParent("remove", name)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	return removeAt(dfd, base, name)
}

// removeAt removes the file or empty folder base of dfd, as os.Remove does.
func removeAt(dfd int, base, name string) error {
	err := unix.Unlinkat(dfd, base, 0)
	if err == nil {
		return nil
	}
	err1 := unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR)
	if err1 == nil {
		return nil
	}
	if err1 != unix.ENOTDIR {
		err = err1
	}
	return &fs.PathError{Op: "remove", Path: name, Err: err}
}

// RemoveAll removes name and everything below it. A symlink met on the way
// is removed itself, never followed.
func (d *dirFS) RemoveAll(name string) error {
	dfd, base, err := d.openParent("removeall", name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	return removeAllAt(dfd, base, name)
}

func removeAllAt(dfd int, base, name string) error {
	err := unix.Unlinkat(dfd, base, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err == unix.ELOOP || err == unix.ENOTDIR {
		// A symlink where a folder was: remove the link itself.
		return removeAt(dfd, base, name)
	}
	if err != nil {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	dir := os.NewFile(uintptr(fd), name)
	defer dir.Close()
	for {
		names, rerr := dir.Readdirnames(256)
		for _, n := range names {
			if err := removeAllAt(fd, n, filepath.Join(name, n)); err != nil {
				return err
			}
		}
		if rerr != nil || len(names) == 0 {
			break
		}
	}
	if err := unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	return nil
}

func (d *dirFS) MkdirAll(name string, perm os.FileMode) error {
	rel, err := d.rel("mkdir", name)
	if err != nil {
		return err
	}
	rfd, release, err := d.openRoot()
	if err != nil {
		return err
	}
	defer release()
	if rel == "." {
		return nil
	}
	// Most calls make one folder in a folder that exists (a partition
	// folder, _log) or find it made: one lookup of the parent and one
	// mkdirat, not a mkdirat and an open per component.
	parent, base := filepath.Split(rel)
	if parent = strings.TrimSuffix(parent, "/"); parent == "" {
		parent = "."
	}
	if pfd, err := openAt(rfd, parent, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		defer unix.Close(pfd)
		return d.mkdirIn(pfd, base, name, perm)
	} else if err != unix.ENOENT {
		return d.pathErr("mkdir", name, err)
	}
	fd, err := unix.Dup(rfd)
	if err != nil {
		return d.pathErr("mkdir", name, err)
	}
	for _, c := range strings.Split(rel, "/") {
		if err := unix.Mkdirat(fd, c, uint32(perm.Perm())); err != nil && err != unix.EEXIST {
			unix.Close(fd)
			return d.pathErr("mkdir", name, err)
		}
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return d.pathErr("mkdir", name, err)
		}
		fd = nfd
	}
	unix.Close(fd)
	return nil
}

// mkdirIn makes the folder base in the folder dfd, or finds it there; a
// symlink or a file in its place is an error, as in the walk of MkdirAll.
func (d *dirFS) mkdirIn(dfd int, base, name string, perm os.FileMode) error {
	err := unix.Mkdirat(dfd, base, uint32(perm.Perm()))
	if err == nil {
		return nil
	}
	if err != unix.EEXIST {
		return d.pathErr("mkdir", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return d.pathErr("mkdir", name, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return nil
	case unix.S_IFLNK:
		return d.pathErr("mkdir", name, unix.ELOOP)
	}
	return d.pathErr("mkdir", name, unix.ENOTDIR)
}

func (d *dirFS) ReadDir(name string) ([]os.DirEntry, error) {
	rel, err := d.rel("readdir", name)
	if err != nil {
		return nil, err
	}
	fd, err := d.openBeneath("readdir", name, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// Stat describes name itself; a symlink is an error wrapping ErrSymlink.
func (d *dirFS) Stat(name string) (os.FileInfo, error) {
	rel, err := d.rel("stat", name)
	if err != nil {
		return nil, err
	}
	fd, err := d.openBeneath("stat", name, rel, unix.O_PATH, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	st := new(syscall.Stat_t)
	if err := syscall.Fstat(fd, st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return newFileInfo(filepath.Base(name), st), nil
}

// fileInfo is the os.FileInfo of a stat, as os.Stat gives it (Sys is the
// *syscall.Stat_t), without wrapping the descriptor in an *os.File.
type fileInfo struct {
	name string
	mode fs.FileMode
	st   *syscall.Stat_t
}

func newFileInfo(name string, st *syscall.Stat_t) fileInfo {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return fileInfo{name: name, mode: m, st: st}
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.st.Size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return fi.st }

func (d *dirFS) SyncDir(name string) error {
	rel, err := d.rel("sync", name)
	if err != nil {
		return err
	}
	fd, err := d.openBeneath("sync", name, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &fs.PathError{Op: "sync", Path: name, Err: err}
	}
	return nil
}
