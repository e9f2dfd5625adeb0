package formats

import (
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// PartitionReader reads canonical partition files written by
// PartitionWriter. It is safe for concurrent use: each ReadRowGroup reads
// independently through the io.ReaderAt. Unlike OpenParquet it does not
// check every page before parquet-go decodes it (checkPage doubles the cost
// of a read, BenchmarkPartitionReadRowGroup): partitions are the store's
// own files, whose row groups the store checks against their checksums
// before reading them.
type PartitionReader struct {
	file   *parquet.File
	schema Schema
	leaves []leafInfo // by schema position
	infos  []RowGroupInfo
	deep   bool // check pages before parquet-go reads them (checkPage)
}

// OpenPartition reads the footer of a canonical partition file.
func OpenPartition(r io.ReaderAt, size int64) (p *PartitionReader, err error) {
	const name = "partition"
	defer recoverParquet(name, &err)
	f, err := openParquetFile(r, size, name, 0)
	if err != nil {
		return nil, err
	}
	leaves, nested, err := flatLeaves(f.Metadata())
	if err != nil || len(nested) > 0 {
		return nil, fmt.Errorf("%s: not a canonical partition (nested or broken schema): %w", name, ErrUnsupported)
	}
	p = &PartitionReader{file: f, leaves: leaves}
	for _, li := range leaves {
		switch li.Conv {
		case convTimestamp, convInt64, convFloat64, convString, convBool:
		default:
			return nil, fmt.Errorf("%s: column %q has a type canonical partitions do not use: %w", name, li.Name, ErrUnsupported)
		}
		p.schema = append(p.schema, Field{Name: li.Name, Type: li.Type})
	}
	if err := p.schema.Validate(); err != nil {
		return nil, fmt.Errorf("%s: not a canonical partition: %v: %w", name, err, ErrUnsupported)
	}
	p.infos, err = rowGroupInfos(f.Metadata(), size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// rowGroupInfos derives each row group's byte range from its column chunks.
func rowGroupInfos(md *format.FileMetaData, size int64) ([]RowGroupInfo, error) {
	out := make([]RowGroupInfo, len(md.RowGroups))
	for i, rg := range md.RowGroups {
		lo, hi := int64(math.MaxInt64), int64(0)
		for _, cc := range rg.Columns {
			start := cc.MetaData.DataPageOffset
			if d := cc.MetaData.DictionaryPageOffset; d > 0 && d < start {
				start = d
			}
			end := start + cc.MetaData.TotalCompressedSize
			if start < 4 || cc.MetaData.TotalCompressedSize < 0 || end > size-8 {
				return nil, fmt.Errorf("row group %d: column chunk bytes [%d,%d) outside the file: %w", i, start, end, ErrUnsupported)
			}
			lo, hi = min(lo, start), max(hi, end)
		}
		if len(rg.Columns) == 0 {
			return nil, fmt.Errorf("row group %d has no columns: %w", i, ErrUnsupported)
		}
		out[i] = RowGroupInfo{Offset: lo, Length: hi - lo, Rows: rg.NumRows}
	}
	return out, nil
}

func (p *PartitionReader) Schema() Schema            { return p.schema }
func (p *PartitionReader) NumRowGroups() int         { return len(p.infos) }
func (p *PartitionReader) RowGroups() []RowGroupInfo { return append([]RowGroupInfo(nil), p.infos...) }

// ReadRowGroup reads row group i whole.
func (p *PartitionReader) ReadRowGroup(i int) (*Batch, error) {
	return p.ReadRowGroupInto(nil, i)
}

// ReadRowGroupInto reads row group i whole into b, reusing its columns'
// memory when b has the reader's schema (a new batch otherwise, or when b
// is nil). The returned batch replaces b's content: a caller rendering one
// row group after another allocates its columns once.
func (p *PartitionReader) ReadRowGroupInto(b *Batch, i int) (_ *Batch, err error) {
	defer recoverParquet("partition", &err)
	if i < 0 || i >= len(p.infos) {
		return nil, fmt.Errorf("partition: row group %d out of range [0,%d)", i, len(p.infos))
	}
	g := p.file.RowGroups()[i]
	rows := int(g.NumRows())
	if b != nil && b.Schema.Equal(p.schema) {
		for c := range b.Cols {
			truncateColumn(&b.Cols[c])
		}
		b.Line = nil
	} else {
		// The footer's row count is not trusted for preallocation: a
		// corrupt one must not reserve gigabytes before any page is read.
		b = NewBatch(p.schema, min(rows, 1<<20))
	}
	for c := range p.schema {
		cur := colCursor{info: &p.leaves[c], deep: p.deep}
		if err := cur.reset(p.file, i, p.leaves[c].Leaf); err != nil {
			return nil, fmt.Errorf("partition: row group %d: %w", i, err)
		}
		for got := 0; got < rows; {
			m, err := cur.read(&b.Cols[c], rows-got)
			if err != nil {
				cur.close()
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("partition: row group %d column %q: %w", i, p.schema[c].Name, err)
			}
			got += m
		}
		cur.close()
	}
	return b, nil
}
