package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"bcfs/store"
)

// writeHandle is an open-for-write of a dataset view. Until it writes or
// truncates, it reads the committed bytes of the version it opened (an
// O_RDWR open by a spreadsheet reads the dataset). Written bytes go to a
// spool file under the store's spool folder (inputs may exceed RAM); a
// first write at an offset of a handle that did not truncate starts the
// spool from the committed bytes (dd conv=notrunc, rsync --inplace). The
// spool is ingested at flush when it has bytes not ingested yet.
type writeHandle struct {
	fsys    *FS
	dataset string
	source  string // name shown in ingest errors, e.g. "AAPL.csv"
	view    store.View
	pending *pendingNode // set when the dataset did not exist at create
	node    *viewNode    // the view inode it was opened on, if any
	pid     uint32       // the opening thread, for the truncate of open(O_TRUNC)
	size    atomic.Int64 // spool length, read by Getattr without mu

	// mu serialises reads, writes, truncates and flushes of this handle
	// and protects the fields below.
	mu         sync.Mutex
	spool      *os.File
	appendMode bool
	snap       *store.Snapshot // committed version read until started; nil for a new dataset
	started    bool            // written or truncated: the spool is the content
	read       bool            // read before it started
	dirty      bool            // bytes written since the last flush
}

var (
	_ = (fs.FileWriter)((*writeHandle)(nil))
	_ = (fs.FileReader)((*writeHandle)(nil))
	_ = (fs.FileFlusher)((*writeHandle)(nil))
	_ = (fs.FileReleaser)((*writeHandle)(nil))
	_ = (fs.FileFsyncer)((*writeHandle)(nil))
)

// newWriteHandle opens a write handle on view v of dataset; version is the
// committed version it reads until it writes (0: none, a new file: a
// dataset being created, or one its creator had just removed).
func (f *FS) newWriteHandle(dataset, source string, v store.View, version int64, flags uint32, p *pendingNode) (*writeHandle, syscall.Errno) {
	if errno := f.writable(); errno != 0 {
		return nil, errno
	}
	h := &writeHandle{
		fsys:       f,
		dataset:    dataset,
		source:     source,
		view:       v,
		pending:    p,
		appendMode: flags&syscall.O_APPEND != 0,
		started:    flags&syscall.O_TRUNC != 0 || version == 0,
	}
	if version > 0 && !h.started {
		sn, err := f.st.Pin(dataset, version)
		if errors.Is(err, store.ErrNotFound) {
			sn, err = f.st.Pin(dataset, 0)
		}
		if err != nil {
			return nil, translateError(f.log, "open", dataset, err)
		}
		h.snap = sn
	}
	// The spool keeps the extension of the name written so that format
	// detection by name works on it.
	spool, err := f.st.CreateSpool("write", source)
	if err != nil {
		h.releaseSnap()
		return nil, translateError(f.log, "spool", dataset, err)
	}
	h.spool = spool
	if p != nil {
		p.attach(h)
	}
	return h, 0
}

func (h *writeHandle) releaseSnap() {
	if h.snap != nil {
		h.snap.Release()
		h.snap = nil
	}
}

// start makes the spool the handle's content, at its first write or
// truncate. seed copies the committed bytes in first: a write into the
// middle of a file that was not truncated changes those bytes, not a file
// of zeros. Called with mu held.
func (h *writeHandle) start(seed bool) error {
	if h.started {
		return nil
	}
	h.started = true
	defer h.releaseSnap()
	if !seed || h.snap == nil {
		return nil
	}
	n, err := h.snap.WriteTo(h.view, h.spool)
	if err != nil {
		return err
	}
	h.size.Store(n)
	return nil
}

// Write spools data. An append handle appends to its own spool whatever
// offset the kernel gives (another handle's appends move the kernel's idea
// of the end); each handle's appended rows merge at its own flush, so two
// appenders are serialized, not interleaved.
func (h *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.start(!h.appendMode); err != nil {
		return 0, translateError(h.fsys.log, "write", h.dataset, err)
	}
	pos := off
	if h.appendMode {
		pos = h.size.Load()
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

// Read returns the committed bytes until the handle writes or truncates,
// then the spooled bytes (an O_RDWR handle reads what it wrote).
func (h *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int
	var err error
	if !h.started && h.snap != nil {
		h.read = true
		n, err = h.snap.ReadAt(h.view, dest, off)
	} else {
		n, err = h.spool.ReadAt(dest, off)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, translateError(h.fsys.log, "read", h.dataset, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// contentSize is what fstat on the handle shows.
func (h *writeHandle) contentSize() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started && h.snap != nil {
		return h.snap.Size(h.view)
	}
	return h.size.Load()
}

// truncateIfUnused starts the handle empty if it has not been read from,
// written or truncated yet.
func (h *writeHandle) truncateIfUnused() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started && !h.read {
		_ = h.start(false)
	}
}

// truncate resets (size 0) or cuts the spool; the dataset is never touched.
func (h *writeHandle) truncate(size int64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.start(size > 0); err != nil {
		return translateError(h.fsys.log, "truncate", h.dataset, err)
	}
	if err := h.spool.Truncate(size); err != nil {
		return translateError(h.fsys.log, "truncate", h.dataset, err)
	}
	h.size.Store(size)
	if size == 0 {
		h.dirty = false
	}
	return 0
}

// Flush ingests the spool if it has new bytes. close() returns its result, so
// a rejected file makes cp fail. A second flush without writes is a no-op.
// A flush by a process that is being killed (its file descriptors close as
// it dies) ingests nothing: the file is most likely cut short.
func (h *writeHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if !h.dirty {
		h.mu.Unlock()
		return 0
	}
	h.dirty = false
	if c, ok := fuse.FromContext(ctx); ok {
		if why := writerDied(c.Pid); why != "" {
			h.mu.Unlock()
			err := fmt.Errorf("%s: %w (%s)", h.source, store.ErrWriterDied, why)
			h.fsys.log.Warn("write not ingested", "dataset", h.dataset, "err", err)
			h.fsys.st.RecordWriteFailure(h.dataset, h.source, err)
			return syscall.EIO
		}
	}
	errno := h.fsys.ingest(h.dataset, h.spool.Name(), h.source)
	h.mu.Unlock()
	return errno
}

func (h *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return 0 // the spool is transient; durability comes with the commit at flush
}

func (h *writeHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseSnap()
	if h.node != nil {
		h.node.removeWriter(h)
	}
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

// writerDied says why the process pid is dying, or "" if it is not: a
// SIGKILL pending, or the task exiting with a signal pending (a fatal
// signal's default action; exit() with no signal pending is a normal end
// whose closes still ingest). It reads /proc/<pid>/status (SigPnd, ShdPnd)
// and /proc/<pid>/stat (PF_EXITING). Limits: a process that is killed
// after its close() returned has already ingested; one whose file is
// closed by another process sharing the descriptor is not detected.
func writerDied(pid uint32) string {
	if pid == 0 {
		return ""
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	var pending uint64
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "SigPnd" || k == "ShdPnd") {
			x, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			pending |= x
		}
	}
	const sigkill = 1 << (9 - 1)
	if pending&sigkill != 0 {
		return fmt.Sprintf("process %d was killed (SIGKILL)", pid)
	}
	if pending == 0 {
		return ""
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, flags field 9.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 7 {
		return ""
	}
	flags, _ := strconv.ParseUint(fields[6], 10, 64)
	const pfExiting = 0x4
	if flags&pfExiting != 0 {
		return fmt.Sprintf("process %d died of a signal while writing (pending signals %#x)", pid, pending)
	}
	return ""
}

// callerOf returns the process (thread group) id of the request's caller,
// the unit the namespace remembers removals by; 0 if unknown.
func callerOf(ctx context.Context) uint32 {
	c, ok := fuse.FromContext(ctx)
	if !ok || c.Pid == 0 {
		return 0
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Pid))
	if err != nil {
		return c.Pid
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if tgid, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				return uint32(tgid)
			}
		}
	}
	return c.Pid
}

// pendingNode is the name of a dataset being created: it exists from the
// create until its first ingest commits (then the dataset's views take over
// the name) or its last handle closes.
type pendingNode struct {
	fs.Inode
	fsys      *FS
	dataset   string
	view      store.View
	ino       uint64
	created   time.Time
	endCreate func() // ends the namespace's record of the creation

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
		fsys:      f,
		dataset:   dataset,
		view:      v,
		ino:       hashIno("pending", key, pendingSeq.Add(1)),
		created:   time.Now(),
		endCreate: f.ns.BeginCreate(dataset, v),
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
	p.endCreate()
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
	p.fsys.ownerMode("ds:"+p.dataset, a)
}

func (p *pendingNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	p.fill(&out.Attr)
	if h, ok := fh.(*writeHandle); ok {
		out.Size = uint64(h.size.Load())
	}
	return 0
}

func (p *pendingNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	p.fill(&out.Attr)
	p.fsys.setOwnerMode("ds:"+p.dataset, in, &out.Attr)
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
	h, errno := p.fsys.newWriteHandle(p.dataset, base+p.view.Ext(), p.view, 0, flags, p)
	if errno != 0 {
		return nil, 0, errno
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}
