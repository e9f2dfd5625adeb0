package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"bcfs/metastore"
)

// castagnoli is the CRC32C table; hash/crc32 uses the CPU's CRC32
// instruction for it where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c returns the CRC32C of data as a manifest records it.
func crc32c(data []byte) *uint32 {
	c := crc32.Checksum(data, castagnoli)
	return &c
}

// span is a checked byte range of a partition file: a row group, or the
// footer after the last one.
type span struct {
	off, n int64
	crc    *uint32 // nil: not checked (a manifest from before checksums)
	what   string  // "row group 3", "footer"
}

// spansOf lists the checked ranges of p in file order.
func spansOf(p *metastore.Partition) []span {
	out := make([]span, 0, len(p.RowGroups)+1)
	end := int64(0)
	for j, rg := range p.RowGroups {
		out = append(out, span{off: rg.Offset, n: rg.Length, crc: rg.CRC32C, what: fmt.Sprintf("row group %d", j)})
		end = rg.Offset + rg.Length
	}
	if p.FooterCRC32C != nil && end > 0 && end < p.Size {
		out = append(out, span{off: end, n: p.Size - end, crc: p.FooterCRC32C, what: "footer"})
	}
	return out
}

// checkedFile reads a partition file for the views and merges so that no
// byte of a damaged row group or footer is ever decoded or served: the
// first read touching a span loads the whole span, compares its CRC32C with
// the manifest's, and serves from that verified copy. Bytes outside the
// spans (the leading magic) and spans without a checksum pass through.
type checkedFile struct {
	r     io.ReaderAt
	path  string // for errors
	spans []span
	part  int        // index of this file in its snapshot, for the cache key
	bufs  *rgBuffers // verified spans, shared by a snapshot's files
	// damage is the first damage found (an ErrCorrupt error). Decoders
	// may flatten the error a ReadAt returns, so callers ask here.
	damage atomic.Pointer[error]
	// raw is the descriptor of a local file, for directReader; nil for
	// other files (S3, test wrappers), which always read through ReadAt.
	raw    syscall.RawConn
	direct directState
}

// damaged returns the damage found in the file so far, or nil.
func (c *checkedFile) damaged() error {
	if e := c.damage.Load(); e != nil {
		return *e
	}
	return nil
}

// orDamage returns the damage found in any of files if err is not nil, so a
// read that failed because of damage reports it as such.
func orDamage(err error, files ...*checkedFile) error {
	if err == nil {
		return nil
	}
	for _, f := range files {
		if d := f.damaged(); d != nil {
			return d
		}
	}
	return err
}

func newCheckedFile(r io.ReaderAt, path string, p *metastore.Partition, part int, bufs *rgBuffers) *checkedFile {
	c := &checkedFile{r: r, path: path, spans: spansOf(p), part: part, bufs: bufs}
	if f, ok := r.(*os.File); ok {
		if raw, err := f.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	return c
}

func (c *checkedFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		// The first span ending after pos.
		j := sort.Search(len(c.spans), func(i int) bool { return c.spans[i].off+c.spans[i].n > pos })
		if j < len(c.spans) && c.spans[j].off <= pos && c.spans[j].crc != nil {
			err := c.bufs.use(c.part, j, func(buf []byte) error { return c.load(j, buf) }, int(c.spans[j].n),
				func(data []byte) { n += copy(p[n:], data[pos-c.spans[j].off:]) })
			if err != nil {
				return n, err
			}
			continue
		}
		// Unchecked bytes, up to the next checked span.
		end := off + int64(len(p))
		for k := j; k < len(c.spans); k++ {
			if c.spans[k].off > pos && c.spans[k].crc != nil {
				end = min(end, c.spans[k].off)
				break
			}
		}
		m, err := c.r.ReadAt(p[n:n+int(end-pos)], pos)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// load reads span j whole into buf (its length) and verifies it.
func (c *checkedFile) load(j int, buf []byte) error {
	sp := c.spans[j]
	if m, err := c.r.ReadAt(buf, sp.off); err != nil && m < len(buf) {
		if err == io.EOF {
			err := fmt.Errorf("%w: %s: %s [%d,+%d) is past the end of the file", ErrCorrupt, c.path, sp.what, sp.off, sp.n)
			c.damage.CompareAndSwap(nil, &err)
			return err
		}
		return fmt.Errorf("%s: %s: %w", c.path, sp.what, err)
	}
	if got := *crc32c(buf); got != *sp.crc {
		err := fmt.Errorf("%w: %s: %s [%d,+%d) has CRC32C %08x, the manifest says %08x",
			ErrCorrupt, c.path, sp.what, sp.off, sp.n, got, *sp.crc)
		c.damage.CompareAndSwap(nil, &err)
		return err
	}
	return nil
}

// rgBuffersSize is how many verified spans a snapshot keeps: the chunks
// rendered at once (ahead of a reader and the one it reads, or one per core
// in Snapshot.WriteTo), and a footer.
var rgBuffersSize = max(readAhead+1, runtime.GOMAXPROCS(0)) + 1

// rgBuffers keeps the most recently verified spans of a snapshot. A load
// runs outside the lock; readers of the same span wait for it. Buffers are
// recycled through spanPool once evicted and no reader holds them, so a
// sequential reader does not fault in fresh memory for every row group.
type rgBuffers struct {
	mu   sync.Mutex  // protects ents and every entry's refs and evicted
	ents []*rgBuffer // least recently used first
}

type rgBuffer struct {
	part, span int
	done       chan struct{} // closed once data or err is set
	data       []byte
	err        error
	refs       int  // callers between taking the entry and done with data
	evicted    bool // no longer in ents: data goes back to the pool at refs 0
}

// spanPool recycles span buffers of at least minPooled bytes (row groups;
// footers are small). Capacities are rounded up to poolStep so that the
// row groups of a dataset, of similar sizes, reuse each other's buffers.
var spanPool sync.Pool // of *[]byte

const (
	minPooled = 64 << 10
	poolStep  = 64 << 10
)

func getSpanBuf(n int) []byte {
	if n < minPooled {
		return make([]byte, n)
	}
	if bp, ok := spanPool.Get().(*[]byte); ok && cap(*bp) >= n {
		return (*bp)[:n]
	}
	return make([]byte, n, (n+poolStep-1)/poolStep*poolStep)
}

func putSpanBuf(buf []byte) {
	if cap(buf) >= minPooled {
		spanPool.Put(&buf)
	}
}

// use calls fn with the verified bytes of span (part, span), loading them
// with load into a buffer of size bytes if they are not kept. fn must not
// keep data.
func (b *rgBuffers) use(part, span int, load func(buf []byte) error, size int, fn func(data []byte)) error {
	b.mu.Lock()
	var e *rgBuffer
	for i, x := range b.ents {
		if x.part == part && x.span == span {
			e = x
			b.ents = append(append(b.ents[:i:i], b.ents[i+1:]...), e)
			break
		}
	}
	loading := e == nil
	if loading {
		e = &rgBuffer{part: part, span: span, done: make(chan struct{})}
		if len(b.ents) >= rgBuffersSize {
			b.evict(b.ents[0])
		}
		b.ents = append(b.ents, e)
	}
	e.refs++
	b.mu.Unlock()
	if loading {
		buf := getSpanBuf(size)
		if err := load(buf); err != nil {
			putSpanBuf(buf)
			e.err = err
		} else {
			e.data = buf
		}
		close(e.done)
	} else {
		<-e.done
	}
	if e.err == nil {
		fn(e.data)
	}
	b.mu.Lock()
	if e.err != nil && !e.evicted {
		// Forget a failure: a transient read error may pass next time,
		// and damage is found again.
		b.evict(e)
	}
	e.refs--
	b.recycle(e)
	b.mu.Unlock()
	return e.err
}

// drop evicts every entry, recycling the buffers nobody uses.
func (b *rgBuffers) drop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.ents) > 0 {
		b.evict(b.ents[0])
	}
}

// evict drops e from ents; b.mu held.
func (b *rgBuffers) evict(e *rgBuffer) {
	for i, x := range b.ents {
		if x == e {
			b.ents = append(b.ents[:i:i], b.ents[i+1:]...)
			break
		}
	}
	e.evicted = true
	b.recycle(e)
}

// recycle returns an evicted entry's buffer to the pool once nobody uses
// it; b.mu held.
func (b *rgBuffers) recycle(e *rgBuffer) {
	if e.evicted && e.refs == 0 && e.data != nil {
		putSpanBuf(e.data)
		e.data = nil
	}
}

// missingPartition reports a partition file that a committed manifest names
// but that is gone as damage (ErrCorrupt, an EIO at the mount), not as a
// missing name: the error does not wrap fs.ErrNotExist.
func missingPartition(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: partition file %s is missing: %v", ErrCorrupt, path, err)
	}
	return err
}

// reportDamage logs damage found while reading a dataset (file: the
// damaged or missing partition file, if known) and records it in the
// dataset's last_error, so .metadata/NAME.json shows it.
func (s *Store) reportDamage(name, file string, err error) {
	s.log.Error("damaged data: read refused", "dataset", name, "file", file, "err", err)
	if file == "" {
		file = "read"
	}
	s.recordError(name, file, err)
}

// Direct reads of verified row groups (the Parquet view).
//
// The Parquet view copies row groups unchanged, so once a row group's bytes
// are verified nothing needs them in memory: the view reads them with
// pread straight into the caller's buffer, as an unchecked read would, for
// as long as they are sure to be the verified bytes. "Verified once"
// means:
//
//   - The snapshot holds a read lease on the file (fcntl F_SETLEASE
//     F_RDLCK), which the kernel grants only while no one has the file
//     open for writing. Anyone opening it for writing or truncating it
//     first breaks the lease: the kernel signals this process (SIGIO) and
//     holds the opener until the lease is given up. The handler marks the
//     file's direct reads off, then gives the lease up; from then on every
//     read of that snapshot goes through checkedFile.ReadAt, which checks
//     every row group it loads. A direct read checks the mark after its
//     pread too, so a read racing with the break is discarded.
//   - While the lease is held the file cannot change through the kernel,
//     so a row group is verified once per file identity (device, inode,
//     size, mtime, ctime): the process remembers (identity, byte range,
//     CRC32C) in verifiedSpans, and a snapshot opened later on the same,
//     unchanged file does not check it again. A file written, truncated or
//     replaced in between has another identity (its ctime moves, and is
//     fine-grained once queried since Linux 6.13) and is checked again.
//   - A direct read uses RWF_NOWAIT: it is served only from the page
//     cache. Bytes that must come from the disk again (the page cache
//     dropped them) are verified again before they are served.
//
// Not covered: bytes that changed on the disk below the filesystem after
// the check and were read back into the page cache by another process
// between two of ours; a writer let through because this process did not
// answer the lease break for /proc/sys/fs/lease-break-time (45 s; it was
// stopped). bcfs verify (SHA-256 of whole files) finds such damage. Where
// no lease can be had (a file open for writing, a filesystem without
// leases, a file of another owner without CAP_LEASE, the S3 store) every
// read goes through ReadAt, as do reads for decoding (the CSV view,
// merges), which check every row group they load.

// fileID identifies a file's content to the kernel.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // ns
}

// spanID is a verified byte range and the CRC32C it was checked against.
type spanID struct {
	off, n int64
	crc    uint32
}

// verifiedSpans remembers the row groups this process verified, by file
// identity. It is bounded by maxVerifiedFiles files (then starts over).
type verifiedSpans struct {
	mu    sync.Mutex // protects files
	files map[fileID]map[spanID]struct{}
}

const maxVerifiedFiles = 1024

var verified = verifiedSpans{files: map[fileID]map[spanID]struct{}{}}

func (v *verifiedSpans) has(id fileID, s spanID) bool {
	v.mu.Lock()
	_, ok := v.files[id][s]
	v.mu.Unlock()
	return ok
}

// forget drops what was verified of file id (a writer opened it).
func (v *verifiedSpans) forget(id fileID) {
	v.mu.Lock()
	delete(v.files, id)
	v.mu.Unlock()
}

func (v *verifiedSpans) add(id fileID, s spanID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := v.files[id]
	if m == nil {
		if len(v.files) >= maxVerifiedFiles {
			clear(v.files)
		}
		m = map[spanID]struct{}{}
		v.files[id] = m
	}
	m[s] = struct{}{}
}

// directReader reads a checkedFile for the Parquet view: verified row
// groups by pread into the caller's buffer (see above), everything else
// through checkedFile.ReadAt.
type directReader struct{ c *checkedFile }

func (d directReader) ReadAt(p []byte, off int64) (int, error) {
	c := d.c
	if len(p) == 0 || !c.leased() {
		return c.ReadAt(p, off)
	}
	j := sort.Search(len(c.spans), func(i int) bool { return c.spans[i].off+c.spans[i].n > off })
	if j == len(c.spans) || c.spans[j].crc == nil || c.spans[j].off > off || off+int64(len(p)) > c.spans[j].off+c.spans[j].n {
		return c.ReadAt(p, off)
	}
	if n, ok := c.readVerified(j, p, off); ok {
		return n, nil
	}
	return c.ReadAt(p, off)
}

// directState is a checkedFile's lease, taken at its first direct read.
type directState struct {
	once   sync.Once
	ok     bool   // the lease was granted: direct reads may go on
	id     fileID // the file's identity under the lease
	broken atomic.Bool
	// seen[j] is set once span j is known verified under id, so that a
	// read asks verifiedSpans only the first time.
	seen []atomic.Bool
}

// leased takes the file's read lease on first use and reports whether
// direct reads may go on: a lease is held and no writer broke it.
func (c *checkedFile) leased() bool {
	if c.raw == nil {
		return false
	}
	c.direct.once.Do(func() { c.direct.ok = c.takeLease() })
	return c.direct.ok && !c.direct.broken.Load()
}

func (c *checkedFile) takeLease() bool {
	leases.start()
	var err error
	if cerr := c.raw.Control(func(fd uintptr) { _, err = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_RDLCK) }); cerr != nil || err != nil {
		return false
	}
	leases.add(c)
	id, err := c.stat()
	if err != nil {
		leases.remove(c)
		return false
	}
	c.direct.id = id
	c.direct.seen = make([]atomic.Bool, len(c.spans))
	return true
}

// release gives up the lease (if any); the file is closing.
func (c *checkedFile) release() {
	if c.raw != nil {
		leases.remove(c)
	}
}

// readVerified reads p at off, inside span j, straight from the page cache,
// verifying the span first if this identity of the file has not had it
// verified. false: read it through ReadAt instead (the lease broke, the
// span is damaged, or its pages keep leaving the page cache).
func (c *checkedFile) readVerified(j int, p []byte, off int64) (int, bool) {
	sp := c.spans[j]
	key := spanID{sp.off, sp.n, *sp.crc}
	if !c.direct.seen[j].Load() {
		if !verified.has(c.direct.id, key) && !c.verify(j) {
			return 0, false
		}
		c.direct.seen[j].Store(true)
	}
	for tries := 0; tries < 2; tries++ {
		n, err := c.preadNoWait(p, off)
		if c.direct.broken.Load() {
			return 0, false // a writer may have changed what was read
		}
		if err == nil && n == len(p) {
			return n, true
		}
		if !errors.Is(err, unix.EAGAIN) && err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
				c.direct.broken.Store(true) // no RWF_NOWAIT here
			}
			return 0, false
		}
		// Part of the range left the page cache: what the disk gives
		// is verified again first.
		if !c.verify(j) {
			return 0, false
		}
	}
	return 0, false
}

// verify checks span j's CRC32C over the file's bytes, streamed through a
// small buffer, and remembers it under the file's identity. A mismatch is
// left to ReadAt to find again and report.
func (c *checkedFile) verify(j int) bool {
	sp := c.spans[j]
	bp := verifyBufs.Get().(*[]byte)
	defer verifyBufs.Put(bp)
	buf := *bp
	crc := uint32(0)
	for pos, end := sp.off, sp.off+sp.n; pos < end; {
		k := int(min(int64(len(buf)), end-pos))
		if m, _ := c.r.ReadAt(buf[:k], pos); m < k {
			return false
		}
		crc = crc32.Update(crc, castagnoli, buf[:k])
		pos += int64(k)
	}
	if crc != *sp.crc || c.direct.broken.Load() {
		return false
	}
	verified.add(c.direct.id, spanID{sp.off, sp.n, crc})
	verifyCount.Add(1)
	return true
}

// verifyCount counts the spans verify checked (tests).
var verifyCount atomic.Int64

var verifyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (c *checkedFile) stat() (fileID, error) {
	var st unix.Stat_t
	var err error
	if cerr := c.raw.Control(func(fd uintptr) { err = unix.Fstat(int(fd), &st) }); cerr != nil {
		return fileID{}, cerr
	}
	if err != nil {
		return fileID{}, err
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, nil
}

// preadNoWait reads p at off from the page cache only (RWF_NOWAIT).
func (c *checkedFile) preadNoWait(p []byte, off int64) (int, error) {
	r := nowaitReads.Get().(*nowaitRead)
	r.iov = unix.Iovec{Base: &p[0]}
	r.iov.SetLen(len(p))
	r.off = off
	cerr := c.raw.Read(r.fn)
	n, err := r.n, r.err
	*r = nowaitRead{fn: r.fn}
	nowaitReads.Put(r)
	if cerr != nil {
		return 0, cerr
	}
	return n, err
}

// nowaitRead is one preadNoWait call; pooled with its bound method so
// that a read allocates no closure.
type nowaitRead struct {
	iov unix.Iovec
	off int64
	n   int
	err error
	fn  func(fd uintptr) bool // r.read
}

var nowaitReads = sync.Pool{New: func() any {
	r := &nowaitRead{}
	r.fn = r.read
	return r
}}

func (r *nowaitRead) read(fd uintptr) bool {
	n, _, e := unix.Syscall6(unix.SYS_PREADV2, fd, uintptr(unsafe.Pointer(&r.iov)), 1, uintptr(r.off), uintptr(r.off>>32), unix.RWF_NOWAIT)
	r.n = int(n)
	if e != 0 {
		r.n, r.err = 0, e
	}
	return true
}

// leaseTable is the files holding read leases, for the SIGIO handler.
type leaseTable struct {
	once  sync.Once
	mu    sync.Mutex // protects files
	files map[*checkedFile]struct{}
}

var leases = leaseTable{files: map[*checkedFile]struct{}{}}

// start installs the handler of lease breaks once per process.
func (t *leaseTable) start() {
	t.once.Do(func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, unix.SIGIO)
		go func() {
			for range sig {
				t.breakAll()
			}
		}()
	})
}

func (t *leaseTable) add(c *checkedFile) {
	t.mu.Lock()
	t.files[c] = struct{}{}
	t.mu.Unlock()
}

func (t *leaseTable) remove(c *checkedFile) {
	t.mu.Lock()
	delete(t.files, c)
	t.mu.Unlock()
}

// breakAll answers a SIGIO: every file whose lease is being broken stops
// its direct reads, then gives the lease up so that the writer goes on. A
// signal does not say which file: each is asked (F_GETLEASE shows F_UNLCK
// while a break is pending).
func (t *leaseTable) breakAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.files {
		var typ int
		var err error
		if cerr := c.raw.Control(func(fd uintptr) { typ, err = unix.FcntlInt(fd, unix.F_GETLEASE, 0) }); cerr != nil || err != nil {
			continue
		}
		if typ == unix.F_RDLCK {
			continue
		}
		c.direct.broken.Store(true)
		verified.forget(c.direct.id)
		c.raw.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK) })
		delete(t.files, c)
	}
}
