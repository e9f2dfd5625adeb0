package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"bcfs/formats"
	"bcfs/metastore"
)

// rowGroupRows is the number of rows per row group of a partition file, and
// so the unit the CSV view renders and caches (~4 MB of CSV for bars).
const rowGroupRows = 64 << 10

// Granularities of partitions.
const (
	granYear  = metastore.GranularityYear
	granMonth = metastore.GranularityMonth
	granDay   = metastore.GranularityDay
)

// targetPartitionRows is the partition size auto granularity aims below.
const targetPartitionRows = 2_000_000

// partitionOf returns the partition key of ts (metastore's format) and the
// [lo, hi) range of timestamps sharing it.
func partitionOf(ts int64, gran string) (key string, lo, hi int64) {
	t := time.Unix(0, ts).UTC()
	y, m, d := t.Date()
	var start, end time.Time
	switch gran {
	case granYear:
		start = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(1, 0, 0)
	case granDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 0, 1)
	default:
		start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 1, 0)
	}
	return metastore.PartitionKey(t, gran), start.UnixNano(), end.UnixNano()
}

// estimateGranularity picks the coarsest granularity whose partitions stay
// under targetPartitionRows, from the bar spacing (median gap between
// distinct timestamps) and the number of symbols in a sample batch.
func estimateGranularity(b *formats.Batch) string {
	ts := append([]int64(nil), b.Timestamps()...)
	if len(ts) < 2 {
		return granYear
	}
	slices.Sort(ts)
	var gaps []int64
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d > 0 {
			gaps = append(gaps, d)
		}
	}
	if len(gaps) == 0 {
		return granYear
	}
	slices.Sort(gaps)
	gap := gaps[len(gaps)/2]
	symbols := map[string]struct{}{}
	for _, s := range b.Symbols() {
		symbols[s] = struct{}{}
	}
	perDay := float64(len(symbols)) * float64(24*time.Hour) / float64(gap)
	switch {
	case perDay*366 <= targetPartitionRows:
		return granYear
	case perDay*31 <= targetPartitionRows:
		return granMonth
	default:
		return granDay
	}
}

// countingWriter counts bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// partitionBufs holds the 1 MiB write buffers of writePartition: a new
// dataset of small files writes many small partitions, and allocating
// (and zeroing) a fresh buffer for each was a few percent of the CPU of
// ingesting a folder of 500 vendor files.
var partitionBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}

// writePartition writes rows (sorted, one partition) as a new immutable
// Parquet file under dir and returns its manifest entry with row group
// ranges and CSV lengths. It does not fsync the file: the caller returns
// it among the files of its UpdateFunc, and the commit fsyncs all of them
// together before it publishes the manifest (Store.commit).
//
// Before writing, the schema is checked against the limits every reader
// accepts (a refusal is the input's fault); after writing, the file's footer
// is opened with the partition reader and each row group's bytes are read
// back for its CRC32C, so a commit only ever names files that read back.
func (s *Store) writePartition(dir, key string, rows *formats.Batch) (metastore.Partition, error) {
	if err := metastore.CheckSchema(rows.Schema); err != nil {
		return metastore.Partition{}, badInput(err)
	}
	rel := key + "/" + uuid.NewString() + ".parquet"
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := s.fs.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return metastore.Partition{}, err
	}
	f, err := s.fs.Create(full)
	if err != nil {
		return metastore.Partition{}, err
	}
	fail := func(err error) (metastore.Partition, error) {
		f.Close()
		_ = s.fs.Remove(full)
		return metastore.Partition{}, fmt.Errorf("write partition %s: %w", rel, err)
	}
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	bw := partitionBufs.Get().(*bufio.Writer)
	bw.Reset(cw)
	defer func() {
		bw.Reset(nil)
		partitionBufs.Put(bw)
	}()
	tap := &crcTap{w: bw}
	pw, err := formats.NewPartitionWriter(tap, rows.Schema, rowGroupRows)
	if err != nil {
		return fail(err)
	}
	tap.pw = pw
	if err := pw.Write(rows); err != nil {
		return fail(err)
	}
	if err := pw.Close(); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = s.fs.Remove(full)
		return metastore.Partition{}, err
	}
	p := metastore.Partition{Key: key, Path: rel, Rows: int64(rows.Len()), Size: cw.n,
		SHA256: hex.EncodeToString(h.Sum(nil)), Symbols: distinct(rows.Symbols()), Providers: distinct(rows.Providers())}
	ts := rows.Timestamps()
	if len(ts) > 0 {
		p.MinTS = time.Unix(0, ts[0]).UTC()
		p.MaxTS = time.Unix(0, ts[len(ts)-1]).UTC()
	}
	start := 0
	for _, rg := range pw.RowGroups() {
		end := start + int(rg.Rows)
		p.RowGroups = append(p.RowGroups, metastore.RowGroup{Offset: rg.Offset, Length: rg.Length, Rows: rg.Rows,
			CSVLength: formats.CSVRowsLen(rows.Slice(start, end))})
		start = end
	}
	if start != rows.Len() {
		_ = s.fs.Remove(full)
		return metastore.Partition{}, fmt.Errorf("write partition %s: row groups hold %d rows, want %d", rel, start, rows.Len())
	}
	tap.settle()
	if err := s.sealPartition(full, &p, rows.Schema, tap); err != nil {
		_ = s.fs.Remove(full)
		return metastore.Partition{}, fmt.Errorf("write partition %s: %w", rel, err)
	}
	return p, nil
}

// sealPartition reads a just-written partition file's footer back: it must
// open with the partition reader and show the schema and row groups
// written. The CRC32Cs of its row groups and footer come from the bytes as
// they were written (tap); should the tap not have them, the file is read
// back for them.
func (s *Store) sealPartition(full string, p *metastore.Partition, schema formats.Schema, tap *crcTap) error {
	f, err := s.fs.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, err := formats.OpenPartition(f, p.Size)
	if err != nil {
		// The encoder wrote what the reader refuses: a limit of the
		// readers that the input ran into.
		return badInput(fmt.Errorf("%w: the file written does not read back: %w", metastore.ErrLimit, err))
	}
	if !pr.Schema().Equal(schema) || pr.NumRowGroups() != len(p.RowGroups) {
		return fmt.Errorf("reads back as %d row groups of %s, wrote %d of %s", pr.NumRowGroups(), pr.Schema(), len(p.RowGroups), schema)
	}
	if n := len(p.RowGroups); n == 0 {
		return nil
	} else if end := p.RowGroups[n-1].Offset + p.RowGroups[n-1].Length; tap.ok(n, end, p.Size) {
		for i := range p.RowGroups {
			p.RowGroups[i].CRC32C = &tap.crcs[i]
		}
		p.FooterCRC32C = crc32c(tap.seg)
		return nil
	}
	var buf []byte
	for i := range p.RowGroups {
		rg := &p.RowGroups[i]
		buf = slices.Grow(buf[:0], int(rg.Length))[:rg.Length]
		if _, err := f.ReadAt(buf, rg.Offset); err != nil {
			return fmt.Errorf("reading row group %d back: %w", i, err)
		}
		rg.CRC32C = crc32c(buf)
	}
	end := p.RowGroups[len(p.RowGroups)-1].Offset + p.RowGroups[len(p.RowGroups)-1].Length
	buf = slices.Grow(buf[:0], int(p.Size-end))[:p.Size-end]
	if _, err := f.ReadAt(buf, end); err != nil {
		return fmt.Errorf("reading the footer back: %w", err)
	}
	p.FooterCRC32C = crc32c(buf)
	return nil
}

// crcTap sits between the partition writer and the file and computes the
// CRC32C of each row group from the bytes as they are written, so that a
// new partition is not read back (on S3 that would download it again). A
// row group is complete once the writer reports it (RowGroups grows, seen
// at the next write: the writer writes row groups whole, then the footer);
// what is left after Close is the footer. It holds one row group's bytes.
type crcTap struct {
	w      io.Writer
	pw     *formats.PartitionWriter // set once the writer exists
	seg    []byte                   // bytes from segOff on
	segOff int64
	crcs   []uint32 // of the row groups settled so far
	broken bool     // a row group did not lie within seg: read back instead
}

func (t *crcTap) Write(p []byte) (int, error) {
	t.settle()
	n, err := t.w.Write(p)
	t.seg = append(t.seg, p[:n]...)
	return n, err
}

// settle takes the CRC32C of the row groups the writer has finished.
func (t *crcTap) settle() {
	if t.pw == nil || t.broken {
		return
	}
	rgs := t.pw.RowGroups()
	for _, rg := range rgs[len(t.crcs):] {
		lo, hi := rg.Offset-t.segOff, rg.Offset+rg.Length-t.segOff
		if lo < 0 || hi > int64(len(t.seg)) {
			t.broken = true
			return
		}
		t.crcs = append(t.crcs, *crc32c(t.seg[lo:hi]))
		t.seg = append(t.seg[:0], t.seg[hi:]...)
		t.segOff += hi
	}
}

// ok reports whether the tap holds the CRCs of n row groups ending at end
// and exactly the footer bytes up to size.
func (t *crcTap) ok(n int, end, size int64) bool {
	return !t.broken && len(t.crcs) == n && t.segOff == end && end+int64(len(t.seg)) == size
}

// readPartition reads a whole partition file into one batch.
func (s *Store) readPartition(dir string, p metastore.Partition) (*formats.Batch, error) {
	full := filepath.Join(dir, filepath.FromSlash(p.Path))
	f, err := s.fs.Open(full)
	if err != nil {
		return nil, missingPartition(full, err)
	}
	defer f.Close()
	var bufs rgBuffers
	defer bufs.drop()
	cf := newCheckedFile(f, full, &p, 0, &bufs)
	pr, err := formats.OpenPartition(cf, p.Size)
	if err != nil {
		return nil, orDamage(fmt.Errorf("partition %s: %w", p.Path, err), cf)
	}
	out := formats.NewBatch(pr.Schema(), int(p.Rows))
	for i := 0; i < pr.NumRowGroups(); i++ {
		b, err := pr.ReadRowGroup(i)
		if err != nil {
			return nil, orDamage(fmt.Errorf("partition %s row group %d: %w", p.Path, i, err), cf)
		}
		out.Append(b)
	}
	return out, nil
}
