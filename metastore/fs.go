package metastore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// FS is the small filesystem surface the metastore (and the store above it)
// uses, so that tests can inject faults or simulate crashes (see package faultfs).
// Names are OS paths.
type FS interface {
	// Create opens name with O_CREATE|O_TRUNC|O_WRONLY.
	Create(name string) (File, error)
	// Open opens name read-only.
	Open(name string) (File, error)
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Link makes newname a hard link to oldname; it fails with an error
	// matching os.ErrExist if newname exists. This is the exclusive publish.
	Link(oldname, newname string) error
	Rename(oldname, newname string) error
	Remove(name string) error
	RemoveAll(name string) error
	MkdirAll(name string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the entries of folder name durable (open + fsync).
	SyncDir(name string) error
}

// File is an open file of an FS.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	Sync() error
	Stat() (os.FileInfo, error)
	Name() string
}

// OS is the real filesystem.
var OS FS = osFS{}

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	return osFile(os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644))
}

func (osFS) Open(name string) (File, error) { return osFile(os.Open(name)) }

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return osFile(os.OpenFile(name, flag, perm))
}

// osFile avoids returning a typed nil *os.File inside a non-nil File.
func osFile(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Link(oldname, newname string) error           { return os.Link(oldname, newname) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

// SyncDir fsyncs a folder the way syncFile does a file.
func (o osFS) SyncDir(name string) error { return syncFile(o, name) }

// maxMetaFile bounds how much of a manifest or metadata file is read, so a
// garbage file cannot exhaust memory. Manifests of decades of daily
// partitions stay far below it.
const maxMetaFile = 256 << 20

// readFile reads a whole metadata file through fsys.
func readFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = min(fi.Size(), maxMetaFile)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, maxMetaFile+1)); err != nil {
		return nil, err
	}
	if buf.Len() > maxMetaFile {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", name, maxMetaFile, ErrCorrupt)
	}
	return buf.Bytes(), nil
}

// writeFileSync creates name, writes data and fsyncs it. On failure the
// partial file is removed (best effort).
func writeFileSync(fsys FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(name)
	}
	return err
}

// tempName returns a fresh temp file name in dir for a file that will be
// published as final. Recover recognizes the pattern.
func tempName(dir, final string) string {
	return filepath.Join(dir, tempPrefix+uuid.NewString()+filepath.Ext(final))
}

// linkNew publishes data as final, which must not exist: it writes and
// fsyncs a temp file in final's folder, then hard-links it to final. The
// error matches os.ErrExist if final exists. Readers never see final
// partially written. The caller fsyncs the folder.
func linkNew(fsys FS, final string, data []byte) error {
	tmp := tempName(filepath.Dir(final), final)
	if err := writeFileSync(fsys, tmp, data); err != nil {
		return err
	}
	err := fsys.Link(tmp, final)
	// The temp name is garbage whatever the link did; if removing it fails,
	// Recover collects it later, so the outcome does not change.
	_ = fsys.Remove(tmp)
	return err
}

// replaceFile atomically replaces final with data (temp file, fsync,
// rename, fsync of the folder).
func replaceFile(fsys FS, final string, data []byte) error {
	dir := filepath.Dir(final)
	tmp := tempName(dir, final)
	if err := writeFileSync(fsys, tmp, data); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, final); err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(dir)
}
