package fusefs

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"bcfs/store"
)

// versionsDirName is the folder of every dataset's retained versions at the
// mount root. Like .zfs/snapshot it is reachable by name and shows in ls -a,
// but it is not a dataset, a folder of the store or an index.json entry.
const versionsDirName = ".versions"

// logDoc is the name of the log document in a dataset's versions folder.
const logDoc = "log.json"

// versionsDir is .versions or a folder inside it. A folder whose path is a
// dataset holds N.csv and N.parquet for every retained version N and
// log.json; folders of nested datasets appear inside ("yahoo/AAPL").
// Everything here is read-only.
type versionsDir struct {
	fs.Inode
	fsys *FS
	path string // dataset or folder path inside .versions, "" for .versions
}

var (
	_ = (fs.NodeLookuper)((*versionsDir)(nil))
	_ = (fs.NodeReaddirer)((*versionsDir)(nil))
	_ = (fs.NodeGetattrer)((*versionsDir)(nil))
	_ = (fs.NodeCreater)((*versionsDir)(nil))
	_ = (fs.NodeMkdirer)((*versionsDir)(nil))
	_ = (fs.NodeRmdirer)((*versionsDir)(nil))
	_ = (fs.NodeUnlinker)((*versionsDir)(nil))
	_ = (fs.NodeRenamer)((*versionsDir)(nil))
	_ = (fs.NodeSymlinker)((*versionsDir)(nil))
	_ = (fs.NodeLinker)((*versionsDir)(nil))
	_ = (fs.NodeMknoder)((*versionsDir)(nil))
	_ = (fs.NodeSetattrer)((*versionsDir)(nil))
	_ = (fs.NodeOpendirHandler)((*versionsDir)(nil))
)

// lookupVersions answers the root's lookup of .versions.
func (f *FS) lookupVersions(ctx context.Context, parent *fs.Inode, out *fuse.EntryOut) *fs.Inode {
	f.fillDirAttr(&out.Attr, 0o555)
	return parent.NewInode(ctx, &versionsDir{fsys: f}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("versions", ""), Gen: 1})
}

func (d *versionsDir) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fsys.fillDirAttr(&out.Attr, 0o555)
	return 0
}

// subfolders returns the names of the folders directly inside d: the
// datasets and folders directly inside d's path in the store (one folder
// read, not a walk of every dataset: find visits every folder).
func (d *versionsDir) subfolders() ([]string, error) {
	datasets, folders, err := d.fsys.st.ListFolder(d.path)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range append(folders, entryNames(datasets)...) {
		_, base := splitDataset(n)
		if !seen[base] {
			seen[base] = true
			out = append(out, base)
		}
	}
	return out, nil
}

func entryNames(es []store.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

// versions lists the retained version numbers of d's dataset (one read of
// its _log folder); nil when d is no dataset.
func (d *versionsDir) versions() []int64 {
	if d.path == "" {
		return nil
	}
	vs, err := d.fsys.st.VersionNumbers(d.path)
	if err != nil {
		return nil
	}
	return vs
}

// OpendirHandle lists through versionsDirHandle, which declines the lookup
// READDIRPLUS would otherwise make for every entry: a listing of a thousand
// versions reads the _log folder once and opens no manifest (a manifest is
// read when a name is looked up, stat'ed or opened).
func (d *versionsDir) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &versionsDirHandle{d: d}, 0, 0
}

// versionsDirHandle is an open .versions folder.
type versionsDirHandle struct {
	d       *versionsDir
	entries []fuse.DirEntry
	loaded  bool
	pos     int
}

var (
	_ = (fs.FileReaddirenter)((*versionsDirHandle)(nil))
	_ = (fs.FileSeekdirer)((*versionsDirHandle)(nil))
	_ = (fs.FileLookuper)((*versionsDirHandle)(nil))
)

func (h *versionsDirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if !h.loaded {
		ents, errno := h.d.list()
		if errno != 0 {
			return nil, errno
		}
		h.entries, h.loaded = ents, true
	}
	if h.pos >= len(h.entries) {
		return nil, 0
	}
	e := h.entries[h.pos]
	h.pos++
	return &e, 0
}

// Seekdir positions after the off'th entry; 0 (rewinddir) lists afresh.
func (h *versionsDirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == 0 {
		h.loaded = false
	}
	h.pos = int(off)
	return 0
}

// Lookup declines READDIRPLUS's per-entry lookup: the entry is listed
// without attributes and the kernel looks it up when it is used.
func (h *versionsDirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}

func (d *versionsDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	out, errno := d.list()
	if errno != 0 {
		return nil, errno
	}
	return fs.NewListDirStream(out), 0
}

// list returns the sorted entries of d.
func (d *versionsDir) list() ([]fuse.DirEntry, syscall.Errno) {
	dirs, err := d.subfolders()
	if err != nil {
		return nil, translateError(d.fsys.log, "readdir", versionsDirName, err)
	}
	var out []fuse.DirEntry
	for _, n := range dirs {
		out = append(out, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR, Ino: hashIno("versions", joinPath(d.path, n))})
	}
	if vs := d.versions(); len(vs) > 0 {
		out = append(out, fuse.DirEntry{Name: logDoc, Mode: syscall.S_IFREG, Ino: hashIno("versionslog", d.path)})
		for _, v := range vs {
			for _, view := range []store.View{store.ViewCSV, store.ViewParquet} {
				n := strconv.FormatInt(v, 10) + view.Ext()
				out = append(out, fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: hashIno("versionname", d.path, v, int64(view))})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, 0
}

// parseVersionName reads "N.csv", "N.parquet", "@TIME.csv" and
// "@TIME.parquet".
func parseVersionName(name string) (v int64, at *time.Time, view store.View, ok bool) {
	stem := name
	switch {
	case strings.HasSuffix(name, ".csv"):
		stem, view = strings.TrimSuffix(name, ".csv"), store.ViewCSV
	case strings.HasSuffix(name, ".parquet"):
		stem, view = strings.TrimSuffix(name, ".parquet"), store.ViewParquet
	default:
		return 0, nil, 0, false
	}
	if t, isTime := strings.CutPrefix(stem, "@"); isTime {
		tm, err := store.ParseTime(t)
		if err != nil {
			return 0, nil, 0, false
		}
		return 0, &tm, view, true
	}
	if stem == "" || stem[0] == '0' || strings.TrimLeft(stem, "0123456789") != "" {
		return 0, nil, 0, false
	}
	v, err := strconv.ParseInt(stem, 10, 64)
	return v, nil, view, err == nil
}

func (d *versionsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	f := d.fsys
	if d.path != "" {
		if name == logDoc {
			if _, err := f.st.VersionNumbers(d.path); err == nil {
				lf := &versionsLog{fsys: f, dataset: d.path}
				doc, errno := lf.doc()
				if errno != 0 {
					return nil, errno
				}
				lf.fill(&out.Attr, len(doc))
				out.SetEntryTimeout(0)
				out.SetAttrTimeout(0)
				return d.NewInode(ctx, lf, fs.StableAttr{Mode: syscall.S_IFREG, Ino: hashIno("versionslog", d.path), Gen: 1}), 0
			}
		}
		if v, at, view, ok := parseVersionName(name); ok {
			if at != nil {
				var err error
				if v, err = f.st.VersionAsOf(d.path, *at); err != nil {
					return nil, translateError(f.log, "lookup", joinPath(d.path, name), err)
				}
				// The answer moves with new commits: never cache it.
				out.SetEntryTimeout(0)
			} else {
				// N.csv is one fixed inode for as long as version N is
				// kept (a name retention removed meanwhile opens ESTALE,
				// and the kernel looks it up again).
				out.SetEntryTimeout(dirEntryTimeout)
			}
			e, err := f.st.VersionEntry(d.path, v)
			if err == nil {
				n := &versionFile{fsys: f, dataset: d.path, version: e.Version, view: view, size: e.Size(view), committed: e.Committed}
				n.fill(&out.Attr)
				return d.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG, Ino: versionIno(e, view), Gen: 1}), 0
			}
			if !errors.Is(err, store.ErrNotFound) {
				return nil, translateError(f.log, "lookup", joinPath(d.path, name), err)
			}
		}
	}
	// A folder here is a dataset or a store folder of that name: asked of
	// that name alone.
	p := joinPath(d.path, name)
	if store.ValidName(p) != nil {
		return nil, syscall.ENOENT
	}
	_, err := f.st.Stat(p)
	if errors.Is(err, store.ErrNotFound) {
		var ok bool
		if ok, err = f.st.FolderExists(p); err == nil && !ok {
			return nil, syscall.ENOENT
		}
	}
	if err != nil {
		return nil, translateError(f.log, "lookup", versionsDirName+"/"+p, err)
	}
	f.fillDirAttr(&out.Attr, 0o555)
	out.SetEntryTimeout(dirEntryTimeout) // a walk below it must not look it up again per file
	return d.NewInode(ctx, &versionsDir{fsys: f, path: p}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("versions", p), Gen: 1}), 0
}

// versionIno is the inode of one (dataset, version, view) under .versions;
// like viewIno it mixes in the commit time, so a dataset deleted and made
// again never reuses an inode the kernel may cache pages of.
func versionIno(e store.Entry, v store.View) uint64 {
	return hashIno("version", e.Name, e.Version, int64(v), e.Committed.UnixNano())
}

// Everything under .versions is read-only.

func (d *versionsDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}
func (d *versionsDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (d *versionsDir) Rmdir(ctx context.Context, name string) syscall.Errno  { return syscall.EROFS }
func (d *versionsDir) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }
func (d *versionsDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}
func (d *versionsDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (d *versionsDir) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (d *versionsDir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (d *versionsDir) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

// versionFile is one (dataset, version, view) under .versions: fixed size
// and bytes, the same as `bcfs export --version N`.
type versionFile struct {
	fs.Inode
	fsys      *FS
	dataset   string
	version   int64
	view      store.View
	size      int64
	committed time.Time
	modes     viewModes
}

var (
	_ = (fs.NodeGetattrer)((*versionFile)(nil))
	_ = (fs.NodeSetattrer)((*versionFile)(nil))
	_ = (fs.NodeOpener)((*versionFile)(nil))
)

func (n *versionFile) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | 0o444
	a.Nlink = 1
	a.Size = uint64(n.size)
	a.SetTimes(&n.committed, &n.committed, &n.committed)
	n.fsys.fillAttr(a)
}

func (n *versionFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	return 0
}

func (n *versionFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (n *versionFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	sn, err := n.fsys.st.PinVersion(n.dataset, n.version)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, syscall.ESTALE // removed by retention since the lookup
		}
		return nil, 0, translateError(n.fsys.log, "open", n.dataset, err)
	}
	if sn.Size(n.view) != n.size {
		// The dataset was deleted and made again with this version number.
		sn.Release()
		return nil, 0, syscall.ESTALE
	}
	id := viewID{dataset: n.dataset, version: n.version, committed: n.committed, view: n.view, size: n.size}
	return n.fsys.openRead(sn, &n.modes, id), fuse.FOPEN_KEEP_CACHE, 0
}

// versionsLog is .versions/NAME/log.json, the `bcfs log --json` document.
// It changes with every commit, so it is generated on lookup and open and
// read with direct I/O.
type versionsLog struct {
	fs.Inode
	fsys    *FS
	dataset string
}

var (
	_ = (fs.NodeGetattrer)((*versionsLog)(nil))
	_ = (fs.NodeOpener)((*versionsLog)(nil))
	_ = (fs.NodeSetattrer)((*versionsLog)(nil))
)

func (l *versionsLog) doc() ([]byte, syscall.Errno) {
	b, err := l.fsys.st.LogDoc(l.dataset)
	if err != nil {
		return nil, translateError(l.fsys.log, "log", l.dataset, err)
	}
	return b, 0
}

func (l *versionsLog) fill(a *fuse.Attr, size int) { l.fsys.fillDocAttr(a, size) }

func (l *versionsLog) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*bytesHandle); ok {
		l.fill(&out.Attr, len(h.data))
	} else {
		doc, errno := l.doc()
		if errno != 0 {
			return errno
		}
		l.fill(&out.Attr, len(doc))
	}
	out.SetTimeout(0)
	return 0
}

func (l *versionsLog) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (l *versionsLog) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	doc, errno := l.doc()
	if errno != 0 {
		return nil, 0, errno
	}
	return &bytesHandle{data: doc}, fuse.FOPEN_DIRECT_IO, 0
}
