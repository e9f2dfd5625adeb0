package metastore

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
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"bcfs/backend"
)

// A store on S3 keeps the layout of a local store (bcfs.json, datasets/,
// trash/, errors/) as objects under the bucket's key prefix. ObjFS is the
// FS the store runs on there: it maps the store's paths to object keys, so
// the store, the metastore, recovery, GC, the trash and backup run the same
// code on both kinds of store. We chose this over moving the metastore onto
// backend.Backend because every commit rule (files first, manifest by
// exclusive create, head = newest manifest that decodes) stays in one place
// and is tested once; ObjFS only has to give each FS call its object-store
// meaning:
//
//   - The store's root is a local WORK folder. Paths under WORK/spool,
//     WORK/scratch, WORK/staging and WORK/cache stay local files (spool and
//     scratch of the mount, staged uploads, the disk cache); every other
//     path under WORK names the object WORK-relative path under the prefix.
//   - Create of a store file buffers it in WORK/staging while it is
//     written (and hashes it) and uploads it on Close with one PUT whose
//     signed SHA-256 the server checks; a failed upload fails Close.
//   - Temp files (".tmp-*", the first half of every publish) stay in
//     WORK/staging: Link(tmp, final) is the commit point, a PUT of final
//     with If-None-Match: *, failing with fs.ErrExist if final exists;
//     Rename(tmp, final) is a plain PUT (an object replace is atomic).
//   - Open of a partition file (immutable, named by a UUID) sends nothing:
//     reads are ranged GETs, through the disk cache when there is one. Open
//     of any other file is one GET of the whole object.
//   - Folders do not exist on S3: ReadDir is a LIST with delimiter "/", a
//     folder exists when an object lies under it, and a folder made on
//     purpose (mkdir in the mount) holds an empty marker object
//     FolderMarker, hidden from ReadDir.
//   - Nothing is renamed in place. Rename of a file is a server-side copy
//     then a delete. Rename of a folder (dataset delete into the trash,
//     restore, rename) copies every object, manifests last, then deletes
//     the source, manifests first: a dataset becomes visible under its new
//     name only once all its partition files are there, and disappears
//     from its old name before any of its partition files goes, so a crash
//     leaves it whole in at least one place (possibly both; the trash's
//     entry.json, which Open reads, records which move was running).
//   - SyncDir and File.Sync do nothing: a PUT that returned is durable.
//   - Every successful commit (and every folder move or mkdir under
//     datasets/) also writes a journal object (journal.go), so mounts learn
//     of other machines' commits with one LIST per poll; while a process
//     watches the journal it answers lookups of dataset folders, _log
//     folders and manifests from memory (objfs_logcache.go).
type ObjFS struct {
	b     ObjStore
	root  string
	ctx   context.Context
	cache *DiskCache // nil: partition reads go straight to the server

	jmu sync.Mutex // protects jr
	jr  journalReader

	lc logCache // _log listings and manifests, while watching the journal
}

// ObjStore is the object store an ObjFS runs on: a backend plus the calls
// that save round trips (backend.S3 has them).
type ObjStore interface {
	backend.Backend
	Get(ctx context.Context, name string, limit int64) ([]byte, backend.Info, error)
	ReadRange(ctx context.Context, name string, p []byte, off int64) (int, error)
	ListDir(ctx context.Context, dir string) ([]backend.Info, []string, error)
	Exists(ctx context.Context, prefix string) (bool, error)
	ListAfter(ctx context.Context, prefix, startAfter string, fn func(backend.Info) error) error
	CopyObject(ctx context.Context, src, dst string) error
}

// FolderMarker is the empty object that keeps a folder made on purpose.
const FolderMarker = ".bcfs-folder"

// Local folders of WORK (never on the object store).
const (
	WorkSpool   = "spool"
	WorkScratch = "scratch"
	WorkStaging = "staging"
	WorkCache   = "cache"
)

var workLocal = map[string]bool{WorkSpool: true, WorkScratch: true, WorkStaging: true, WorkCache: true}

// NewObjFS returns the FS of a store kept in b, with workDir (an absolute
// local folder, created if needed) as the store's root. cache may be nil.
func NewObjFS(b ObjStore, workDir string, cache *DiskCache) (*ObjFS, error) {
	abs, err := filepath.Abs(workDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, WorkStaging), 0o700); err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	return &ObjFS{b: b, root: abs, ctx: context.Background(), cache: cache}, nil
}

// Root is the local work folder that stands for the store's root.
func (o *ObjFS) Root() string { return o.root }

// Location names the object store ("s3://bucket/prefix").
func (o *ObjFS) Location() string { return o.b.Location() }

// Backend is the object store under the FS.
func (o *ObjFS) Backend() backend.Backend { return o.b }

// Cache returns the disk cache, or nil.
func (o *ObjFS) Cache() *DiskCache { return o.cache }

// place says where name lives: locally (local true; a staged temp has
// staged set to its local path) or as the object key.
type place struct {
	local  bool
	staged string
	key    string // "" is the store's root
}

func (o *ObjFS) where(name string) place {
	rel, err := filepath.Rel(o.root, filepath.Clean(name))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return place{local: true}
	}
	if rel == "." {
		return place{}
	}
	rel = filepath.ToSlash(rel)
	first, _, _ := strings.Cut(rel, "/")
	if workLocal[first] {
		return place{local: true}
	}
	if strings.HasPrefix(path.Base(rel), tempPrefix) {
		return place{staged: filepath.Join(o.root, WorkStaging, strings.ReplaceAll(rel, "/", "%")), key: rel}
	}
	return place{key: rel}
}

// fileOnly reports a key that names a file whenever it exists, never a
// folder, so a missing one needs no LIST to tell.
func fileOnly(key string) bool {
	base := path.Base(key)
	switch {
	case key == ConfigFile, base == LastErrorFile, strings.HasSuffix(base, ".parquet"):
		return true
	case path.Base(path.Dir(key)) == LogDir:
		return true
	case base == FolderMarker:
		return true
	}
	return false
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// Create buffers a new object in WORK/staging; Close uploads it.
func (o *ObjFS) Create(name string) (File, error) {
	p := o.where(name)
	switch {
	case p.local:
		return OS.Create(name)
	case p.staged != "":
		return OS.Create(p.staged)
	case p.key == "":
		return nil, pathErr("create", name, syscall.EISDIR)
	}
	return o.newUpload(name, p.key, false)
}

func (o *ObjFS) newUpload(name, key string, exclusive bool) (File, error) {
	f, err := os.CreateTemp(filepath.Join(o.root, WorkStaging), "up-*")
	if err != nil {
		return nil, err
	}
	return &objUpload{f: f, o: o, name: name, key: key, h: sha256.New(), exclusive: exclusive}, nil
}

// Open opens a file for reading (see the type's comment for the cost).
func (o *ObjFS) Open(name string) (File, error) {
	p := o.where(name)
	switch {
	case p.local:
		return OS.Open(name)
	case p.staged != "":
		return OS.Open(p.staged)
	case p.key == "":
		return nil, pathErr("open", name, syscall.EISDIR)
	}
	if isPartitionKey(p.key) {
		return &objRanged{o: o, name: name, key: p.key, size: -1}, nil
	}
	if f, ok, err := o.cachedManifest(name, p.key); ok {
		return f, err
	}
	data, info, err := o.b.Get(o.ctx, p.key, maxMetaFile)
	if err != nil {
		return nil, err
	}
	return &objMem{name: name, info: info, Reader: strings.NewReader(string(data))}, nil
}

func isPartitionKey(key string) bool {
	return strings.HasPrefix(key, DatasetsDir+"/") && isPartitionFileName(path.Base(key))
}

// OpenFile supports the read-only and create flags the store uses.
func (o *ObjFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	p := o.where(name)
	switch {
	case p.local:
		return OS.OpenFile(name, flag, perm)
	case p.staged != "":
		return OS.OpenFile(p.staged, flag, perm)
	case flag&(os.O_WRONLY|os.O_RDWR) == 0:
		return o.Open(name)
	case flag&os.O_APPEND != 0 || flag&os.O_RDWR != 0:
		return nil, pathErr("open", name, fmt.Errorf("objects on %s cannot be appended to or updated: %w", o.b.Location(), errors.ErrUnsupported))
	}
	return o.newUpload(name, p.key, flag&os.O_EXCL != 0)
}

// Link publishes a staged temp as newname unless newname exists: the
// commit point, one PUT with If-None-Match: *.
func (o *ObjFS) Link(oldname, newname string) error {
	src, dst := o.where(oldname), o.where(newname)
	if src.local && dst.local {
		return OS.Link(oldname, newname)
	}
	if src.staged == "" || dst.local || dst.staged != "" || dst.key == "" {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errors.ErrUnsupported}
	}
	err := o.putFile(src.staged, dst.key, true)
	o.forget()
	if err != nil {
		return err
	}
	if ds, v, ok := manifestKey(dst.key); ok {
		o.record(ds, v, "commit")
	}
	return nil
}

// putFile uploads a local file as key.
func (o *ObjFS) putFile(local, key string, exclusive bool) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	blob := backend.Blob{R: f, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if exclusive {
		return o.b.PutIfAbsent(o.ctx, key, blob)
	}
	return o.b.Put(o.ctx, key, blob)
}

// manifestKey recognizes datasets/<name>/_log/<version>.json.
func manifestKey(key string) (dataset string, version int64, ok bool) {
	rest, ok := strings.CutPrefix(key, DatasetsDir+"/")
	if !ok {
		return "", 0, false
	}
	dir, base := path.Split(rest)
	ds, ok := strings.CutSuffix(dir, "/"+LogDir+"/")
	if !ok {
		return "", 0, false
	}
	v, ok := parseManifestBase(base)
	return ds, v, ok
}

// Rename moves a file or a folder (see the type's comment).
func (o *ObjFS) Rename(oldname, newname string) error {
	src, dst := o.where(oldname), o.where(newname)
	switch {
	case src.local && dst.local:
		return OS.Rename(oldname, newname)
	case src.staged != "" && dst.staged != "":
		return OS.Rename(src.staged, dst.staged)
	case src.staged != "" && !dst.local && dst.key != "":
		err := o.putFile(src.staged, dst.key, false)
		o.forget()
		if err != nil {
			return err
		}
		return os.Remove(src.staged)
	case !src.local && src.staged == "" && !dst.local && dst.staged == "" && src.key != "" && dst.key != "":
		defer o.forget()
		return o.move(src.key, dst.key)
	}
	return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errors.ErrUnsupported}
}

// move copies then deletes, manifests last in and first out.
func (o *ObjFS) move(src, dst string) error {
	if !fileOnly(src) {
		if _, err := o.b.Stat(o.ctx, src); err == nil {
			return o.moveFile(src, dst)
		}
	} else {
		return o.moveFile(src, dst)
	}
	var objs []string
	if err := o.b.List(o.ctx, src+"/", func(i backend.Info) error {
		objs = append(objs, i.Name)
		return nil
	}); err != nil {
		return err
	}
	if len(objs) == 0 {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: fs.ErrNotExist}
	}
	// As on a local disk, a folder moves onto an empty one (here: one that
	// holds at most a folder marker), never onto one with content.
	var busy bool
	if err := o.b.List(o.ctx, dst+"/", func(i backend.Info) error {
		if path.Base(i.Name) != FolderMarker || path.Dir(i.Name) != dst {
			busy = true
			return io.EOF
		}
		return nil
	}); err != nil && err != io.EOF {
		return err
	}
	if busy {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: syscall.ENOTEMPTY}
	}
	if _, err := o.b.Stat(o.ctx, dst); err == nil {
		return &os.LinkError{Op: "rename", Old: src, New: dst, Err: syscall.ENOTDIR}
	}
	isLog := func(k string) bool { _, _, ok := manifestKey(k); return ok || path.Base(path.Dir(k)) == LogDir }
	sort.SliceStable(objs, func(i, j int) bool { return !isLog(objs[i]) && isLog(objs[j]) })
	for _, k := range objs {
		if err := o.b.CopyObject(o.ctx, k, dst+strings.TrimPrefix(k, src)); err != nil {
			return fmt.Errorf("move %s to %s: %w", src, dst, err)
		}
	}
	for i := len(objs) - 1; i >= 0; i-- {
		if err := o.b.Delete(o.ctx, objs[i]); err != nil {
			return fmt.Errorf("move %s to %s: %w", src, dst, err)
		}
	}
	for _, k := range []string{src, dst} {
		if ds, ok := strings.CutPrefix(k, DatasetsDir+"/"); ok {
			o.record(ds, 0, "move")
		}
	}
	return nil
}

func (o *ObjFS) moveFile(src, dst string) error {
	if err := o.b.CopyObject(o.ctx, src, dst); err != nil {
		return err
	}
	return o.b.Delete(o.ctx, src)
}

// Remove deletes a file, or a folder that is empty (but for its marker).
func (o *ObjFS) Remove(name string) error {
	p := o.where(name)
	switch {
	case p.local:
		return OS.Remove(name)
	case p.staged != "":
		return OS.Remove(p.staged)
	case p.key == "":
		return pathErr("remove", name, syscall.EBUSY)
	}
	defer o.forget()
	if fileOnly(p.key) {
		return o.b.Delete(o.ctx, p.key)
	}
	if _, err := o.b.Stat(o.ctx, p.key); err == nil {
		return o.b.Delete(o.ctx, p.key)
	}
	files, dirs, err := o.b.ListDir(o.ctx, p.key)
	if err != nil {
		return err
	}
	marker := false
	for _, f := range files {
		if path.Base(f.Name) == FolderMarker {
			marker = true
			continue
		}
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	if len(dirs) > 0 {
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	if !marker {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	return o.b.Delete(o.ctx, p.key+"/"+FolderMarker)
}

// RemoveAll deletes a file or every object under a folder.
func (o *ObjFS) RemoveAll(name string) error {
	p := o.where(name)
	switch {
	case p.local:
		return OS.RemoveAll(name)
	case p.staged != "":
		return OS.RemoveAll(p.staged)
	case p.key == "":
		return pathErr("removeall", name, syscall.EBUSY)
	}
	defer o.forget()
	if err := o.b.Delete(o.ctx, p.key); err != nil {
		return err
	}
	if fileOnly(p.key) {
		return nil
	}
	var objs []string
	if err := o.b.List(o.ctx, p.key+"/", func(i backend.Info) error {
		objs = append(objs, i.Name)
		return nil
	}); err != nil {
		return err
	}
	// Manifests first: a half-removed dataset has no version left rather
	// than a version whose files are gone.
	sort.SliceStable(objs, func(i, j int) bool {
		return path.Base(path.Dir(objs[i])) == LogDir && path.Base(path.Dir(objs[j])) != LogDir
	})
	for _, k := range objs {
		if err := o.b.Delete(o.ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// MkdirAll creates local folders; on the object store it writes a folder
// marker for a folder under datasets/ that a user may make (not a
// partition or log folder, which exist by their files).
func (o *ObjFS) MkdirAll(name string, perm os.FileMode) error {
	p := o.where(name)
	switch {
	case p.local:
		return OS.MkdirAll(name, perm)
	case p.staged != "":
		return OS.MkdirAll(p.staged, perm)
	}
	rest, ok := strings.CutPrefix(p.key, DatasetsDir+"/")
	if !ok || CheckName(rest) != nil {
		return nil
	}
	defer o.forget()
	if err := o.b.Put(o.ctx, p.key+"/"+FolderMarker, backend.Bytes(nil)); err != nil {
		return err
	}
	o.record(rest, 0, "mkdir")
	return nil
}

// ReadDir lists a folder with one LIST (per 1,000 entries).
func (o *ObjFS) ReadDir(name string) ([]os.DirEntry, error) {
	p := o.where(name)
	switch {
	case p.local:
		return OS.ReadDir(name)
	case p.staged != "":
		return OS.ReadDir(p.staged)
	}
	if ents, ok, err := o.cachedReadDir(p.key); ok {
		return ents, err
	}
	files, dirs, err := o.b.ListDir(o.ctx, p.key)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 && len(dirs) == 0 && p.key != "" {
		return nil, pathErr("readdir", name, fs.ErrNotExist)
	}
	out := make([]os.DirEntry, 0, len(files)+len(dirs))
	for _, f := range files {
		if b := path.Base(f.Name); b != FolderMarker {
			out = append(out, objInfo{name: b, size: f.Size, mod: f.ModTime})
		}
	}
	for _, d := range dirs {
		out = append(out, objInfo{name: d, dir: true})
	}
	sortEntries(out)
	return out, nil
}

func sortEntries(ents []os.DirEntry) {
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
}

// Stat is a HEAD, and for a name that may be a folder a LIST of one key
// when the HEAD finds nothing.
func (o *ObjFS) Stat(name string) (os.FileInfo, error) {
	p := o.where(name)
	switch {
	case p.local:
		return OS.Stat(name)
	case p.staged != "":
		return OS.Stat(p.staged)
	case p.key == "":
		return objInfo{name: filepath.Base(o.root), dir: true}, nil
	}
	if fi, ok, err := o.cachedStat(p.key); ok {
		return fi, err
	}
	info, err := o.b.Stat(o.ctx, p.key)
	if err == nil {
		return objInfo{name: path.Base(p.key), size: info.Size, mod: info.ModTime}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || fileOnly(p.key) {
		return nil, err
	}
	ok, lerr := o.b.Exists(o.ctx, p.key+"/")
	if lerr != nil {
		return nil, lerr
	}
	if !ok {
		return nil, err
	}
	return objInfo{name: path.Base(p.key), dir: true}, nil
}

// SyncDir: a PUT that returned is durable; local folders are synced.
func (o *ObjFS) SyncDir(name string) error {
	if p := o.where(name); p.local {
		return OS.SyncDir(name)
	}
	return nil
}

// objInfo is both the os.FileInfo and the os.DirEntry of an object or a
// folder.
type objInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (i objInfo) Name() string { return i.name }
func (i objInfo) Size() int64  { return i.size }
func (i objInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i objInfo) ModTime() time.Time         { return i.mod }
func (i objInfo) IsDir() bool                { return i.dir }
func (i objInfo) Sys() any                   { return nil }
func (i objInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i objInfo) Info() (fs.FileInfo, error) { return i, nil }
func (i objInfo) String() string             { return fs.FormatDirEntry(i) }

// objUpload is a store file being written: a staged local file, uploaded
// on Close.
type objUpload struct {
	f         *os.File
	o         *ObjFS
	name, key string
	h         hash.Hash
	n         int64
	exclusive bool
	closed    bool
}

func (u *objUpload) Write(p []byte) (int, error) {
	n, err := u.f.Write(p)
	u.h.Write(p[:n])
	u.n += int64(n)
	return n, err
}
func (u *objUpload) Read([]byte) (int, error) {
	return 0, pathErr("read", u.name, syscall.EBADF)
}
func (u *objUpload) ReadAt([]byte, int64) (int, error) {
	return 0, pathErr("read", u.name, syscall.EBADF)
}
func (u *objUpload) Sync() error  { return nil }
func (u *objUpload) Name() string { return u.name }
func (u *objUpload) Stat() (os.FileInfo, error) {
	return objInfo{name: path.Base(u.key), size: u.n, mod: time.Now()}, nil
}

// Close uploads the file; its error is the upload's.
func (u *objUpload) Close() error {
	if u.closed {
		return pathErr("close", u.name, fs.ErrClosed)
	}
	u.closed = true
	defer os.Remove(u.f.Name())
	defer u.f.Close()
	blob := backend.Blob{R: u.f, Size: u.n, SHA256: hex.EncodeToString(u.h.Sum(nil))}
	defer u.o.forget()
	if u.exclusive {
		return u.o.b.PutIfAbsent(u.o.ctx, u.key, blob)
	}
	return u.o.b.Put(u.o.ctx, u.key, blob)
}

// objMem is a small object read whole.
type objMem struct {
	*strings.Reader
	name string
	info backend.Info
}

func (m *objMem) Write([]byte) (int, error) { return 0, pathErr("write", m.name, syscall.EBADF) }
func (m *objMem) Close() error              { return nil }
func (m *objMem) Sync() error               { return nil }
func (m *objMem) Name() string              { return m.name }
func (m *objMem) Stat() (os.FileInfo, error) {
	return objInfo{name: path.Base(m.info.Name), size: m.info.Size, mod: m.info.ModTime}, nil
}

// objRanged is a partition file read by ranged GETs (through the disk
// cache when there is one). Opening it sends nothing; Stat and sequential
// Read ask the size once.
type objRanged struct {
	o         *ObjFS
	name, key string

	mu   sync.Mutex // protects size, pos, buf, blk
	size int64      // -1 until known
	pos  int64
	buf  []byte // read-ahead of Read, starting at bufO
	bufO int64
	blk  []byte // last block of small ReadAts, starting at blkO
	blkO int64
	// blkEOF: blk ends where the object ends.
	blkEOF bool
}

// readAhead is the size of one GET of a sequential Read.
const readAhead = 8 << 20

func (r *objRanged) ReadAt(p []byte, off int64) (int, error) {
	if r.o.cache != nil {
		size, err := r.sizeOf()
		if err != nil {
			return 0, err
		}
		return r.o.cache.ReadAt(r.key, size, p, off, func(q []byte, at int64) (int, error) {
			return r.o.b.ReadRange(r.o.ctx, r.key, q, at)
		})
	}
	if len(p) >= memBlock {
		return r.o.b.ReadRange(r.o.ctx, r.key, p, off)
	}
	return r.small(p, off)
}

// memBlock is the unit of small reads without a disk cache: a Parquet
// reader's many small reads (footer, page headers) of one file cost one
// GET per MiB, not one each.
const memBlock = 1 << 20

// small serves a read shorter than memBlock from the last block fetched.
func (r *objRanged) small(p []byte, off int64) (int, error) {
	r.mu.Lock()
	blk, at, eof := r.blk, r.blkO, r.blkEOF
	r.mu.Unlock()
	if blk == nil || off < at || off+int64(len(p)) > at+int64(len(blk)) && !(eof && off <= at+int64(len(blk))) {
		start := off &^ (memBlock - 1)
		if off+int64(len(p)) > start+memBlock {
			start = off
		}
		buf := make([]byte, memBlock)
		n, err := r.o.b.ReadRange(r.o.ctx, r.key, buf, start)
		if err != nil && err != io.EOF {
			return 0, err
		}
		blk, at, eof = buf[:n], start, err == io.EOF
		r.mu.Lock()
		r.blk, r.blkO, r.blkEOF = blk, at, eof
		r.mu.Unlock()
	}
	n := copy(p, blk[off-at:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *objRanged) sizeOf() (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size < 0 {
		info, err := r.o.b.Stat(r.o.ctx, r.key)
		if err != nil {
			return 0, err
		}
		r.size = info.Size
	}
	return r.size, nil
}

func (r *objRanged) Read(p []byte) (int, error) {
	size, err := r.sizeOf()
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pos >= size {
		return 0, io.EOF
	}
	if r.pos < r.bufO || r.pos >= r.bufO+int64(len(r.buf)) {
		n := min(int64(readAhead), size-r.pos)
		buf := make([]byte, n)
		got, err := r.ReadAtUnlocked(buf, r.pos)
		if got == 0 && err != nil {
			return 0, err
		}
		r.buf, r.bufO = buf[:got], r.pos
	}
	n := copy(p, r.buf[r.pos-r.bufO:])
	r.pos += int64(n)
	return n, nil
}

// ReadAtUnlocked is ReadAt for callers holding mu (the cache path needs
// the size, which is known by then).
func (r *objRanged) ReadAtUnlocked(p []byte, off int64) (int, error) {
	if r.o.cache != nil {
		return r.o.cache.ReadAt(r.key, r.size, p, off, func(q []byte, at int64) (int, error) {
			return r.o.b.ReadRange(r.o.ctx, r.key, q, at)
		})
	}
	return r.o.b.ReadRange(r.o.ctx, r.key, p, off)
}

func (r *objRanged) Write([]byte) (int, error) { return 0, pathErr("write", r.name, syscall.EBADF) }
func (r *objRanged) Close() error              { return nil }
func (r *objRanged) Sync() error               { return nil }
func (r *objRanged) Name() string              { return r.name }
func (r *objRanged) Stat() (os.FileInfo, error) {
	size, err := r.sizeOf()
	if err != nil {
		return nil, err
	}
	return objInfo{name: path.Base(r.key), size: size}, nil
}
