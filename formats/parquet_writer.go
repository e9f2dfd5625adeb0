package formats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The partition writer encodes pages itself instead of going through
// parquet-go's row or value APIs: a canonical partition is a flat schema of
// five primitive kinds, and writing PLAIN values and dictionary indexes
// straight from Batch columns avoids building a parquet.Value (24 bytes plus
// an interface dispatch) per cell. parquet-go is still used for the thrift
// structures and the RLE/bit-packed hybrid encoder.

const (
	parquetMagic = "PAR1"
	// maxPageRows bounds a data page so that readers (and our own reader)
	// never have to hold a whole oversized column chunk as one page.
	maxPageRows = 1 << 17
	createdBy   = "bcfs"
)

// RowGroupInfo locates one row group inside a Parquet file: its column
// chunks occupy the contiguous bytes [Offset, Offset+Length).
type RowGroupInfo struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
	Rows   int64 `json:"rows"`
}

// PartitionWriter writes one canonical partition file. Rows are written in
// the order given; a row group is cut every rowGroupRows rows.
type PartitionWriter struct {
	w            io.Writer
	off          int64
	schema       Schema
	elements     []format.SchemaElement
	rowGroupRows int
	pending      *Batch // rows not yet forming a full row group
	rowGroups    []format.RowGroup
	infos        []RowGroupInfo
	numRows      int64
	err          error // sticky: the output is unusable after a failed write
	closed       bool
	enc          chunkEncoder
}

// NewPartitionWriter starts a canonical partition file on w. s must be a
// valid canonical schema.
func NewPartitionWriter(w io.Writer, s Schema, rowGroupRows int) (*PartitionWriter, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("partition writer: %w", err)
	}
	if rowGroupRows <= 0 {
		return nil, fmt.Errorf("partition writer: rowGroupRows %d must be positive", rowGroupRows)
	}
	pw := &PartitionWriter{w: w, schema: s, elements: schemaElements(s), rowGroupRows: rowGroupRows}
	pw.write([]byte(parquetMagic))
	return pw, pw.err
}

func (w *PartitionWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(p)
	w.off += int64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	w.err = err
}

// Write appends the rows of b. b.Schema must equal the writer's schema;
// canonical columns must not hold nulls and timestamps must be whole
// microseconds.
func (w *PartitionWriter) Write(b *Batch) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("partition writer: write after close")
	}
	if !b.Schema.Equal(w.schema) {
		return fmt.Errorf("partition writer: batch schema [%s] differs from file schema [%s]", b.Schema, w.schema)
	}
	n := b.Len()
	for c := 0; c < NumCanonical; c++ {
		if col := &b.Cols[c]; col.Null != nil {
			for i := 0; i < n; i++ {
				if col.Null[i] {
					return fmt.Errorf("partition writer: row %d: canonical column %q is null", i, w.schema[c].Name)
				}
			}
		}
	}
	for i, ts := range b.Cols[IdxTimestamp].Int {
		if ts%1000 != 0 {
			return fmt.Errorf("partition writer: row %d: %d: %w", i, ts, errSubMicro)
		}
	}
	for lo := 0; lo < n; {
		if w.pending == nil && n-lo >= w.rowGroupRows {
			// Whole row groups straight from the caller's columns: no copy.
			w.writeRowGroup(b, lo, lo+w.rowGroupRows)
			lo += w.rowGroupRows
			continue
		}
		if w.pending == nil {
			// Sized for the rows at hand: a small partition (a day of
			// bars, a short vendor file) must not allocate and clear a
			// whole row group's columns; later writes grow it.
			w.pending = NewBatch(w.schema, min(n-lo, w.rowGroupRows))
		}
		take := min(n-lo, w.rowGroupRows-w.pending.Len())
		w.pending.AppendRange(b, lo, lo+take)
		lo += take
		if w.pending.Len() == w.rowGroupRows {
			w.writeRowGroup(w.pending, 0, w.rowGroupRows)
			w.pending = nil
		}
		if w.err != nil {
			return w.err
		}
	}
	return w.err
}

// Close writes any pending rows and the footer. It does not close the
// underlying writer.
func (w *PartitionWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.pending != nil && w.pending.Len() > 0 {
		w.writeRowGroup(w.pending, 0, w.pending.Len())
		w.pending = nil
	}
	if w.err != nil {
		return w.err
	}
	footer, err := encodeFooter(w.elements, w.rowGroups, w.numRows)
	if err != nil {
		w.err = err
		return err
	}
	w.write(footer)
	return w.err
}

// RowGroups returns the byte range and row count of each row group written
// so far (complete after Close).
func (w *PartitionWriter) RowGroups() []RowGroupInfo {
	return append([]RowGroupInfo(nil), w.infos...)
}

func (w *PartitionWriter) writeRowGroup(b *Batch, lo, hi int) {
	if w.err != nil {
		return
	}
	start := w.off
	rg := format.RowGroup{
		Columns:    make([]format.ColumnChunk, len(w.schema)),
		NumRows:    int64(hi - lo),
		Ordinal:    int16(len(w.rowGroups)),
		FileOffset: start,
	}
	for c, f := range w.schema {
		chunkStart := w.off
		optional := c >= NumCanonical
		md, err := w.enc.encodeChunk(w, f, &b.Cols[c], lo, hi, optional)
		if err != nil {
			w.err = fmt.Errorf("partition writer: column %q: %w", f.Name, err)
			return
		}
		if w.err != nil {
			return
		}
		rg.Columns[c] = format.ColumnChunk{FileOffset: chunkStart, MetaData: md}
		rg.TotalByteSize += md.TotalUncompressedSize
		rg.TotalCompressedSize += md.TotalCompressedSize
	}
	w.rowGroups = append(w.rowGroups, rg)
	w.infos = append(w.infos, RowGroupInfo{Offset: start, Length: w.off - start, Rows: rg.NumRows})
	w.numRows += rg.NumRows
}

// chunkEncoder holds scratch buffers reused across column chunks so a
// steady-state write allocates almost nothing.
type chunkEncoder struct {
	plain   []byte
	levels  []byte
	defs    []byte
	page    []byte
	comp    []byte
	idx     []int32 // dictionary indexes of one page's non-null values
	rows    []int32 // dictionary index of every row of the chunk (-1 for null)
	rle     []byte
	dict    map[string]int32
	dictVal []string
}

func (e *chunkEncoder) encodeChunk(w *PartitionWriter, f Field, col *Column, lo, hi int, optional bool) (format.ColumnMetaData, error) {
	md := format.ColumnMetaData{
		Type:         physicalType(f.Type),
		PathInSchema: []string{f.Name},
		Codec:        format.Snappy,
		NumValues:    int64(hi - lo),
	}
	var nulls []bool
	if col.Null != nil {
		nulls = col.Null[lo:hi]
	}
	var nullCount int64
	for _, n := range nulls {
		if n {
			nullCount++
		}
	}
	md.Statistics.NullCount = nullCount

	valueEnc := format.Plain
	if f.Type == TypeString {
		valueEnc = format.RLEDictionary
		e.buildDictionary(col.Str[lo:hi], nulls)
		md.DictionaryPageOffset = w.off
		e.plain = e.plain[:0]
		for _, s := range e.dictVal {
			e.plain = binary.LittleEndian.AppendUint32(e.plain, uint32(len(s)))
			e.plain = append(e.plain, s...)
		}
		hdr := format.PageHeader{
			Type: format.DictionaryPage,
			DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{
				NumValues: int32(len(e.dictVal)),
				Encoding:  format.Plain,
			}),
		}
		u, c, err := e.writePage(w, &hdr, e.plain)
		if err != nil {
			return md, err
		}
		md.TotalUncompressedSize += u
		md.TotalCompressedSize += c
		md.Encoding = []format.Encoding{format.Plain, format.RLE, format.RLEDictionary}
	} else {
		md.Encoding = []format.Encoding{format.Plain, format.RLE}
	}
	if minV, maxV, ok := intStats(f.Type, col, lo, hi, nulls); ok {
		md.Statistics.MinValue = binary.LittleEndian.AppendUint64(nil, uint64(minV))
		md.Statistics.MaxValue = binary.LittleEndian.AppendUint64(nil, uint64(maxV))
	}

	md.DataPageOffset = w.off
	for plo := lo; plo < hi || plo == lo; plo += maxPageRows {
		phi := min(plo+maxPageRows, hi)
		e.page = e.page[:0]
		if optional {
			e.defs = e.defs[:0]
			for i := plo; i < phi; i++ {
				if col.IsNull(i) {
					e.defs = append(e.defs, 0)
				} else {
					e.defs = append(e.defs, 1)
				}
			}
			var err error
			e.levels, err = (&rle.Encoding{BitWidth: 1}).EncodeLevels(e.levels, e.defs)
			if err != nil {
				return md, err
			}
			e.page = binary.LittleEndian.AppendUint32(e.page, uint32(len(e.levels)))
			e.page = append(e.page, e.levels...)
		}
		var err error
		e.page, err = e.appendValues(e.page, f.Type, col, plo, phi, lo)
		if err != nil {
			return md, err
		}
		hdr := format.PageHeader{
			Type: format.DataPage,
			DataPageHeader: thrift.New(format.DataPageHeader{
				NumValues:               int32(phi - plo),
				Encoding:                valueEnc,
				DefinitionLevelEncoding: format.RLE,
				RepetitionLevelEncoding: format.RLE,
			}),
		}
		u, c, err := e.writePage(w, &hdr, e.page)
		if err != nil {
			return md, err
		}
		md.TotalUncompressedSize += u
		md.TotalCompressedSize += c
		if phi == hi {
			break
		}
	}
	return md, nil
}

// appendValues appends the PLAIN (or dictionary index) encoding of the
// non-null values of rows [lo, hi). chunkLo is the first row of the chunk,
// for dictionary index lookup.
func (e *chunkEncoder) appendValues(dst []byte, t Type, col *Column, lo, hi, chunkLo int) ([]byte, error) {
	nulls := col.Null
	switch t {
	case TypeTimestamp:
		if nulls == nil {
			n := len(dst)
			dst = slices.Grow(dst, 8*(hi-lo))[:n+8*(hi-lo)]
			for i, v := range col.Int[lo:hi] {
				binary.LittleEndian.PutUint64(dst[n+8*i:], uint64(v/1000))
			}
			return dst, nil
		}
		for i := lo; i < hi; i++ {
			if !nulls[i] {
				dst = binary.LittleEndian.AppendUint64(dst, uint64(col.Int[i]/1000))
			}
		}
	case TypeInt64:
		if nulls == nil && nativeLittleEndian {
			return append(dst, rawBytes(col.Int[lo:hi])...), nil
		}
		for i := lo; i < hi; i++ {
			if nulls == nil || !nulls[i] {
				dst = binary.LittleEndian.AppendUint64(dst, uint64(col.Int[i]))
			}
		}
	case TypeFloat64:
		if nulls == nil && nativeLittleEndian {
			return append(dst, rawBytes(col.Float[lo:hi])...), nil
		}
		for i := lo; i < hi; i++ {
			if nulls == nil || !nulls[i] {
				dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(col.Float[i]))
			}
		}
	case TypeBool:
		var acc byte
		var nb uint
		for i := lo; i < hi; i++ {
			if nulls != nil && nulls[i] {
				continue
			}
			if col.Bool[i] {
				acc |= 1 << nb
			}
			nb++
			if nb == 8 {
				dst = append(dst, acc)
				acc, nb = 0, 0
			}
		}
		if nb > 0 {
			dst = append(dst, acc)
		}
	case TypeString:
		idx := e.idx[:0]
		for i := lo; i < hi; i++ {
			if nulls == nil || !nulls[i] {
				idx = append(idx, e.idxOf(i-chunkLo))
			}
		}
		width := bits.Len32(uint32(max(len(e.dictVal)-1, 0)))
		dst = append(dst, byte(width))
		var err error
		e.idx = idx
		e.rle, err = (&rle.Encoding{BitWidth: width}).EncodeInt32(e.rle, idx)
		if err != nil {
			return dst, err
		}
		dst = append(dst, e.rle...)
	default:
		return dst, fmt.Errorf("cannot write column type %s", t)
	}
	return dst, nil
}

// nativeLittleEndian: int64 and float64 values are stored in memory as
// PLAIN encodes them, so a page of a column without nulls is one copy.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// rawBytes is the memory of v as bytes.
func rawBytes[T int64 | float64](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 8*len(v))
}

// buildDictionary assigns dictionary indexes to the chunk's strings. e.idx
// is reused as the per-row index (row order, nulls get -1) until the values
// are encoded page by page.
func (e *chunkEncoder) buildDictionary(strs []string, nulls []bool) {
	if e.dict == nil {
		e.dict = make(map[string]int32)
	} else {
		clear(e.dict)
	}
	e.dictVal = e.dictVal[:0]
	rowIdx := e.rowIdx(len(strs))
	// Strings sharing storage are equal: interned symbols and providers
	// find their index by pointer before the map hashes them.
	var seen [16]struct {
		p *byte
		n int
		k int32
	}
	for i := range seen {
		seen[i].k = -1
	}
	for i, s := range strs {
		if nulls != nil && nulls[i] {
			rowIdx[i] = -1
			continue
		}
		p := unsafe.StringData(s)
		m := &seen[uintptr(unsafe.Pointer(p))*0x9E3779B97F4A7C15>>60]
		if m.k >= 0 && m.p == p && m.n == len(s) {
			rowIdx[i] = m.k
			continue
		}
		k, ok := e.dict[s]
		if !ok {
			k = int32(len(e.dictVal))
			e.dict[s] = k
			e.dictVal = append(e.dictVal, s)
		}
		rowIdx[i] = k
		m.p, m.n, m.k = p, len(s), k
	}
}

func (e *chunkEncoder) rowIdx(n int) []int32 {
	if cap(e.rows) < n {
		e.rows = make([]int32, n)
	}
	e.rows = e.rows[:n]
	return e.rows
}

func (e *chunkEncoder) idxOf(i int) int32 { return e.rows[i] }

func (e *chunkEncoder) writePage(w *PartitionWriter, hdr *format.PageHeader, raw []byte) (uncompressed, compressed int64, err error) {
	// s2's snappy-compatible fast encoder: the default snappy.Encode uses
	// the "better" mode, about twice as slow for a few percent of size.
	if need := s2.MaxEncodedLen(len(raw)); cap(e.comp) < need {
		e.comp = make([]byte, need)
	}
	e.comp = s2.EncodeSnappy(e.comp[:cap(e.comp)], raw)
	hdr.UncompressedPageSize = int32(len(raw))
	hdr.CompressedPageSize = int32(len(e.comp))
	h, err := thrift.Marshal(new(thrift.CompactProtocol), hdr)
	if err != nil {
		return 0, 0, err
	}
	w.write(h)
	w.write(e.comp)
	return int64(len(h) + len(raw)), int64(len(h) + len(e.comp)), w.err
}

func intStats(t Type, col *Column, lo, hi int, nulls []bool) (minV, maxV int64, ok bool) {
	if t != TypeTimestamp && t != TypeInt64 {
		return 0, 0, false
	}
	minV, maxV = math.MaxInt64, math.MinInt64
	for i := lo; i < hi; i++ {
		if nulls != nil && nulls[i-lo] {
			continue
		}
		v := col.Int[i]
		minV, maxV = min(minV, v), max(maxV, v)
		ok = true
	}
	if ok && t == TypeTimestamp {
		minV, maxV = minV/1000, maxV/1000
	}
	return minV, maxV, ok
}

func physicalType(t Type) format.Type {
	switch t {
	case TypeTimestamp, TypeInt64:
		return format.Int64
	case TypeFloat64:
		return format.Double
	case TypeString:
		return format.ByteArray
	default:
		return format.Boolean
	}
}

// schemaElements is the flat Parquet schema of a canonical partition.
func schemaElements(s Schema) []format.SchemaElement {
	els := make([]format.SchemaElement, 0, len(s)+1)
	els = append(els, format.SchemaElement{Name: "schema", NumChildren: thrift.New(int32(len(s)))})
	for i, f := range s {
		rep := format.Required
		if i >= NumCanonical {
			rep = format.Optional
		}
		el := format.SchemaElement{
			Name:           f.Name,
			Type:           thrift.New(physicalType(f.Type)),
			RepetitionType: thrift.New(rep),
		}
		switch f.Type {
		case TypeTimestamp:
			el.ConvertedType = thrift.New(deprecated.TimestampMicros)
			el.LogicalType.Value = &format.TimestampType{IsAdjustedToUTC: true, Unit: format.TimeUnit{Value: &format.MicroSeconds{}}}
		case TypeString:
			el.ConvertedType = thrift.New(deprecated.UTF8)
			el.LogicalType.Value = &format.StringType{}
		}
		els = append(els, el)
	}
	return els
}

// encodeFooter returns the thrift footer followed by its length and the
// closing magic.
func encodeFooter(els []format.SchemaElement, rgs []format.RowGroup, numRows int64) ([]byte, error) {
	orders := make([]format.ColumnOrder, len(els)-1)
	for i := range orders {
		orders[i].Value = &format.TypeDefinedOrder{}
	}
	md := format.FileMetaData{
		Version:      1,
		Schema:       els,
		NumRows:      numRows,
		RowGroups:    rgs,
		CreatedBy:    createdBy,
		ColumnOrders: orders,
	}
	b, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		return nil, fmt.Errorf("encoding parquet footer: %w", err)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(b)))
	return append(b, parquetMagic...), nil
}
