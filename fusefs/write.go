package fusefs

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"bcfs/store"
)

// writeHandle is an open-for-write of a dataset view. Written bytes go to a
// spool file under the store's spool folder (inputs may exceed RAM); the
// spool is ingested at flush when it has bytes not ingested yet.
type writeHandle struct {
	fsys    *FS
	dataset string
	source  string       // name shown in ingest errors, e.g. "AAPL.csv"
	pending *pendingNode // set when the dataset did not exist at create
	size    atomic.Int64 // spool length, read by Getattr without mu

	// mu serialises writes, truncates and flushes of this handle and
	// protects the fields below.
	mu         sync.Mutex
	spool      *os.File
	appendMode bool
	base       int64 // offset of the first write of an append handle
	baseSet    bool
	dirty      bool // bytes written since the last flush
}

var (
	_ = (fs.FileWriter)((*writeHandle)(nil))
	_ = (fs.FileReader)((*writeHandle)(nil))
	_ = (fs.FileFlusher)((*writeHandle)(nil))
	_ = (fs.FileReleaser)((*writeHandle)(nil))
	_ = (fs.FileFsyncer)((*writeHandle)(nil))
)

func (f *FS) newWriteHandle(dataset, source string, flags uint32, p *pendingNode) (*writeHandle, syscall.Errno) {
	if errno := f.writable(); errno != 0 {
		return nil, errno
	}
	// The spool keeps the extension of the name written so that format
	// detection by name works on it.
	spool, err := os.CreateTemp(f.st.SpoolDir(), "write-*-"+source)
	if err != nil {
		return nil, translateError(f.log, "spool", dataset, err)
	}
	h := &writeHandle{
		fsys:       f,
		dataset:    dataset,
		source:     source,
		pending:    p,
		spool:      spool,
		appendMode: flags&syscall.O_APPEND != 0,
	}
	if p != nil {
		p.attach(h)
	}
	return h, 0
}

// Write spools data. An append handle's first write comes at the old end of
// the view; only the appended bytes are spooled, so offsets are taken
// relative to that first write.
func (h *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.appendMode && !h.baseSet {
		h.base, h.baseSet = off, true
	}
	pos := off - h.base
	if pos < 0 {
		return 0, syscall.EINVAL
	}
	n, err := h.spool.WriteAt(data, pos)
	if end := pos + int64(n); end > h.size.Load() {
		h.size.Store(end)
	}
	if n > 0 {
		h.dirty = true
	}
	if err != nil {
		return uint32(n), translateError(h.fsys.log, "write", h.dataset, err)
	}
	return uint32(n), 0
}

// Read returns spooled bytes (an O_RDWR handle reads what it wrote).
func (h *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.spool.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, translateError(h.fsys.log, "read", h.dataset, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// truncate resets (size 0) or cuts the spool; the dataset is never touched.
func (h *writeHandle) truncate(size int64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.spool.Truncate(size); err != nil {
		return translateError(h.fsys.log, "truncate", h.dataset, err)
	}
	h.size.Store(size)
	if size == 0 {
		h.baseSet = false
		h.dirty = false
	}
	return 0
}

// Flush ingests the spool if it has new bytes. close() returns its result, so
// a rejected file makes cp fail. A second flush without writes is a no-op.
func (h *writeHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if !h.dirty {
		h.mu.Unlock()
		return 0
	}
	h.dirty = false
	errno := h.fsys.ingest(h.dataset, h.spool.Name(), h.source)
	h.mu.Unlock()
	if errno == 0 {
		// Before close() returns, so that the writer's next open or stat
		// sees the new version.
		h.fsys.invalidateDataset(h.dataset)
	}
	return errno
}

func (h *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return 0 // the spool is transient; durability comes with the commit at flush
}

func (h *writeHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	name := h.spool.Name()
	if err := h.spool.Close(); err != nil {
		h.fsys.log.Warn("closing spool", "path", name, "err", err)
	}
	if err := os.Remove(name); err != nil {
		h.fsys.log.Warn("removing spool", "path", name, "err", err)
	}
	if h.pending != nil {
		h.pending.detach(h)
	}
	return 0
}

// pendingNode is the name of a dataset being created: it exists from the
// create until its first ingest commits (then the dataset's views take over
// the name) or its last handle closes.
type pendingNode struct {
	fs.Inode
	fsys    *FS
	dataset string
	view    store.View
	ino     uint64
	created time.Time

	// mu protects handles.
	mu      sync.Mutex
	handles []*writeHandle
}

var (
	_ = (fs.NodeGetattrer)((*pendingNode)(nil))
	_ = (fs.NodeSetattrer)((*pendingNode)(nil))
	_ = (fs.NodeOpener)((*pendingNode)(nil))
)

var pendingSeq atomic.Int64

func pendingKey(dataset string, v store.View) string { return dataset + v.Ext() }

// pendingNode returns the node for a dataset being created, making one if
// needed.
func (f *FS) pendingNode(dataset string, v store.View) *pendingNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := pendingKey(dataset, v)
	if p := f.pending[key]; p != nil {
		return p
	}
	p := &pendingNode{
		fsys:    f,
		dataset: dataset,
		view:    v,
		ino:     hashIno("pending", key, pendingSeq.Add(1)),
		created: time.Now(),
	}
	f.pending[key] = p
	return p
}

func (f *FS) pendingFor(dataset string, v store.View) *pendingNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending[pendingKey(dataset, v)]
}

func (p *pendingNode) attach(h *writeHandle) {
	p.mu.Lock()
	p.handles = append(p.handles, h)
	p.mu.Unlock()
}

func (p *pendingNode) detach(h *writeHandle) {
	p.mu.Lock()
	for i, x := range p.handles {
		if x == h {
			p.handles = append(p.handles[:i], p.handles[i+1:]...)
			break
		}
	}
	empty := len(p.handles) == 0
	p.mu.Unlock()
	if !empty {
		return
	}
	f := p.fsys
	f.mu.Lock()
	if key := pendingKey(p.dataset, p.view); f.pending[key] == p {
		delete(f.pending, key)
	}
	f.mu.Unlock()
}

func (p *pendingNode) fill(a *fuse.Attr) {
	var size int64
	p.mu.Lock()
	for _, h := range p.handles {
		size = max(size, h.size.Load())
	}
	p.mu.Unlock()
	a.Mode = syscall.S_IFREG | p.fsys.fileMode()
	a.Nlink = 1
	a.Size = uint64(size)
	a.SetTimes(&p.created, &p.created, &p.created)
	p.fsys.fillAttr(a)
}

func (p *pendingNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	p.fill(&out.Attr)
	if h, ok := fh.(*writeHandle); ok {
		out.Size = uint64(h.size.Load())
	}
	return 0
}

func (p *pendingNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		if h, ok := fh.(*writeHandle); ok {
			if errno := h.truncate(int64(sz)); errno != 0 {
				return errno
			}
		}
	}
	return p.Getattr(ctx, fh, out)
}

func (p *pendingNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	_, base := splitDataset(p.dataset)
	h, errno := p.fsys.newWriteHandle(p.dataset, base+p.view.Ext(), flags, p)
	if errno != 0 {
		return nil, 0, errno
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}
