package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"slices"
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

// writePartition writes rows (sorted, one partition) as a new immutable
// Parquet file under dir, fsyncs it, and returns its manifest entry with row
// group ranges and CSV lengths.
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
	bw := bufio.NewWriterSize(cw, 1<<20)
	pw, err := formats.NewPartitionWriter(bw, rows.Schema, rowGroupRows)
	if err != nil {
		return fail(err)
	}
	if err := pw.Write(rows); err != nil {
		return fail(err)
	}
	if err := pw.Close(); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
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
	if err := s.sealPartition(full, &p, rows.Schema); err != nil {
		_ = s.fs.Remove(full)
		return metastore.Partition{}, fmt.Errorf("write partition %s: %w", rel, err)
	}
	return p, nil
}

// sealPartition reads a just-written partition file back: its footer must
// open with the partition reader and show the schema and row groups written,
// and each row group's CRC32C is recorded in p.
func (s *Store) sealPartition(full string, p *metastore.Partition, schema formats.Schema) error {
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
	var buf []byte
	for i := range p.RowGroups {
		rg := &p.RowGroups[i]
		buf = slices.Grow(buf[:0], int(rg.Length))[:rg.Length]
		if _, err := f.ReadAt(buf, rg.Offset); err != nil {
			return fmt.Errorf("reading row group %d back: %w", i, err)
		}
		rg.CRC32C = crc32c(buf)
	}
	if n := len(p.RowGroups); n > 0 {
		end := p.RowGroups[n-1].Offset + p.RowGroups[n-1].Length
		buf = slices.Grow(buf[:0], int(p.Size-end))[:p.Size-end]
		if _, err := f.ReadAt(buf, end); err != nil {
			return fmt.Errorf("reading the footer back: %w", err)
		}
		p.FooterCRC32C = crc32c(buf)
	}
	return nil
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
