package formats

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// This file has three layers:
//   - leafInfo/classifyLeaf: what a flat Parquet column holds and how its
//     physical values become one of our Types;
//   - colCursor: streams a column chunk page by page into Columns;
//   - parquetDecoder (OpenParquet) and PartitionReader on top of them.

// conversion says how physical values map to Column values.
type conversion uint8

const (
	convUnsupported conversion = iota
	convBool
	convInt32     // INT32 (signed) -> Int
	convUint32    // INT32 annotated unsigned -> Int
	convInt64     // INT64 -> Int
	convUint64    // INT64 annotated unsigned -> Int (refused above MaxInt64)
	convFloat32   // FLOAT -> Float
	convFloat64   // DOUBLE -> Float
	convFloat16   // FIXED[2] FLOAT16 -> Float
	convString    // BYTE_ARRAY / FIXED -> Str
	convTimestamp // INT64 * mul -> ns
	convDate      // INT32 days -> ns
	convInt96     // INT96 (Julian day + ns of day) -> ns
	convDecimal   // INT32/INT64/BYTE_ARRAY/FIXED unscaled / 10^scale -> Float
)

// leafInfo describes one flat (top-level, non-repeated) column of a file.
type leafInfo struct {
	Name     string // as written in the file
	Leaf     int    // leaf column index in the file
	Conv     conversion
	Type     Type // the Type its values convert to
	Mul      int64
	Scale    int32
	Optional bool
	// UTC is false for timestamps written without isAdjustedToUTC (pandas
	// tz-naive): their values are wall-clock times in Options.Location.
	UTC bool
	// Why is set when Conv is convUnsupported.
	Why string
}

var errTimestampRange = errors.New("timestamp outside the representable range (years 1678-2262)")

func classifyLeaf(el *format.SchemaElement) leafInfo {
	li := leafInfo{Name: el.Name, UTC: true}
	li.Optional = el.RepetitionType.Valid && el.RepetitionType.V == format.Optional
	phys := el.Type.V
	lt := el.LogicalType.Value
	ct, hasCT := el.ConvertedType.Get()
	decimal := func() bool {
		if d, ok := lt.(*format.DecimalType); ok {
			li.Scale = d.Scale
			return true
		}
		if hasCT && ct == deprecated.Decimal {
			li.Scale = el.Scale.V
			return true
		}
		return false
	}
	set := func(c conversion, t Type) leafInfo {
		li.Conv, li.Type = c, t
		return li
	}
	switch phys {
	case format.Boolean:
		return set(convBool, TypeBool)
	case format.Int32:
		if decimal() {
			return set(convDecimal, TypeFloat64)
		}
		if _, ok := lt.(*format.DateType); ok || (hasCT && ct == deprecated.Date) {
			return set(convDate, TypeTimestamp)
		}
		if it, ok := lt.(*format.IntType); (ok && !it.IsSigned) || (hasCT && ct == deprecated.Uint32) {
			return set(convUint32, TypeInt64)
		}
		return set(convInt32, TypeInt64)
	case format.Int64:
		if decimal() {
			return set(convDecimal, TypeFloat64)
		}
		if ts, ok := lt.(*format.TimestampType); ok {
			li.UTC = ts.IsAdjustedToUTC
			switch ts.Unit.Value.(type) {
			case *format.MilliSeconds:
				li.Mul = 1e6
			case *format.MicroSeconds:
				li.Mul = 1e3
			case *format.NanoSeconds:
				li.Mul = 1
			default:
				li.Why = "timestamp with unknown unit"
				return li
			}
			return set(convTimestamp, TypeTimestamp)
		}
		if hasCT && (ct == deprecated.TimestampMillis || ct == deprecated.TimestampMicros) {
			li.Mul = 1e3
			if ct == deprecated.TimestampMillis {
				li.Mul = 1e6
			}
			return set(convTimestamp, TypeTimestamp)
		}
		if it, ok := lt.(*format.IntType); (ok && !it.IsSigned) || (hasCT && ct == deprecated.Uint64) {
			return set(convUint64, TypeInt64)
		}
		return set(convInt64, TypeInt64)
	case format.Int96:
		return set(convInt96, TypeTimestamp)
	case format.Float:
		return set(convFloat32, TypeFloat64)
	case format.Double:
		return set(convFloat64, TypeFloat64)
	case format.ByteArray:
		if decimal() {
			return set(convDecimal, TypeFloat64)
		}
		switch lt.(type) {
		case nil, *format.StringType, *format.EnumType, *format.JsonType:
			return set(convString, TypeString)
		}
		li.Why = "byte array of logical type " + lt.String()
		return li
	case format.FixedLenByteArray:
		if decimal() {
			return set(convDecimal, TypeFloat64)
		}
		if _, ok := lt.(*format.Float16Type); ok && el.TypeLength.V == 2 {
			return set(convFloat16, TypeFloat64)
		}
		li.Why = fmt.Sprintf("fixed-size binary (FIXED_LEN_BYTE_ARRAY[%d]%s), not a number or text", el.TypeLength.V, logicalSuffix(lt))
		return li
	}
	li.Why = fmt.Sprintf("physical type %s", phys)
	return li
}

func logicalSuffix(lt format.LogicalTypeValue) string {
	if lt == nil {
		return ""
	}
	return " " + lt.String()
}

// colCursor streams one column chunk as Column values. It converts a page
// at a time and hands out slices of it, so memory stays at one page per
// column plus the batch being filled.
type colCursor struct {
	info    *leafInfo
	pages   parquet.Pages
	cur     Column // the current page, converted, nulls expanded
	dense   Column // scratch: non-null values of a page with nulls
	pos     int    // next row of cur to hand out
	n       int    // rows in cur
	dict    parquet.Dictionary
	dictCol Column // dict converted
	lastStr []byte // interning of repeated plain strings
	lastS   string
}

// reset points the cursor at the chunk of leaf column leaf in row group rg.
func (c *colCursor) reset(f *parquet.File, rg, leaf int) error {
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
	c.pos, c.n = 0, 0
	c.dict = nil
	md := f.Metadata()
	groups := f.RowGroups()
	if rg >= len(groups) || rg >= len(md.RowGroups) || leaf >= len(md.RowGroups[rg].Columns) || leaf >= len(groups[rg].ColumnChunks()) {
		return fmt.Errorf("row group %d lacks column %q: %w", rg, c.info.Name, errCorruptPage)
	}
	// parquet-go decodes every chunk of a column with the codec of the
	// first row group's chunk.
	if leaf >= len(md.RowGroups[0].Columns) || md.RowGroups[0].Columns[leaf].MetaData.Codec != md.RowGroups[rg].Columns[leaf].MetaData.Codec {
		return fmt.Errorf("column %q changes compression codec between row groups: %w", c.info.Name, ErrUnsupported)
	}
	if err := checkPageHeaders(f, &md.RowGroups[rg].Columns[leaf].MetaData); err != nil {
		return fmt.Errorf("column %q: %w", c.info.Name, err)
	}
	c.pages = groups[rg].ColumnChunks()[leaf].Pages()
	return nil
}

// checkCompressed guards the codecs whose parquet-go decoders trust
// corrupt input with memory: snappy allocates the length its block header
// claims, and LZ4_RAW doubles its buffer until the block decodes, forever on
// garbage. The page's data starts at pos in sec.
func checkCompressed(sec *io.SectionReader, pos int64, codec format.CompressionCodec, h *format.PageHeader) error {
	if codec != format.Snappy && codec != format.Lz4Raw {
		return nil
	}
	skip, want := int64(0), int64(h.UncompressedPageSize)
	if v2, ok := h.DataPageHeaderV2.Get(); ok && h.Type == format.DataPageV2 {
		if v2.IsCompressed.Valid && !v2.IsCompressed.V {
			return nil
		}
		skip = int64(v2.RepetitionLevelsByteLength) + int64(v2.DefinitionLevelsByteLength)
		want -= skip
	}
	n := int64(h.CompressedPageSize) - skip
	if skip < 0 || n < 0 || want < 0 {
		return errors.New("inconsistent page sizes")
	}
	if n == 0 {
		return nil
	}
	if codec == format.Snappy {
		var head [10]byte
		m, _ := sec.ReadAt(head[:min(n, 10)], pos+skip)
		dl, err := s2.DecodedLen(head[:m])
		if err != nil || int64(dl) > want {
			return fmt.Errorf("snappy block claims %d bytes, page %d", dl, want)
		}
		return nil
	}
	src := make([]byte, n)
	if _, err := sec.ReadAt(src, pos+skip); err != nil {
		return err
	}
	if _, err := lz4.UncompressBlock(src, make([]byte, want)); err != nil {
		return fmt.Errorf("LZ4_RAW block does not decode to %d bytes: %v", want, err)
	}
	return nil
}

// maxPageBytes bounds a page's declared sizes (the limit Arrow uses), so a
// corrupt header cannot make parquet-go allocate gigabytes.
const maxPageBytes = 256 << 20

// checkPageHeaders walks the page headers of a column chunk before
// parquet-go reads it: every page must lie inside the chunk and declare a
// sane size. It reads only the headers.
func checkPageHeaders(f *parquet.File, meta *format.ColumnMetaData) error {
	// Where parquet-go starts reading the chunk (FilePages.init).
	start := meta.DataPageOffset
	if d := meta.DictionaryPageOffset; d != 0 {
		start = d
	}
	end := start + meta.TotalCompressedSize
	size := f.Size()
	if start < 4 || meta.TotalCompressedSize < 0 || end > size {
		return fmt.Errorf("column chunk bytes [%d,%d) outside the %d-byte file: %w", start, end, size, errCorruptPage)
	}
	sec := io.NewSectionReader(f, start, end-start)
	rbuf := bufio.NewReaderSize(sec, 4096)
	var proto thrift.CompactProtocol
	dec := thrift.NewDecoder(proto.NewReader(rbuf))
	pos := int64(0)
	for pos < end-start {
		var h format.PageHeader
		if err := dec.Decode(&h); err != nil {
			return fmt.Errorf("page header at %d: %v: %w", start+pos, err, errCorruptPage)
		}
		cur, _ := sec.Seek(0, io.SeekCurrent)
		pos = cur - int64(rbuf.Buffered())
		if h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > end-start-pos || h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxPageBytes {
			return fmt.Errorf("page at %d declares %d compressed / %d uncompressed bytes: %w", start+pos, h.CompressedPageSize, h.UncompressedPageSize, errCorruptPage)
		}
		if err := checkCompressed(sec, pos, meta.Codec, &h); err != nil {
			return fmt.Errorf("page at %d: %v: %w", start+pos, err, errCorruptPage)
		}
		pos += int64(h.CompressedPageSize)
		if _, err := sec.Seek(pos, io.SeekStart); err != nil {
			return err
		}
		rbuf.Reset(sec)
	}
	return nil
}

func (c *colCursor) close() {
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
}

// read appends up to n rows to dst and returns how many it appended; 0
// with io.EOF at the end of the chunk.
func (c *colCursor) read(dst *Column, n int) (int, error) {
	for c.pos >= c.n {
		page, err := c.pages.ReadPage()
		if err != nil {
			return 0, err
		}
		if rows := int(page.NumValues()); rows <= n && dst.Null == nil && page.NumNulls() == 0 {
			// The caller takes the whole page: convert straight into dst
			// instead of staging it in c.cur and copying.
			err = c.load(page, dst, false)
			parquet.Release(page)
			if err != nil || rows == 0 {
				if err != nil {
					return 0, err
				}
				continue
			}
			return rows, nil
		}
		err = c.load(page, &c.cur, true)
		parquet.Release(page)
		if err != nil {
			return 0, err
		}
	}
	k := min(n, c.n-c.pos)
	appendColumnRange(dst, &c.cur, c.info.Type, c.pos, c.pos+k)
	c.pos += k
	return k, nil
}

func truncateColumn(c *Column) {
	c.Int, c.Float, c.Str, c.Bool = c.Int[:0], c.Float[:0], c.Str[:0], c.Bool[:0]
	c.Null = nil
}

var errCorruptPage = errors.New("corrupt column data")

// load converts page into out: appended to it, or replacing its content
// (and becoming the cursor's current page) when staged.
func (c *colCursor) load(page parquet.Page, out *Column, staged bool) error {
	if len(page.RepetitionLevels()) > 0 {
		return fmt.Errorf("column %q is repeated: %w", c.info.Name, ErrUnsupported)
	}
	rows := int(page.NumValues())
	defs := page.DefinitionLevels()
	nonNull := rows
	if len(defs) == 0 && rows > 0 && page.NumNulls() == int64(rows) {
		// A column of logical type NULL: no levels, no values.
		if data := page.Data(); data.Kind() == encoding.Undefined {
			defs = make([]byte, rows)
		}
	}
	if len(defs) > 0 {
		if len(defs) != rows {
			return errCorruptPage
		}
		nonNull = 0
		for _, d := range defs {
			if d != 0 {
				nonNull++
			}
		}
	}
	dst := out
	if nonNull != rows {
		if !staged {
			return errCorruptPage
		}
		dst = &c.dense
	}
	if staged {
		truncateColumn(dst)
	}
	before := dst.Len(c.info.Type)
	if dict := page.Dictionary(); dict != nil {
		if dict != c.dict {
			truncateColumn(&c.dictCol)
			dp := dict.Page()
			if err := c.convert(&c.dictCol, dp.Data(), int(dp.NumValues())); err != nil {
				return err
			}
			c.dict = dict
		}
		data := page.Data()
		if data.Kind() != encoding.Int32 {
			return errCorruptPage
		}
		idx := data.Int32()
		if len(idx) != nonNull {
			return errCorruptPage
		}
		if err := gather(dst, &c.dictCol, c.info.Type, idx); err != nil {
			return err
		}
	} else if nonNull > 0 {
		if err := c.convert(dst, page.Data(), nonNull); err != nil {
			return err
		}
	}
	if dst.Len(c.info.Type)-before != nonNull {
		return errCorruptPage
	}
	if dst == &c.dense {
		scatter(&c.cur, &c.dense, c.info.Type, defs)
	}
	if staged {
		c.pos, c.n = 0, rows
	}
	return nil
}

// gather sets dst to dict[idx[i]] for each i.
func gather(dst, dict *Column, t Type, idx []int32) error {
	n := dict.Len(t)
	for _, i := range idx {
		if uint(i) >= uint(n) {
			return fmt.Errorf("corrupt page: dictionary index %d out of range [0,%d)", i, n)
		}
	}
	switch t {
	case TypeTimestamp, TypeInt64:
		for _, i := range idx {
			dst.Int = append(dst.Int, dict.Int[i])
		}
	case TypeFloat64:
		for _, i := range idx {
			dst.Float = append(dst.Float, dict.Float[i])
		}
	case TypeString:
		for _, i := range idx {
			dst.Str = append(dst.Str, dict.Str[i])
		}
	case TypeBool:
		for _, i := range idx {
			dst.Bool = append(dst.Bool, dict.Bool[i])
		}
	}
	return nil
}

// scatter expands the non-null values in dense to one slot per level in
// dst, marking slots with level 0 null.
func scatter(dst, dense *Column, t Type, defs []byte) {
	truncateColumn(dst)
	n := len(defs)
	null := make([]bool, n)
	for i, d := range defs {
		null[i] = d == 0
	}
	switch t {
	case TypeTimestamp, TypeInt64:
		dst.Int = scatterValues(dst.Int, dense.Int, null)
	case TypeFloat64:
		dst.Float = scatterValues(dst.Float, dense.Float, null)
	case TypeString:
		dst.Str = scatterValues(dst.Str, dense.Str, null)
	case TypeBool:
		dst.Bool = scatterValues(dst.Bool, dense.Bool, null)
	}
	dst.Null = null
}

// scatterValues reuses dst for one slot per entry of null, filling the
// non-null slots with dense's values in order and zeroing the others.
func scatterValues[T any](dst, dense []T, null []bool) []T {
	n := len(null)
	if cap(dst) < n {
		dst = make([]T, n)
	} else {
		dst = dst[:n]
		clear(dst)
	}
	j := 0
	for i, isNull := range null {
		if !isNull {
			dst[i] = dense[j]
			j++
		}
	}
	return dst
}

// convert appends the n physical values in v to dst.
func (c *colCursor) convert(dst *Column, v encoding.Values, n int) error {
	li := c.info
	kindErr := func() error {
		return fmt.Errorf("column %q: page holds %s values, schema says otherwise: %w", li.Name, v.Kind(), errCorruptPage)
	}
	switch li.Conv {
	case convBool:
		if v.Kind() != encoding.Boolean {
			return kindErr()
		}
		bitsB := v.Boolean()
		if len(bitsB)*8 < n {
			return errCorruptPage
		}
		for i := range n {
			dst.Bool = append(dst.Bool, bitsB[i>>3]&(1<<(i&7)) != 0)
		}
	case convInt32, convUint32, convDate:
		if v.Kind() != encoding.Int32 {
			return kindErr()
		}
		src := v.Int32()
		if len(src) < n {
			return errCorruptPage
		}
		for _, x := range src[:n] {
			switch li.Conv {
			case convInt32:
				dst.Int = append(dst.Int, int64(x))
			case convUint32:
				dst.Int = append(dst.Int, int64(uint32(x)))
			default:
				dst.Int = append(dst.Int, int64(x)*86400e9)
			}
		}
	case convInt64, convUint64, convTimestamp:
		if v.Kind() != encoding.Int64 {
			return kindErr()
		}
		src := v.Int64()
		if len(src) < n {
			return errCorruptPage
		}
		switch {
		case li.Conv == convInt64 || (li.Conv == convTimestamp && li.Mul == 1):
			dst.Int = append(dst.Int, src[:n]...)
		case li.Conv == convUint64:
			for _, x := range src[:n] {
				if x < 0 {
					return fmt.Errorf("column %q: unsigned value %d exceeds int64", li.Name, uint64(x))
				}
			}
			dst.Int = append(dst.Int, src[:n]...)
		default:
			lim := math.MaxInt64 / li.Mul
			for _, x := range src[:n] {
				if x > lim || x < -lim {
					return fmt.Errorf("column %q: %d: %w", li.Name, x, errTimestampRange)
				}
				dst.Int = append(dst.Int, x*li.Mul)
			}
		}
	case convInt96:
		if v.Kind() != encoding.Int96 {
			return kindErr()
		}
		src := v.Int96()
		if len(src) < n {
			return errCorruptPage
		}
		for _, x := range src[:n] {
			ns, ok := int96ToNanos(x)
			if !ok {
				return fmt.Errorf("column %q: INT96 %v: %w", li.Name, x, errTimestampRange)
			}
			dst.Int = append(dst.Int, ns)
		}
	case convFloat32:
		if v.Kind() != encoding.Float {
			return kindErr()
		}
		src := v.Float()
		if len(src) < n {
			return errCorruptPage
		}
		for _, x := range src[:n] {
			dst.Float = append(dst.Float, float64(x))
		}
	case convFloat64:
		if v.Kind() != encoding.Double {
			return kindErr()
		}
		src := v.Double()
		if len(src) < n {
			return errCorruptPage
		}
		dst.Float = append(dst.Float, src[:n]...)
	case convFloat16:
		if v.Kind() != encoding.FixedLenByteArray {
			return kindErr()
		}
		data, size := v.FixedLenByteArray()
		if size != 2 || len(data) < 2*n {
			return errCorruptPage
		}
		for i := range n {
			dst.Float = append(dst.Float, float16ToFloat64(binary.LittleEndian.Uint16(data[2*i:])))
		}
	case convString:
		return c.convertStrings(dst, v, n)
	case convDecimal:
		return convertDecimal(dst, v, n, li.Scale)
	default:
		return fmt.Errorf("column %q: %s: %w", li.Name, li.Why, ErrUnsupported)
	}
	return nil
}

func (c *colCursor) convertStrings(dst *Column, v encoding.Values, n int) error {
	switch v.Kind() {
	case encoding.ByteArray:
		data, offs := v.ByteArray()
		if len(offs) < n+1 {
			return errCorruptPage
		}
		for i := range n {
			lo, hi := offs[i], offs[i+1]
			if lo > hi || int(hi) > len(data) {
				return errCorruptPage
			}
			dst.Str = append(dst.Str, c.intern(data[lo:hi]))
		}
	case encoding.FixedLenByteArray:
		data, size := v.FixedLenByteArray()
		if size <= 0 || len(data) < size*n {
			return errCorruptPage
		}
		for i := range n {
			dst.Str = append(dst.Str, c.intern(data[i*size:(i+1)*size]))
		}
	default:
		return fmt.Errorf("column %q: page holds %s values: %w", c.info.Name, v.Kind(), errCorruptPage)
	}
	return nil
}

// intern returns the previous string when b repeats it: symbol and provider
// columns written without a dictionary repeat one value for many rows.
func (c *colCursor) intern(b []byte) string {
	if c.lastStr != nil && string(b) == c.lastS {
		return c.lastS
	}
	c.lastS = string(b)
	c.lastStr = b
	return c.lastS
}

var pow10 = func() (p [39]float64) {
	for i := range p {
		p[i] = math.Pow10(i)
	}
	return p
}()

func scaleDecimal(unscaled float64, scale int32) float64 {
	if scale >= 0 && int(scale) < len(pow10) {
		return unscaled / pow10[scale]
	}
	return unscaled / math.Pow10(int(scale))
}

func convertDecimal(dst *Column, v encoding.Values, n int, scale int32) error {
	switch v.Kind() {
	case encoding.Int32:
		src := v.Int32()
		if len(src) < n {
			return errCorruptPage
		}
		for _, x := range src[:n] {
			dst.Float = append(dst.Float, scaleDecimal(float64(x), scale))
		}
	case encoding.Int64:
		src := v.Int64()
		if len(src) < n {
			return errCorruptPage
		}
		for _, x := range src[:n] {
			dst.Float = append(dst.Float, scaleDecimal(float64(x), scale))
		}
	case encoding.ByteArray:
		data, offs := v.ByteArray()
		if len(offs) < n+1 {
			return errCorruptPage
		}
		for i := range n {
			lo, hi := offs[i], offs[i+1]
			if lo > hi || int(hi) > len(data) {
				return errCorruptPage
			}
			dst.Float = append(dst.Float, scaleDecimal(bigEndianSigned(data[lo:hi]), scale))
		}
	case encoding.FixedLenByteArray:
		data, size := v.FixedLenByteArray()
		if size <= 0 || len(data) < size*n {
			return errCorruptPage
		}
		for i := range n {
			dst.Float = append(dst.Float, scaleDecimal(bigEndianSigned(data[i*size:(i+1)*size]), scale))
		}
	default:
		return errCorruptPage
	}
	return nil
}

// bigEndianSigned decodes a big-endian two's complement integer.
func bigEndianSigned(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	if len(b) <= 8 {
		var u uint64
		for _, x := range b {
			u = u<<8 | uint64(x)
		}
		shift := 64 - 8*uint(len(b))
		return float64(int64(u<<shift) >> shift)
	}
	z := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		z.Sub(z, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	f, _ := new(big.Float).SetInt(z).Float64()
	return f
}

func float16ToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * math.Ldexp(1+frac/1024, exp-15)
}

// julianUnixEpoch is the Julian day number of 1970-01-01.
const julianUnixEpoch = 2440588

func int96ToNanos(x deprecated.Int96) (int64, bool) {
	nanos := int64(uint64(x[0]) | uint64(x[1])<<32)
	days := int64(x[2]) - julianUnixEpoch
	const dayNs = 86400 * int64(time.Second)
	if days > math.MaxInt64/dayNs-1 || days < math.MinInt64/dayNs+1 || nanos < 0 || nanos > dayNs {
		return 0, false
	}
	return days*dayNs + nanos, true
}

// openParquetFile opens the footer, turning parquet-go panics on malformed
// input into errors.
func openParquetFile(r io.ReaderAt, size int64, name string) (f *parquet.File, err error) {
	defer recoverParquet(name, &err)
	if size < 12 {
		return nil, fmt.Errorf("%s: %d bytes is too short for a Parquet file: %w", name, size, ErrNotBars)
	}
	var magic [4]byte
	for _, off := range []int64{0, size - 4} {
		if _, err := r.ReadAt(magic[:], off); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if string(magic[:]) == "PARE" {
			return nil, fmt.Errorf("%s: encrypted Parquet (encrypted footer) cannot be read: %w", name, ErrUnsupported)
		}
	}
	// parquet-go allocates the footer length it reads before checking it
	// against the file size; check first so a corrupt length cannot
	// allocate gigabytes.
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if string(tail[4:]) != parquetMagic {
		return nil, fmt.Errorf("%s: not a Parquet file: no PAR1 magic at the end: %w", name, ErrUnsupported)
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return nil, fmt.Errorf("%s: corrupt Parquet footer: length %d exceeds the file: %w", name, n, ErrUnsupported)
	}
	f, err = parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		if strings.Contains(err.Error(), "signed footer") || strings.Contains(err.Error(), "ecrypt") {
			return nil, fmt.Errorf("%s: encrypted Parquet cannot be read: %v: %w", name, err, ErrUnsupported)
		}
		return nil, fmt.Errorf("%s: corrupt Parquet footer: %v: %w", name, err, ErrUnsupported)
	}
	md := f.Metadata()
	if md.EncryptionAlgorithm.Value != nil {
		return nil, fmt.Errorf("%s: encrypted Parquet cannot be read: %w", name, ErrUnsupported)
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			if cc.CryptoMetadata.Value != nil || len(cc.EncryptedColumnMetadata) > 0 {
				return nil, fmt.Errorf("%s: encrypted Parquet columns cannot be read: %w", name, ErrUnsupported)
			}
		}
	}
	return f, nil
}

// recoverParquet converts a panic inside parquet-go (which trusts some
// lengths and indexes in the input) into an error naming the file.
func recoverParquet(name string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: corrupt Parquet data (reader panic: %v): %w", name, p, ErrUnsupported)
	}
}

// flatLeaves returns the top-level columns of a file. Nested groups and
// repeated fields are reported by name in nested.
func flatLeaves(md *format.FileMetaData) (leaves []leafInfo, nested []string, err error) {
	els := md.Schema
	if len(els) == 0 {
		return nil, nil, errors.New("empty schema")
	}
	// Depth-first walk: element i has NumChildren children following it.
	leaf := 0
	var walk func(i int, top bool) (int, error)
	walk = func(i int, top bool) (int, error) {
		if i >= len(els) {
			return i, errors.New("schema ends early")
		}
		el := &els[i]
		nc := int(el.NumChildren.V)
		if nc > 0 || (!el.Type.Valid && el.NumChildren.Valid) {
			if top {
				nested = append(nested, el.Name)
			}
			j := i + 1
			for k := 0; k < nc; k++ {
				var err error
				if j, err = walk(j, false); err != nil {
					return j, err
				}
			}
			return j, nil
		}
		if top {
			if el.RepetitionType.Valid && el.RepetitionType.V == format.Repeated {
				nested = append(nested, el.Name)
			} else {
				li := classifyLeaf(el)
				li.Leaf = leaf
				leaves = append(leaves, li)
			}
		}
		leaf++
		return i + 1, nil
	}
	j := 1
	for k := 0; k < int(els[0].NumChildren.V); k++ {
		if j, err = walk(j, true); err != nil {
			return nil, nil, err
		}
	}
	return leaves, nested, nil
}

// source is one output column and where its values come from.
type source struct {
	out  int       // index in the output schema
	info *leafInfo // nil: synthesized (symbol/provider)
	cur  colCursor
	// parse is set for a string column read as timestamps.
	parse bool
	// epoch is set for an integer column read as timestamps (unit inferred
	// from magnitude).
	epoch bool
}

type parquetDecoder struct {
	file    *parquet.File
	opt     Options
	name    string
	schema  Schema
	srcs    []*source
	header  []SourceColumn
	rg      int   // current row group
	rgLeft  int64 // rows left in the current row group
	row     int64 // rows read so far (for Line)
	stats   Stats
	first   *ParseError
	done    bool
	scratch *Batch
	lowered map[string]string
}

// OpenParquet streams bars from an arbitrary Parquet file. Columns are mapped
// with NormalizeName; pandas index columns are recognized. See the package
// documentation for the type mapping.
func OpenParquet(r io.ReaderAt, size int64, opt Options) (dec Decoder, err error) {
	name := opt.File
	if name == "" {
		name = "input"
	}
	defer recoverParquet(name, &err)
	f, err := openParquetFile(r, size, name)
	if err != nil {
		return nil, err
	}
	leaves, nested, err := flatLeaves(f.Metadata())
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt Parquet schema: %v: %w", name, err, ErrUnsupported)
	}
	if len(nested) > 0 {
		return nil, fmt.Errorf("%s: nested or repeated column(s) %s cannot be read as bars: %w", name, strings.Join(nested, ", "), ErrUnsupported)
	}
	if opt.BatchRows <= 0 {
		opt.BatchRows = 1 << 16
	}
	d := &parquetDecoder{file: f, opt: opt, name: name, rg: -1}
	if err := d.mapColumns(leaves, pandasIndexColumns(f)); err != nil {
		return nil, err
	}
	return d, nil
}

// pandasIndexColumns returns the names pandas stored its index under
// (key/value metadata "pandas", field index_columns; RangeIndex entries are
// objects and have no column).
func pandasIndexColumns(f *parquet.File) map[string]bool {
	meta, ok := f.Lookup("pandas")
	if !ok {
		return nil
	}
	var pm struct {
		IndexColumns []json.RawMessage `json:"index_columns"`
	}
	if json.Unmarshal([]byte(meta), &pm) != nil {
		return nil
	}
	out := map[string]bool{}
	for _, raw := range pm.IndexColumns {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out[s] = true
		}
	}
	return out
}

func isIntConv(c conversion) bool {
	return c == convInt32 || c == convUint32 || c == convInt64 || c == convUint64
}

func (d *parquetDecoder) mapColumns(leaves []leafInfo, pandasIndex map[string]bool) error {
	byName := map[string]int{} // canonical/extra name -> leaf position in leaves
	var order []string
	var found []string
	var indexTS = -1 // a timestamp-typed pandas index, used if no timestamp column exists
	for i := range leaves {
		li := &leaves[i]
		found = append(found, li.Name)
		norm := NormalizeName(li.Name)
		isIndex := li.Name == "__index_level_0__" || pandasIndex[li.Name]
		if isIndex && norm != ColTimestamp {
			if li.Type == TypeTimestamp && indexTS < 0 {
				indexTS = i
			}
			if li.Type == TypeTimestamp || isIntConv(li.Conv) || li.Name == "__index_level_0__" {
				continue
			}
		}
		if (norm == "index" || norm == "" || norm == "unnamed_0") && isIntConv(li.Conv) {
			continue // a RangeIndex written as a column
		}
		if norm == "" {
			norm = fmt.Sprintf("column_%d", i+1)
		}
		if j, dup := byName[norm]; dup {
			return fmt.Errorf("%s: columns %q and %q both map to %q: %w", d.name, leaves[j].Name, li.Name, norm, ErrNotBars)
		}
		byName[norm] = i
		order = append(order, norm)
	}
	if _, ok := byName[ColTimestamp]; !ok && indexTS >= 0 {
		byName[ColTimestamp] = indexTS
	}
	var missing []string
	for _, c := range []string{ColTimestamp, ColOpen, ColHigh, ColLow, ColClose, ColVolume} {
		i, ok := byName[c]
		if !ok {
			missing = append(missing, c)
			continue
		}
		// A present but unreadable required column is the better reason:
		// it names what the file actually holds.
		if li := &leaves[i]; li.Conv == convUnsupported {
			return fmt.Errorf("%s: column %q is %s: %w", d.name, li.Name, li.Why, ErrUnsupported)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing required column(s) %s; found: %s: %w", d.name, strings.Join(missing, ", "), strings.Join(found, ", "), ErrNotBars)
	}
	unsupported := func(li *leafInfo, want string) error {
		why := li.Why
		if why == "" {
			why = li.Type.String()
		}
		return fmt.Errorf("%s: column %q is %s, want %s: %w", d.name, li.Name, why, want, ErrUnsupported)
	}
	volType := TypeFloat64
	d.schema = BaseSchema(TypeFloat64)
	d.header = make([]SourceColumn, NumCanonical)
	add := func(out int, li *leafInfo) *source {
		s := &source{out: out, info: li}
		s.cur.info = li
		d.srcs = append(d.srcs, s)
		if out < NumCanonical {
			d.header[out] = SourceColumn{Pos: li.Leaf + 1, Name: li.Name}
		}
		return s
	}
	// Canonical columns.
	ts := &leaves[byName[ColTimestamp]]
	switch {
	case ts.Type == TypeTimestamp:
		add(IdxTimestamp, ts)
	case ts.Type == TypeString:
		add(IdxTimestamp, ts).parse = true
	case isIntConv(ts.Conv):
		add(IdxTimestamp, ts).epoch = true
	default:
		return unsupported(ts, "a timestamp")
	}
	for k, c := range []string{ColOpen, ColHigh, ColLow, ColClose} {
		li := &leaves[byName[c]]
		if li.Type != TypeFloat64 && li.Type != TypeInt64 {
			return unsupported(li, "a number")
		}
		add(IdxOpen+k, li)
	}
	vol := &leaves[byName[ColVolume]]
	switch vol.Type {
	case TypeInt64:
		volType = TypeInt64
	case TypeFloat64:
	default:
		return unsupported(vol, "a number")
	}
	add(IdxVolume, vol)
	for _, out := range []int{IdxSymbol, IdxProvider} {
		c := d.schema[out].Name
		if i, ok := byName[c]; ok {
			li := &leaves[i]
			if li.Type != TypeString {
				return unsupported(li, "text")
			}
			if c == ColProvider && d.opt.Provider != "" {
				continue
			}
			add(out, li)
		}
	}
	d.schema = append(BaseSchema(volType), d.schema[NumCanonical:]...)
	for _, norm := range order {
		if d.schema.Index(norm) >= 0 || norm == ColTimestamp {
			continue
		}
		li := &leaves[byName[norm]]
		if li.Conv == convUnsupported {
			return unsupported(li, "a number, text, boolean or timestamp")
		}
		d.schema = append(d.schema, Field{Name: norm, Type: li.Type})
		add(len(d.schema)-1, li)
	}
	return nil
}

func (d *parquetDecoder) Schema() Schema { return d.schema }
func (d *parquetDecoder) Stats() Stats   { return d.stats }

func (d *parquetDecoder) Close() error {
	for _, s := range d.srcs {
		s.cur.close()
	}
	return nil
}

var (
	errNullValue  = errors.New("missing value (null)")
	errEpochRange = errors.New("epoch number out of range")
)

// Next returns the next batch of at most Options.BatchRows rows.
func (d *parquetDecoder) Next() (b *Batch, err error) {
	defer recoverParquet(d.name, &err)
	for {
		if d.done {
			if d.stats.OHLCViolations > 0 && d.opt.OHLCCheck != OHLCWarn {
				return nil, &OHLCError{File: d.name, Count: d.stats.OHLCViolations, First: d.first}
			}
			return nil, io.EOF
		}
		raw, n, err := d.fill()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		b, err := d.finish(raw, n)
		if err != nil {
			return nil, err
		}
		if b.Len() == 0 {
			continue
		}
		d.stats.Rows += int64(b.Len())
		return b, nil
	}
}

// fill reads up to BatchRows rows of every source column, crossing row
// groups as needed. It sets d.done at the end of the file.
func (d *parquetDecoder) fill() ([]Column, int, error) {
	want := d.opt.BatchRows
	raw := make([]Column, len(d.srcs))
	groups := d.file.RowGroups()
	n := 0
	for n < want {
		if d.rgLeft == 0 {
			d.rg++
			if d.rg >= len(groups) {
				d.done = true
				break
			}
			d.rgLeft = groups[d.rg].NumRows()
			for _, s := range d.srcs {
				if err := s.cur.reset(d.file, d.rg, s.info.Leaf); err != nil {
					return nil, 0, fmt.Errorf("%s: row group %d: %v: %w", d.name, d.rg, err, ErrUnsupported)
				}
			}
			continue
		}
		k := int(min(int64(want-n), d.rgLeft))
		for i, s := range d.srcs {
			for got := 0; got < k; {
				m, err := s.cur.read(&raw[i], k-got)
				if err == io.EOF {
					return nil, 0, fmt.Errorf("%s: row group %d: column %q has fewer values than the row group's %d rows: %w", d.name, d.rg, s.info.Name, d.file.RowGroups()[d.rg].NumRows(), ErrUnsupported)
				}
				if err != nil {
					if errors.Is(err, ErrUnsupported) {
						return nil, 0, fmt.Errorf("%s: row group %d: %w", d.name, d.rg, err)
					}
					return nil, 0, fmt.Errorf("%s: row group %d: column %q: %v: %w", d.name, d.rg, s.info.Name, err, ErrUnsupported)
				}
				got += m
			}
		}
		n += k
		d.rgLeft -= int64(k)
	}
	return raw, n, nil
}

// finish turns the raw source columns into a canonical batch: timestamp
// conversion, null rules, symbol/provider, row numbers and validation.
func (d *parquetDecoder) finish(raw []Column, n int) (*Batch, error) {
	b := &Batch{Schema: d.schema, Cols: make([]Column, len(d.schema))}
	first := d.row + 1
	d.row += int64(n)
	perr := func(out, i int, v string, err error) *ParseError {
		pe := &ParseError{File: d.name, Line: first + int64(i), Name: d.schema[out].Name, Value: v, Err: err}
		for _, s := range d.srcs {
			if s.out == out {
				pe.Column, pe.Name = s.info.Leaf+1, s.info.Name
			}
		}
		return pe
	}
	loc := d.opt.Location
	for k, s := range d.srcs {
		col := raw[k]
		switch {
		case s.parse:
			ints := make([]int64, n)
			for i, str := range col.Str {
				if col.IsNull(i) {
					continue
				}
				v, err := ParseTimestamp(str, loc)
				if err != nil {
					return nil, perr(s.out, i, str, err)
				}
				ints[i] = v
			}
			col = Column{Int: ints, Null: col.Null}
		case s.epoch:
			for i, v := range col.Int {
				if col.IsNull(i) {
					continue
				}
				ns, ok := epochToNanos(v)
				if !ok {
					return nil, perr(s.out, i, fmt.Sprint(v), errEpochRange)
				}
				col.Int[i] = ns
			}
		case s.info.Type == TypeTimestamp && !s.info.UTC && loc != nil && loc != time.UTC:
			for i, v := range col.Int {
				col.Int[i] = wallToUTC(v, loc)
			}
		}
		if d.schema[s.out].Type == TypeFloat64 && s.info.Type == TypeInt64 {
			fl := make([]float64, n)
			for i, v := range col.Int {
				fl[i] = float64(v)
			}
			col = Column{Float: fl, Null: col.Null}
		}
		b.Cols[s.out] = col
	}
	// Symbol and provider when not read from the file.
	if b.Cols[IdxSymbol].Str == nil {
		b.Cols[IdxSymbol].Str = repeatString(d.opt.Symbol, n)
	}
	switch {
	case d.opt.Provider != "":
		b.Cols[IdxProvider].Str = repeatString(d.opt.Provider, n)
	case b.Cols[IdxProvider].Str == nil:
		b.Cols[IdxProvider].Str = repeatString("", n)
	default:
		p := &b.Cols[IdxProvider]
		if d.lowered == nil {
			d.lowered = map[string]string{}
		}
		for i, v := range p.Str {
			l, ok := d.lowered[v]
			if !ok {
				l = strings.ToLower(v)
				if len(d.lowered) < 1024 {
					d.lowered[v] = l
				}
			}
			p.Str[i] = l
		}
		p.Null = nil // a null provider is the empty provider
	}
	// Null rules: a row whose four prices are all null is an empty bar and
	// is skipped; any other null in a canonical column is an error.
	var keep []int
	for i := 0; i < n; i++ {
		nulls := 0
		for c := IdxOpen; c <= IdxClose; c++ {
			if b.Cols[c].IsNull(i) {
				nulls++
			}
		}
		if nulls == 4 {
			if keep == nil {
				keep = make([]int, 0, n)
				for j := 0; j < i; j++ {
					keep = append(keep, j)
				}
			}
			d.stats.SkippedEmpty++
			continue
		}
		for c := IdxTimestamp; c < NumCanonical; c++ {
			if b.Cols[c].IsNull(i) {
				return nil, perr(c, i, "", errNullValue)
			}
		}
		if keep != nil {
			keep = append(keep, i)
		}
	}
	b.Line = make([]int64, n)
	for i := range b.Line {
		b.Line[i] = first + int64(i)
	}
	if keep != nil {
		b = b.Take(keep)
	}
	for c := 0; c < NumCanonical; c++ {
		b.Cols[c].Null = nil
	}
	if err := ValidateBatch(b, d.name, d.header, &d.stats, &d.first); err != nil {
		return nil, err
	}
	return b, nil
}

func repeatString(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// epochToNanos reads an integer timestamp without a declared unit by its
// magnitude: seconds, milliseconds, microseconds or nanoseconds since the
// epoch (the digit counts of ParseTimestamp's epoch forms).
func epochToNanos(v int64) (int64, bool) {
	a := v
	if a < 0 {
		a = -a
	}
	var mul int64
	switch {
	case a < 1e11:
		mul = 1e9
	case a < 1e14:
		mul = 1e6
	case a < 1e17:
		mul = 1e3
	default:
		return v, true
	}
	if a > math.MaxInt64/mul {
		return 0, false
	}
	return v * mul, true
}

// wallToUTC reads ns as a wall-clock time in loc.
func wallToUTC(ns int64, loc *time.Location) int64 {
	t := time.Unix(0, ns).UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc).UnixNano()
}

// PartitionReader reads canonical partition files written by
// PartitionWriter. It is safe for concurrent use: each ReadRowGroup reads
// independently through the io.ReaderAt.
type PartitionReader struct {
	file   *parquet.File
	schema Schema
	leaves []leafInfo // by schema position
	infos  []RowGroupInfo
}

// OpenPartition reads the footer of a canonical partition file.
func OpenPartition(r io.ReaderAt, size int64) (p *PartitionReader, err error) {
	const name = "partition"
	defer recoverParquet(name, &err)
	f, err := openParquetFile(r, size, name)
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
func (p *PartitionReader) ReadRowGroup(i int) (b *Batch, err error) {
	defer recoverParquet("partition", &err)
	if i < 0 || i >= len(p.infos) {
		return nil, fmt.Errorf("partition: row group %d out of range [0,%d)", i, len(p.infos))
	}
	g := p.file.RowGroups()[i]
	rows := int(g.NumRows())
	// The footer's row count is not trusted for preallocation: a corrupt
	// one must not reserve gigabytes before any page is read.
	b = NewBatch(p.schema, min(rows, 1<<20))
	for c := range p.schema {
		cur := colCursor{info: &p.leaves[c]}
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
