package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"bcfs/formats"
	"bcfs/metastore"
)

// Snapshot is a pinned version of a dataset: its views have fixed content
// and stay readable, whatever commits or deletes happen after Pin, until
// Release.
type Snapshot struct {
	s     *Store
	name  string
	m     *metastore.Manifest
	files []metastore.File // open partition files, in manifest order
	abs   []string         // their absolute paths (pins and cache keys)
	// src reads files[i] checking each row group's CRC32C (see
	// checkedFile); every read of partition data goes through it.
	src    []*checkedFile
	bufs   rgBuffers
	damage atomic.Bool // damage found and reported
	header []byte      // CSV header
	// chunks are the row groups of all partitions in order; starts[k] is
	// the offset of chunk k in the CSV view, starts[len(chunks)] its size.
	chunks []chunkRef
	starts []int64
	// loc is the zone the CSV view renders timestamps in with their UTC
	// offset (see csvViewSize); nil renders UTC.
	loc *time.Location

	layoutOnce sync.Once
	layout     *formats.ViewLayout
	layoutErr  error

	// mu protects readers, last and ahead.
	mu      sync.Mutex
	readers map[int]*formats.PartitionReader
	ahead   []*prefetch
	// last is the most recently rendered chunk, so sequential reads of one
	// chunk never render it twice even if the shared cache declined it.
	last struct {
		k    int
		data []byte
	}
	released atomic.Bool
}

type chunkRef struct {
	part, rg int
	csvLen   int64
}

// Pin takes a snapshot of version (0: the head) of a dataset.
func (s *Store) Pin(name string, version int64) (*Snapshot, error) {
	for attempt := 0; ; attempt++ {
		var m *metastore.Manifest
		var err error
		if version == 0 {
			m, err = s.head(name)
		} else {
			if err = ValidName(name); err == nil {
				m, err = metastore.Load(s.fs, s.datasetDir(name), version)
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, metastore.ErrNotFound) {
					err = fmt.Errorf("dataset %q version %d: %w", name, version, ErrNotFound)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		sn, err := s.pinManifest(name, m)
		if err == nil {
			return sn, nil
		}
		// The files may have been collected between reading the manifest
		// and opening them (another process's GC): take the new head.
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if version != 0 || attempt >= 3 {
			// The manifest names a file that is gone: damage, unless
			// the version itself went meanwhile.
			if _, serr := s.fs.Stat(filepath.Join(s.datasetDir(name), metastore.ManifestName(m.Version))); serr != nil {
				return nil, fmt.Errorf("dataset %q version %d: %w", name, m.Version, ErrNotFound)
			}
			file := ""
			var pe *fs.PathError
			if errors.As(err, &pe) {
				file = pe.Path
			}
			err = fmt.Errorf("%w: dataset %q version %d names a partition file that is missing: %v", ErrCorrupt, name, m.Version, err)
			s.reportDamage(name, file, err)
			return nil, err
		}
		s.mu.Lock()
		delete(s.heads, name)
		s.mu.Unlock()
	}
}

func (s *Store) pinManifest(name string, m *metastore.Manifest) (*Snapshot, error) {
	dir := s.datasetDir(name)
	sn := &Snapshot{s: s, name: name, m: m, header: formats.AppendCSVHeader(nil, m.Schema),
		readers: map[int]*formats.PartitionReader{}}
	sn.last.k = -1
	for i, pt := range m.Partitions {
		p := filepath.Join(dir, filepath.FromSlash(pt.Path))
		f, err := s.fs.Open(p)
		if err != nil {
			sn.closeFiles()
			return nil, err
		}
		sn.files = append(sn.files, f)
		sn.abs = append(sn.abs, p)
		sn.src = append(sn.src, newCheckedFile(f, p, &m.Partitions[i], i, &sn.bufs))
		for j, rg := range pt.RowGroups {
			sn.chunks = append(sn.chunks, chunkRef{part: i, rg: j, csvLen: rg.CSVLength})
		}
	}
	// A version written before views showed zones has a CSV size without
	// offsets: it keeps rendering in UTC.
	if loc := datasetZone(m); csvViewSize(m) == m.CSVSize && loc != nil {
		sn.loc = loc
		k := 0
		for _, pt := range m.Partitions {
			for _, rg := range pt.RowGroups {
				sn.chunks[k].csvLen += formats.CSVZoneBytes(rg.Rows, loc)
				k++
			}
		}
	}
	sn.starts = make([]int64, len(sn.chunks)+1)
	off := int64(len(sn.header))
	for k, c := range sn.chunks {
		sn.starts[k] = off
		off += c.csvLen
	}
	sn.starts[len(sn.chunks)] = off
	if off != m.CSVSize {
		sn.closeFiles()
		return nil, fmt.Errorf("%w: %s version %d: CSV size %d in manifest, row groups sum to %d", ErrCorrupt, name, m.Version, m.CSVSize, off)
	}
	s.mu.Lock()
	for _, p := range sn.abs {
		s.pins[p]++
	}
	s.mu.Unlock()
	return sn, nil
}

func (sn *Snapshot) closeFiles() {
	for _, c := range sn.src {
		c.release()
	}
	for _, f := range sn.files {
		f.Close()
	}
}

func (sn *Snapshot) Name() string   { return sn.name }
func (sn *Snapshot) Version() int64 { return sn.m.Version }

// Size returns the exact byte size of view v.
func (sn *Snapshot) Size(v View) int64 {
	if v == ViewParquet {
		return sn.m.ParquetSize
	}
	return sn.m.CSVSize
}

// Release unpins the snapshot. Further reads fail.
func (sn *Snapshot) Release() {
	if sn.released.Swap(true) {
		return
	}
	sn.s.mu.Lock()
	for _, p := range sn.abs {
		if sn.s.pins[p]--; sn.s.pins[p] <= 0 {
			delete(sn.s.pins, p)
		}
	}
	sn.s.mu.Unlock()
	sn.closeFiles()
	sn.bufs.drop()
}

var errReleased = errors.New("snapshot released")

// ReadAt reads view v at off with io.ReaderAt semantics.
func (sn *Snapshot) ReadAt(v View, p []byte, off int64) (int, error) {
	if sn.released.Load() {
		return 0, errReleased
	}
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	n, err := sn.readAt(v, p, off)
	return n, sn.failed(err)
}

// failed turns err into the damage found, if any, and reports damage once
// per snapshot (log and last_error).
func (sn *Snapshot) failed(err error) error {
	err = orDamage(err, sn.src...)
	if err != nil && errors.Is(err, ErrCorrupt) && !sn.damage.Swap(true) {
		file := ""
		for _, c := range sn.src {
			if c.damaged() != nil {
				file = c.path
				break
			}
		}
		sn.s.reportDamage(sn.name, file, err)
	}
	return err
}

func (sn *Snapshot) readAt(v View, p []byte, off int64) (int, error) {
	if v == ViewParquet {
		l, err := sn.parquetLayout()
		if err != nil {
			return 0, err
		}
		return l.ReadAt(p, off)
	}
	size := sn.m.CSVSize
	n := 0
	for n < len(p) && off < size {
		if off < int64(len(sn.header)) {
			c := copy(p[n:], sn.header[off:])
			n += c
			off += int64(c)
			continue
		}
		k := sort.Search(len(sn.chunks), func(i int) bool { return sn.starts[i+1] > off })
		data, err := sn.chunk(k)
		if err != nil {
			return n, err
		}
		c := copy(p[n:], data[off-sn.starts[k]:])
		n += c
		off += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteTo writes all of view v to w.
func (sn *Snapshot) WriteTo(v View, w io.Writer) (int64, error) {
	if v == ViewCSV {
		if sn.released.Load() {
			return 0, errReleased
		}
		n, err := sn.writeCSV(w)
		return n, sn.failed(err)
	}
	r := io.NewSectionReader(viewReader{sn, v}, 0, sn.Size(v))
	return io.CopyBuffer(w, r, make([]byte, 1<<20))
}

// writeCSV writes the CSV view to w, rendering row groups on every core:
// GOMAXPROCS workers render, and at most csvWindow(GOMAXPROCS) row groups
// are rendered or being rendered ahead of the one being written, so memory
// is bounded by that many row groups' text (and one decoded row group per
// worker) whatever the view's size. Row groups are written whole and in
// order, straight from the buffer they were rendered into, and buffers and
// decoded batches are reused. The shared chunk cache is neither read nor
// filled: a whole-view write would only evict what readers of the mount use.
func (sn *Snapshot) writeCSV(w io.Writer) (int64, error) {
	written, err := w.Write(sn.header)
	total := int64(written)
	if err != nil {
		return total, err
	}
	workers := runtime.GOMAXPROCS(0)
	window := csvWindow(workers)
	type job struct {
		k    int
		data []byte
		err  error
		done chan struct{} // closed once data or err is set
	}
	var (
		queue = make(chan *job, window) // every dispatched job, in view order
		work  = make(chan *job)         // jobs for the workers
		slots = make(chan struct{}, window)
		stop  = make(chan struct{})
		free  = make(chan []byte, window) // written buffers, for reuse
		wg    sync.WaitGroup
	)
	go func() {
		defer close(queue)
		defer close(work)
		for k := range sn.chunks {
			select {
			case slots <- struct{}{}:
			case <-stop:
				return
			}
			j := &job{k: k, done: make(chan struct{})}
			queue <- j // never blocks: slots bound the jobs in queue
			select {
			case work <- j:
			case <-stop:
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch renderScratch
			for j := range work {
				select {
				case scratch.buf = <-free:
				default:
					scratch.buf = nil
				}
				j.data, j.err = sn.renderInto(&scratch, sn.chunks[j.k])
				close(j.done)
			}
		}()
	}
	fail := func(err error) (int64, error) {
		close(stop)
		for range queue {
		}
		wg.Wait()
		return total, err
	}
	for j := range queue {
		<-j.done
		if j.err != nil {
			return fail(j.err)
		}
		n, err := w.Write(j.data)
		total += int64(n)
		if err != nil {
			return fail(err)
		}
		free <- j.data // never blocks: at most window buffers exist
		<-slots
	}
	wg.Wait()
	return total, nil
}

// csvWindow is how many row groups writeCSV has rendered or rendering at
// once with workers rendering: enough that no worker waits for the writer.
func csvWindow(workers int) int { return workers + 2 }

type viewReader struct {
	sn *Snapshot
	v  View
}

func (r viewReader) ReadAt(p []byte, off int64) (int, error) { return r.sn.ReadAt(r.v, p, off) }

// readAhead is how many chunks are rendered ahead of a sequential reader,
// concurrently: copying a chunk out is cheap next to rendering one, so only
// rendering several at once keeps both cores busy.
const readAhead = 2

// chunk returns the CSV rendering of chunk k, from the cache or rendered.
// A reader going through the view in order gets the next readAhead chunks
// rendered ahead while it copies this one.
func (sn *Snapshot) chunk(k int) ([]byte, error) {
	sn.mu.Lock()
	if sn.last.k == k {
		d := sn.last.data
		sn.mu.Unlock()
		return d, nil
	}
	sequential := sn.last.k == k-1
	var ahead *prefetch
	for _, p := range sn.ahead {
		if p.k == k {
			ahead = p
		}
	}
	sn.mu.Unlock()
	var data []byte
	if ahead != nil {
		<-ahead.done
		data = ahead.data // nil if it failed: render again below for the error
	}
	if data == nil {
		var err error
		if data, err = sn.cached(k); err != nil {
			return nil, err
		}
	}
	sn.mu.Lock()
	sn.last.k, sn.last.data = k, data
	// Keep the prefetches still ahead of k, then start the missing ones.
	kept := sn.ahead[:0]
	for _, p := range sn.ahead {
		if p.k > k {
			kept = append(kept, p)
		}
	}
	sn.ahead = kept
	if sequential && !sn.released.Load() {
		for next := k + 1; next <= k+readAhead && next < len(sn.chunks); next++ {
			if sn.prefetching(next) {
				continue
			}
			p := &prefetch{k: next, done: make(chan struct{})}
			sn.ahead = append(sn.ahead, p)
			go func() {
				defer close(p.done)
				p.data, _ = sn.cached(p.k)
			}()
		}
	}
	sn.mu.Unlock()
	return data, nil
}

// prefetching reports whether chunk k is being rendered ahead; sn.mu held.
func (sn *Snapshot) prefetching(k int) bool {
	for _, p := range sn.ahead {
		if p.k == k {
			return true
		}
	}
	return false
}

// prefetch is a chunk being rendered ahead of a sequential reader; data is
// set before done is closed.
type prefetch struct {
	k    int
	done chan struct{}
	data []byte
}

func (sn *Snapshot) cached(k int) ([]byte, error) {
	c := sn.chunks[k]
	key := sn.abs[c.part] + "#" + strconv.Itoa(c.rg)
	if sn.loc != nil {
		key += "@" + sn.loc.String()
	}
	return sn.s.chunks.Get(key, func() ([]byte, error) { return sn.render(c) })
}

// render renders chunk c into a buffer of its own (the chunk cache keeps
// it), decoding it into a batch from batchPool.
func (sn *Snapshot) render(c chunkRef) ([]byte, error) {
	sc := renderScratch{buf: make([]byte, 0, c.csvLen)}
	if b, ok := batchPool.Get().(*formats.Batch); ok {
		sc.batch = b
	}
	data, err := sn.renderInto(&sc, c)
	if sc.batch != nil {
		batchPool.Put(sc.batch)
	}
	return data, err
}

// batchPool recycles decoded row groups between renders of the mount's
// reads, so that rendering a view does not allocate a row group's columns
// for every chunk. ReadRowGroupInto reuses a batch of another schema only
// after replacing it.
var batchPool sync.Pool // of *formats.Batch

// renderScratch is memory one renderer reuses from row group to row group.
type renderScratch struct {
	buf   []byte         // output buffer; nil or too small: a new one
	batch *formats.Batch // the last row group decoded
}

// renderInto renders chunk c into sc.buf, decoding it into sc.batch.
func (sn *Snapshot) renderInto(sc *renderScratch, c chunkRef) ([]byte, error) {
	b, err := sn.decode(sc, c)
	if err != nil {
		return nil, err
	}
	buf := sc.buf
	if int64(cap(buf)) < c.csvLen {
		// Row groups of a view differ a little in length: room for the
		// next ones too, so that a reused buffer rarely falls short.
		buf = make([]byte, 0, c.csvLen+c.csvLen/8)
	}
	data := formats.AppendCSVRowsZone(buf[:0], b, sn.loc)
	if int64(len(data)) != c.csvLen {
		return nil, fmt.Errorf("%w: %s row group %d renders %d CSV bytes, manifest says %d",
			ErrCorrupt, sn.abs[c.part], c.rg, len(data), c.csvLen)
	}
	return data, nil
}

// decode reads chunk c into sc.batch and returns it in the view's schema.
func (sn *Snapshot) decode(sc *renderScratch, c chunkRef) (*formats.Batch, error) {
	pr, err := sn.reader(c.part)
	if err != nil {
		return nil, err
	}
	b, err := pr.ReadRowGroupInto(sc.batch, c.rg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sn.abs[c.part], err)
	}
	sc.batch = b
	b, err = formats.Conform(b, sn.m.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, sn.abs[c.part], err)
	}
	return b, nil
}

func (sn *Snapshot) reader(part int) (*formats.PartitionReader, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if r, ok := sn.readers[part]; ok {
		return r, nil
	}
	r, err := formats.OpenPartition(sn.src[part], sn.m.Partitions[part].Size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sn.abs[part], err)
	}
	sn.readers[part] = r
	return r, nil
}

func (sn *Snapshot) parquetLayout() (*formats.ViewLayout, error) {
	sn.layoutOnce.Do(func() {
		srcs := make([]formats.ViewSource, len(sn.files))
		for i, f := range sn.src {
			srcs[i] = formats.ViewSource{R: directReader{f}, Size: sn.m.Partitions[i].Size}
		}
		sn.layout, sn.layoutErr = formats.BuildViewLayout(sn.m.Schema, srcs)
		if sn.layoutErr == nil && sn.layout.Size() != sn.m.ParquetSize {
			sn.layoutErr = fmt.Errorf("%w: %s: Parquet view is %d bytes, manifest says %d",
				ErrCorrupt, sn.name, sn.layout.Size(), sn.m.ParquetSize)
		}
	})
	return sn.layout, sn.layoutErr
}

// datasetZone returns the time zone of m's dataset when it is not UTC.
func datasetZone(m *metastore.Manifest) *time.Location {
	if m.Settings.Timezone == "" {
		return nil
	}
	loc, err := time.LoadLocation(m.Settings.Timezone)
	if err != nil || loc == time.UTC {
		return nil
	}
	return loc
}

// csvViewSize is the exact size of m's CSV view: the header, the row
// groups' CSV lengths (their UTC rendering) and, in a dataset with another
// time zone, the UTC offset every timestamp shows (formats.CSVZoneBytes), so
// that re-ingesting the view reads the same instants.
func csvViewSize(m *metastore.Manifest) int64 {
	size := int64(len(formats.AppendCSVHeader(nil, m.Schema)))
	var rows int64
	for _, pt := range m.Partitions {
		for _, rg := range pt.RowGroups {
			size += rg.CSVLength
			rows += rg.Rows
		}
	}
	return size + formats.CSVZoneBytes(rows, datasetZone(m))
}
