package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
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
			data, err := c.bufs.get(c.part, j, func() ([]byte, error) { return c.load(j) })
			if err != nil {
				return n, err
			}
			n += copy(p[n:], data[pos-c.spans[j].off:])
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

// load reads span j whole and verifies it.
func (c *checkedFile) load(j int) ([]byte, error) {
	sp := c.spans[j]
	data := make([]byte, sp.n)
	if m, err := c.r.ReadAt(data, sp.off); err != nil && m < len(data) {
		if err == io.EOF {
			err := fmt.Errorf("%w: %s: %s [%d,+%d) is past the end of the file", ErrCorrupt, c.path, sp.what, sp.off, sp.n)
			c.damage.CompareAndSwap(nil, &err)
			return nil, err
		}
		return nil, fmt.Errorf("%s: %s: %w", c.path, sp.what, err)
	}
	if got := *crc32c(data); got != *sp.crc {
		err := fmt.Errorf("%w: %s: %s [%d,+%d) has CRC32C %08x, the manifest says %08x",
			ErrCorrupt, c.path, sp.what, sp.off, sp.n, got, *sp.crc)
		c.damage.CompareAndSwap(nil, &err)
		return nil, err
	}
	return data, nil
}

// rgBuffersSize is how many verified spans a snapshot keeps: the chunks
// rendered ahead of a reader, the one it reads, and a footer.
const rgBuffersSize = readAhead + 2

// rgBuffers keeps the most recently verified spans of a snapshot. A load
// runs outside the lock; readers of the same span wait for it.
type rgBuffers struct {
	mu   sync.Mutex  // protects ents
	ents []*rgBuffer // least recently used first
}

type rgBuffer struct {
	part, span int
	done       chan struct{} // closed once data or err is set
	data       []byte
	err        error
}

func (b *rgBuffers) get(part, span int, load func() ([]byte, error)) ([]byte, error) {
	b.mu.Lock()
	for i, e := range b.ents {
		if e.part == part && e.span == span {
			b.ents = append(append(b.ents[:i:i], b.ents[i+1:]...), e)
			b.mu.Unlock()
			<-e.done
			return e.data, e.err
		}
	}
	e := &rgBuffer{part: part, span: span, done: make(chan struct{})}
	if len(b.ents) >= rgBuffersSize {
		b.ents = b.ents[1:]
	}
	b.ents = append(b.ents, e)
	b.mu.Unlock()
	e.data, e.err = load()
	close(e.done)
	if e.err != nil {
		// Forget a failure: a transient read error may pass next time, and
		// damage is found again.
		b.mu.Lock()
		for i, x := range b.ents {
			if x == e {
				b.ents = append(b.ents[:i:i], b.ents[i+1:]...)
				break
			}
		}
		b.mu.Unlock()
	}
	return e.data, e.err
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

// reportDamage logs damage found while reading a dataset and records it in
// the dataset's last_error, so .metadata/NAME.json shows it.
func (s *Store) reportDamage(name string, err error) {
	s.log.Error("damaged data: read refused", "dataset", name, "err", err)
	if !s.opt.ReadOnly {
		s.recordError(name, "read", err)
	}
}
