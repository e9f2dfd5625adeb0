package fusefs

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"bcfs/store"
)

// viewNode is one (dataset, version, view): its size and bytes never change.
// A commit makes the name point at another viewNode.
type viewNode struct {
	fs.Inode
	fsys      *FS
	dataset   string
	version   int64
	view      store.View
	size      int64
	committed time.Time

	// mu protects writers: the open write handles on this inode.
	mu      sync.Mutex
	writers []*writeHandle
	modes   viewModes
	base    uint64 // viewIno of the view, before moveAside
}

// viewModes counts the read handles of one view inode by how the kernel
// serves them: passthrough from backing, a file of the view cache, or
// through bcfs (cached). The kernel refuses (EIO) a passthrough open of an
// inode with cached opens, and any other open of one with passthrough
// opens, so an inode is in one mode at a time (see openRead).
type viewModes struct {
	mu                  sync.Mutex // protects the fields below
	passthrough, cached int
	backing             *os.File
}

// busy tells whether passthrough readers hold the inode.
func (m *viewModes) busy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.passthrough > 0
}

// viewID names one view of one version: what the view cache is keyed by.
type viewID struct {
	dataset   string
	version   int64
	committed time.Time
	view      store.View
	size      int64
}

func (n *viewNode) id() viewID {
	return viewID{dataset: n.dataset, version: n.version, committed: n.committed, view: n.view, size: n.size}
}

func (n *viewNode) addWriter(h *writeHandle) {
	n.mu.Lock()
	n.writers = append(n.writers, h)
	n.mu.Unlock()
	h.node = n
}

func (n *viewNode) removeWriter(h *writeHandle) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, x := range n.writers {
		if x == h {
			n.writers = append(n.writers[:i], n.writers[i+1:]...)
			return
		}
	}
}

// openTruncated handles the kernel's truncate of open(O_TRUNC): without
// atomic O_TRUNC it comes as a setattr with no file handle, right after
// the open, from the same process. The handles that process has not used
// yet start empty instead of from the committed bytes.
func (n *viewNode) openTruncated(pid uint32) {
	n.mu.Lock()
	ws := append([]*writeHandle(nil), n.writers...)
	n.mu.Unlock()
	for _, h := range ws {
		if h.pid == pid {
			h.truncateIfUnused()
		}
	}
}

var (
	_ = (fs.NodeGetattrer)((*viewNode)(nil))
	_ = (fs.NodeSetattrer)((*viewNode)(nil))
	_ = (fs.NodeOpener)((*viewNode)(nil))
	_ = (fs.NodeFsyncer)((*viewNode)(nil))
)

// viewInode returns the inode of version e of a dataset's view v, creating it
// on first use. Known inode numbers return the existing inode.
func (f *FS) viewInode(ctx context.Context, parent *fs.Inode, e store.Entry, v store.View) *fs.Inode {
	base := viewIno(e, v)
	n := &viewNode{fsys: f, dataset: e.Name, version: e.Version, view: v, size: e.Size(v), committed: e.Committed, base: base}
	return parent.NewInode(ctx, n, fs.StableAttr{Mode: syscall.S_IFREG, Ino: f.asideIno(base), Gen: 1})
}

// asideIno is the inode number a view's name resolves to now: its viewIno,
// or another one once moveAside moved the name off an inode.
func (f *FS) asideIno(base uint64) uint64 {
	f.asideMu.Lock()
	defer f.asideMu.Unlock()
	return asideOf(base, f.aside[base])
}

// asideOf is the inode number of generation g of a view's name.
func asideOf(base, g uint64) uint64 {
	if g == 0 {
		return base
	}
	return hashIno("view-aside", "", int64(base), int64(g))
}

// moveAside makes the view's name resolve to a new inode of the same
// content from the next lookup on. An open for writing of an inode that
// passthrough readers hold cannot be served there (the kernel would fail
// it with EIO): it answers ESTALE after moveAside, and the kernel looks the
// name up again and opens the new inode. The readers keep theirs.
func (f *FS) moveAside(n *viewNode) {
	f.asideMu.Lock()
	defer f.asideMu.Unlock()
	if g := f.aside[n.base]; n.StableAttr().Ino == asideOf(n.base, g) {
		f.aside[n.base] = g + 1 // else the name moved already
	}
}

func (n *viewNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | n.fsys.fileMode()
	// One name per inode, as far as tools can tell: with 2, cp -a and
	// tar treat the views as hard links and unlink the target first.
	a.Nlink = 1
	a.Size = uint64(n.size)
	a.SetTimes(&n.committed, &n.committed, &n.committed)
	n.fsys.fillAttr(a)
	n.fsys.ownerMode("ds:"+n.dataset, a)
}

func (n *viewNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	return 0
}

// Setattr never changes the dataset. Truncating a write handle resets its
// spool; truncate(2) to 0 without a handle and time changes are accepted
// and ignored so that cp -p, touch and O_TRUNC opens work. chmod and chown
// apply to both views for the life of the mount (FS.setOwnerMode).
func (n *viewNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := n.fsys.writable(); errno != 0 {
		return errno
	}
	n.fill(&out.Attr)
	n.fsys.setOwnerMode("ds:"+n.dataset, in, &out.Attr)
	if sz, ok := in.GetSize(); ok {
		if wh, ok := fh.(*writeHandle); ok {
			if errno := wh.truncate(int64(sz)); errno != 0 {
				return errno
			}
		} else if sz != 0 {
			return syscall.EPERM
		} else if c, ok := fuse.FromContext(ctx); ok {
			n.openTruncated(c.Pid)
		}
	}
	return 0
}

func (n *viewNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return 0 // views are committed data; write handles ingest at flush
}

func (n *viewNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f := n.fsys
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if errno := f.writable(); errno != 0 {
			return nil, 0, errno
		}
		if n.modes.busy() {
			f.moveAside(n)
			return nil, 0, syscall.ESTALE
		}
		_, base := splitDataset(n.dataset)
		fh, errno := f.newWriteHandle(n.dataset, base+n.view.Ext(), n.view, n.version, flags, nil)
		if errno != 0 {
			return nil, 0, errno
		}
		if c, ok := fuse.FromContext(ctx); ok {
			fh.pid = c.Pid
		}
		n.addWriter(fh)
		// Direct I/O keeps written bytes out of this inode's page cache,
		// which must hold the committed bytes only.
		return fh, fuse.FOPEN_DIRECT_IO, 0
	}
	sn, err := f.st.Pin(n.dataset, n.version)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// The version is gone (deleted or collected): ESTALE makes
			// the kernel look the name up again.
			return nil, 0, syscall.ESTALE
		}
		return nil, 0, translateError(f.log, "open", n.dataset, err)
	}
	return f.openRead(sn, &n.modes, n.id()), fuse.FOPEN_KEEP_CACHE, 0
}

// openRead makes the read handle of an open of view id, whose inode has
// modes: served from the view cache if it holds this version, by FUSE
// passthrough when the kernel allows it; otherwise rendered, and the view
// cache filled in the background so that the next open is a hit.
func (f *FS) openRead(sn *store.Snapshot, m *viewModes, id viewID) *viewHandle {
	h := &viewHandle{fsys: f, snap: sn, view: id.view, modes: m}
	var file *os.File
	if f.views != nil && id.size >= f.opt.ViewCacheMin {
		key := f.viewKey(id)
		if file = f.views.Open(key, id.size); file == nil {
			h.fill = f.fillView(id, key)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f.served.open.Add(1)
	defer func() {
		switch {
		case h.passthrough:
			f.served.passthrough.Add(1)
		case h.file != nil:
			f.served.pread.Add(1)
		default:
			f.served.rendered.Add(1)
		}
	}()
	switch {
	case m.passthrough > 0:
		// The kernel inode has its backing file: every open of it must
		// be passthrough (go-fuse makes it one), and reads by pread
		// when go-fuse gave up passthrough.
		h.passthrough, h.file = true, m.backing
		m.passthrough++
		if file != nil {
			file.Close()
		}
	case file != nil && f.passthrough.Load() && m.cached == 0:
		h.passthrough, h.file = true, file
		m.backing = file
		m.passthrough++
	default:
		h.file = file
		m.cached++
	}
	return h
}

// viewHandle reads one pinned version of a view: from file, a view cache
// file of that version, if set, else rendered from snap.
type viewHandle struct {
	fsys  *FS
	snap  *store.Snapshot
	view  store.View
	modes *viewModes // of the handle's inode
	file  *os.File
	// passthrough: the kernel reads file itself (PassthroughFd); file is
	// the node's backing, shared with its other passthrough handles.
	passthrough bool
	fill        *viewFill // the view cache fill started or joined by a miss
}

var (
	_ = (fs.FileReader)((*viewHandle)(nil))
	_ = (fs.FileReleaser)((*viewHandle)(nil))
	_ = (fs.FilePassthroughFder)((*viewHandle)(nil))
)

func (h *viewHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.file != nil {
		if h.passthrough {
			h.fsys.served.passthroughReads.Add(1)
		}
		// Spliced from the file to the kernel where it can be (one
		// copy); the kernel releases the handle, and so the file, only
		// after its reads are answered.
		return fuse.ReadResultFd(h.file.Fd(), off, len(dest)), 0
	}
	if h.fill != nil {
		if res, ok := h.fill.readAt(len(dest), off); ok {
			h.fsys.served.fillReads.Add(1)
			return res, 0
		}
	}
	n, err := h.snap.ReadAt(h.view, dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, translateError(h.fsys.log, "read", h.snap.Name(), err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// PassthroughFd hands the kernel the view cache file to read from. go-fuse
// asks only the first open of an inode without a backing file; the later
// ones share it (all of them must be passthrough: see viewNode).
func (h *viewHandle) PassthroughFd() (int, bool) {
	if !h.passthrough || h.file == nil {
		return 0, false
	}
	return int(h.file.Fd()), true
}

func (h *viewHandle) Release(ctx context.Context) syscall.Errno {
	h.snap.Release()
	if h.fill != nil {
		h.fill.release()
	}
	h.fsys.served.open.Add(-1)
	m := h.modes
	m.mu.Lock()
	defer m.mu.Unlock()
	if h.passthrough {
		if m.passthrough--; m.passthrough == 0 {
			// The kernel holds its own reference while go-fuse keeps
			// the backing id.
			m.backing.Close()
			m.backing = nil
		}
	} else {
		m.cached--
		if h.file != nil {
			h.file.Close()
		}
	}
	return 0
}

// goneNode is the other view name of a dataset the looking-up process has
// just removed (store.Namespace.Gone): it can be unlinked, nothing else.
type goneNode struct {
	fs.Inode
	fsys *FS
}

var (
	_ = (fs.NodeGetattrer)((*goneNode)(nil))
	_ = (fs.NodeOpener)((*goneNode)(nil))
)

func (g *goneNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | g.fsys.fileMode()
	a.Nlink = 1
	a.SetTimes(&g.fsys.started, &g.fsys.started, &g.fsys.started)
	g.fsys.fillAttr(a)
}

func (g *goneNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	g.fill(&out.Attr)
	out.SetTimeout(0)
	return 0
}

func (g *goneNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, 0, syscall.ESTALE
}
