package fusefs

import (
	"context"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"bcfs/store"
)

// metaDir is .metadata or one of its folders (mirroring dataset folders).
// Its documents are generated from the store on each open; a lookup reads
// only the store entry it names.
type metaDir struct {
	fs.Inode
	fsys   *FS
	prefix string // folder inside .metadata, "" for .metadata itself
}

var (
	_ = (fs.NodeLookuper)((*metaDir)(nil))
	_ = (fs.NodeReaddirer)((*metaDir)(nil))
	_ = (fs.NodeGetattrer)((*metaDir)(nil))
)

func (d *metaDir) fill(a *fuse.Attr) {
	d.fsys.fillDirAttr(a, 0o555)
}

func (d *metaDir) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fill(&out.Attr)
	return 0
}

func (d *metaDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	full := joinPath(d.prefix, name)
	// One name costs one dataset's head and last error (or one folder's
	// stat), never a listing: find and du look up every document.
	kind, doc, err := d.fsys.st.MetadataLookup(full)
	if err != nil {
		return nil, translateError(d.fsys.log, "lookup", metadataDir+"/"+full, err)
	}
	switch kind {
	case store.MetaFile:
		ch := d.NewInode(ctx, &metaFile{fsys: d.fsys, name: full}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: hashIno("metafile", full), Gen: 1})
		mf := ch.Operations().(*metaFile) // the existing node if the kernel knows it
		mf.remember(len(doc))
		// The size may be up to the attribute timeout old in stat; reads
		// (direct I/O, from a rendering made at open) are always current.
		mf.fill(&out.Attr, len(doc))
		// Names in .metadata/ may be cached like folder names (views'
		// names are not: see dirEntryTimeout); a new dataset's document
		// shows within that time.
		out.SetEntryTimeout(dirEntryTimeout)
		return ch, 0
	case store.MetaDir:
		md := &metaDir{fsys: d.fsys, prefix: full}
		md.fill(&out.Attr)
		out.SetEntryTimeout(dirEntryTimeout)
		return d.NewInode(ctx, md, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("meta", full), Gen: 1}), 0
	}
	return nil, syscall.ENOENT
}

func (d *metaDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	files, dirs, err := d.fsys.st.MetadataDir(d.prefix)
	if err != nil {
		return nil, translateError(d.fsys.log, "readdir", metadataDir+"/"+d.prefix, err)
	}
	out := make([]fuse.DirEntry, 0, len(files)+len(dirs))
	for _, n := range files {
		out = append(out, fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: hashIno("metafile", joinPath(d.prefix, n))})
	}
	for _, n := range dirs {
		out = append(out, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR, Ino: hashIno("meta", joinPath(d.prefix, n))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return fs.NewListDirStream(out), 0
}

// metaFile is one JSON document. Its content changes with every commit, so
// it is read with direct I/O and its size comes from the generated document.
type metaFile struct {
	fs.Inode
	fsys *FS
	name string // as in store.MetadataNames: "index.json", "yahoo/AAPL.json"

	// mu protects size and sized: the length of the last rendering and
	// when it was made, which answers stat for the attribute timeout.
	mu    sync.Mutex
	size  int
	sized time.Time
}

// remember records the size of a rendering made now.
func (m *metaFile) remember(size int) {
	m.mu.Lock()
	m.size, m.sized = size, time.Now()
	m.mu.Unlock()
}

// recentSize returns the size of a rendering younger than the attribute
// timeout, if any.
func (m *metaFile) recentSize() (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size, !m.sized.IsZero() && time.Since(m.sized) < cacheTimeout
}

var (
	_ = (fs.NodeGetattrer)((*metaFile)(nil))
	_ = (fs.NodeOpener)((*metaFile)(nil))
)

func (m *metaFile) doc() ([]byte, syscall.Errno) {
	doc, err := m.fsys.st.MetadataDoc(m.name)
	if err != nil {
		return nil, translateError(m.fsys.log, "metadata", m.name, err)
	}
	return doc, 0
}

func (m *metaFile) fill(a *fuse.Attr, size int) { m.fsys.fillDocAttr(a, size) }

// fillDocAttr fills the attributes of a generated read-only document
// (.metadata/ files, .versions/NAME/log.json): its size, now as its times.
func (f *FS) fillDocAttr(a *fuse.Attr, size int) {
	now := time.Now()
	a.Mode = syscall.S_IFREG | 0o444
	a.Nlink = 1
	a.Size = uint64(size)
	a.SetTimes(&now, &now, &now)
	f.fillAttr(a)
}

func (m *metaFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*bytesHandle); ok {
		m.fill(&out.Attr, len(h.data))
	} else if size, ok := m.recentSize(); ok {
		// The size a stat shows may be as old as the attribute timeout.
		m.fill(&out.Attr, size)
	} else {
		doc, err := m.fsys.st.MetadataDocRecent(m.name, cacheTimeout)
		if err != nil {
			return translateError(m.fsys.log, "metadata", m.name, err)
		}
		m.remember(len(doc))
		m.fill(&out.Attr, len(doc))
	}
	out.SetTimeout(cacheTimeout)
	return 0
}

func (m *metaFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if m.fsys.opt.ReadOnly {
			return nil, 0, syscall.EROFS
		}
		return nil, 0, syscall.EACCES
	}
	doc, errno := m.doc()
	if errno != 0 {
		return nil, 0, errno
	}
	m.remember(len(doc))
	return &bytesHandle{data: doc}, fuse.FOPEN_DIRECT_IO, 0
}

// bytesHandle reads a document generated at open.
type bytesHandle struct{ data []byte }

var _ = (fs.FileReader)((*bytesHandle)(nil))

func (h *bytesHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(h.data[off:min(int64(len(h.data)), off+int64(len(dest)))]), 0
}
