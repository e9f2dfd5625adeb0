package formats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// ViewSource is one partition file of a concatenated view.
type ViewSource struct {
	R    io.ReaderAt
	Size int64
}

// ViewLayout is a virtual Parquet file made of the row groups of several
// partition files, in order: the bytes of each row group are read from its
// source unchanged; only the header magic and the footer (with offsets
// shifted to the new positions) are new. The layout holds no row data.
type ViewLayout struct {
	segs []viewSegment // contiguous, sorted by start
	size int64
}

// viewSegment is a byte range of the view: either literal bytes (data) or
// a range of a source file.
type viewSegment struct {
	start  int64
	length int64
	data   []byte
	src    io.ReaderAt
	srcOff int64
}

// BuildViewLayout reads only the footers of files and lays their row groups
// end to end. Every file must have schema s (the canonical layout written
// by PartitionWriter); with no files the view is a valid empty Parquet file
// of schema s.
func BuildViewLayout(s Schema, files []ViewSource) (l *ViewLayout, err error) {
	defer recoverParquet("view", &err)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	els := schemaElements(s)
	l = &ViewLayout{}
	l.add(viewSegment{data: []byte(parquetMagic)})
	var rgs []format.RowGroup
	var numRows int64
	for i, f := range files {
		md, err := readFooter(f.R, f.Size)
		if err != nil {
			return nil, fmt.Errorf("view: file %d: %w", i, err)
		}
		if err := sameLayout(els, md.Schema); err != nil {
			return nil, fmt.Errorf("view: file %d: %w", i, err)
		}
		infos, err := rowGroupInfos(md, f.Size)
		if err != nil {
			return nil, fmt.Errorf("view: file %d: %w", i, err)
		}
		for j := range md.RowGroups {
			rg := md.RowGroups[j]
			delta := l.size - infos[j].Offset
			shiftRowGroup(&rg, delta)
			rg.Ordinal = int16(len(rgs))
			rgs = append(rgs, rg)
			numRows += rg.NumRows
			l.add(viewSegment{length: infos[j].Length, src: f.R, srcOff: infos[j].Offset})
		}
	}
	footer, err := encodeFooter(els, rgs, numRows)
	if err != nil {
		return nil, err
	}
	l.add(viewSegment{data: footer})
	return l, nil
}

func (l *ViewLayout) add(s viewSegment) {
	if s.data != nil {
		s.length = int64(len(s.data))
	}
	s.start = l.size
	l.segs = append(l.segs, s)
	l.size += s.length
}

// shiftRowGroup moves every offset of rg by delta. Page indexes and bloom
// filters live outside the copied row-group bytes, so references to them
// are dropped.
func shiftRowGroup(rg *format.RowGroup, delta int64) {
	cols := make([]format.ColumnChunk, len(rg.Columns))
	copy(cols, rg.Columns)
	for k := range cols {
		c := &cols[k]
		c.FileOffset += delta
		c.MetaData.DataPageOffset += delta
		if c.MetaData.DictionaryPageOffset > 0 {
			c.MetaData.DictionaryPageOffset += delta
		}
		if c.MetaData.IndexPageOffset > 0 {
			c.MetaData.IndexPageOffset += delta
		}
		c.MetaData.BloomFilterOffset, c.MetaData.BloomFilterLength = 0, 0
		c.OffsetIndexOffset, c.OffsetIndexLength = 0, 0
		c.ColumnIndexOffset, c.ColumnIndexLength = 0, 0
	}
	rg.Columns = cols
	rg.FileOffset += delta
}

// readFooter decodes the thrift footer of a Parquet file.
func readFooter(r io.ReaderAt, size int64) (*format.FileMetaData, error) {
	if size < 12 {
		return nil, fmt.Errorf("%d bytes is too short for a Parquet file: %w", size, ErrUnsupported)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if string(tail[4:]) != parquetMagic {
		return nil, fmt.Errorf("no Parquet footer magic: %w", ErrUnsupported)
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-12 {
		return nil, fmt.Errorf("footer length %d exceeds the file: %w", n, ErrUnsupported)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-8-n); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	md := new(format.FileMetaData)
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), buf, md); err != nil {
		return nil, fmt.Errorf("decoding footer: %v: %w", err, ErrUnsupported)
	}
	return md, nil
}

// sameLayout checks that a file's schema is the canonical one the view
// footer declares, so that copied pages mean what the footer says.
func sameLayout(want, got []format.SchemaElement) error {
	if len(want) != len(got) {
		return fmt.Errorf("schema has %d columns, view has %d", len(got)-1, len(want)-1)
	}
	for i := 1; i < len(want); i++ {
		w, g := &want[i], &got[i]
		if w.Name != g.Name || w.Type != g.Type || w.RepetitionType != g.RepetitionType {
			return fmt.Errorf("schema column %d is %q %v, view expects %q %v", i-1, g.Name, g.Type.V, w.Name, w.Type.V)
		}
	}
	return nil
}

// Size is the byte length of the view.
func (l *ViewLayout) Size() int64 { return l.size }

// ReadAt reads the view's bytes at off with io.ReaderAt semantics.
func (l *ViewLayout) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("view: negative offset")
	}
	if off >= l.size {
		return 0, io.EOF
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].start+l.segs[i].length > off })
	n := 0
	for n < len(p) && i < len(l.segs) {
		s := &l.segs[i]
		rel := off - s.start
		k := int(min(int64(len(p)-n), s.length-rel))
		if s.data != nil {
			copy(p[n:n+k], s.data[rel:])
		} else if m, err := s.src.ReadAt(p[n:n+k], s.srcOff+rel); m < k {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n + m, fmt.Errorf("view: reading partition bytes: %w", err)
		}
		n += k
		off += int64(k)
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
