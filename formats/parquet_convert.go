package formats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"
)

// Type conversion of Parquet input: what a flat column holds (flatLeaves,
// classifyLeaf) and how its physical values become one of our Types
// (colCursor.convert). The layers above: parquet_guard.go checks corrupt
// input before parquet-go reads it, parquet_cursor.go streams a column
// chunk page by page, parquet_reader.go (OpenParquet) and
// parquet_partition.go (PartitionReader) read whole files.

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
			if c.maxValue > 0 && int(hi-lo) > c.maxValue {
				return errRecordLimit(c.maxValue)
			}
			dst.Str = append(dst.Str, c.intern(data[lo:hi]))
		}
	case encoding.FixedLenByteArray:
		data, size := v.FixedLenByteArray()
		if size <= 0 || len(data) < size*n {
			return errCorruptPage
		}
		if c.maxValue > 0 && size > c.maxValue {
			return errRecordLimit(c.maxValue)
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
