package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

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
	return &checkedFile{r: r, path: path, spans: spansOf(p), part: part, bufs: bufs}
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
