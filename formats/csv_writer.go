package formats

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"
)

// AppendCSVHeader appends the header line of s: column names joined by
// commas, quoted per RFC 4180 when needed, then "\n".
func AppendCSVHeader(dst []byte, s Schema) []byte {
	for i, f := range s {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendCSVString(dst, f.Name)
	}
	return append(dst, '\n')
}

// AppendCSVRows appends the rows of b as CSV lines. The output depends only
// on the values, so a row group renders to the same bytes every time: its
// length is stored in manifests and the CSV view renders it again later.
//
// Timestamps are UTC "YYYY-MM-DD HH:MM:SS" with a fraction (trailing zeros
// trimmed) only when not on a whole second. Floats are rounded to 6
// decimals and printed without trailing zeros ("1.5", "2", "0.000001");
// -0 prints "0"; NaN and infinities print "NaN", "Inf", "-Inf". Nulls are
// empty. Strings are quoted only when they hold a comma, quote, CR or LF.
// Like append it may grow dst; unlike append it may also use up to 20 bytes
// of dst's spare capacity past what it appends as scratch.
func AppendCSVRows(dst []byte, b *Batch) []byte {
	return appendCSVRows(dst, b, nil)
}

// AppendCSVRowsZone is AppendCSVRows for a dataset whose time zone is loc:
// unless loc is nil or UTC, the timestamp column prints as wall-clock time
// in loc with its UTC offset ("2024-03-08 09:30:00-05:00"), so that
// reading the rows back in loc gives the same instants, also in the hour
// repeated when clocks go back. Each row is then exactly
// CSVZoneBytes(1, loc) bytes longer than under AppendCSVRows. Other
// timestamp columns print in UTC as AppendCSVRows does.
func AppendCSVRowsZone(dst []byte, b *Batch, loc *time.Location) []byte {
	if !isZoned(loc) {
		return appendCSVRows(dst, b, nil)
	}
	return appendCSVRows(dst, b, &zoneRenderer{loc: loc})
}

// CSVZoneBytes is how many bytes rows rows gain under AppendCSVRowsZone in
// loc over AppendCSVRows: CSVRowsLen(b) + CSVZoneBytes(b.Len(), loc) is
// the length of AppendCSVRowsZone(nil, b, loc).
func CSVZoneBytes(rows int64, loc *time.Location) int64 {
	if !isZoned(loc) {
		return 0
	}
	return rows * zoneOffsetBytes
}

// csvCol is one column of a batch as appendCSVRows prints it: its kind
// decided once per batch, not per cell.
type csvCol struct {
	kind  csvKind
	null  []bool
	ints  []int64
	flts  []float64
	strs  []string
	bools []bool
	// memo, for a string column, remembers the printed length of recent
	// values by their storage (stringMemo): most are a few dictionary
	// strings (symbols, providers) repeated row after row, which are
	// then not scanned for quoting again.
	memo *stringMemo
}

type csvKind uint8

const (
	csvMainTimestamp csvKind = iota // the timestamp column: text reused
	csvTimestamp
	csvFloat
	csvInt
	csvString
	csvBool
)

func appendCSVRows(dst []byte, b *Batch, z *zoneRenderer) []byte {
	n := b.Len()
	cols := csvColumns(b)
	ts := mainTimestamp{z: z, start: -1}
	if barColumns(cols) {
		return appendBars(dst, cols, n, &ts)
	}
	for i := 0; i < n; i++ {
		for c := range cols {
			col := &cols[c]
			if c > 0 {
				dst = append(dst, ',')
			}
			if col.null == nil || !col.null[i] {
				dst = col.appendCell(dst, i, &ts)
			}
		}
		dst = append(dst, '\n')
	}
	return dst
}

// csvColumns returns the columns of b as appendCSVRows prints them.
func csvColumns(b *Batch) []csvCol {
	cols := make([]csvCol, len(b.Cols))
	for c := range b.Cols {
		col := &b.Cols[c]
		cc := &cols[c]
		*cc = csvCol{null: col.Null, ints: col.Int, flts: col.Float, strs: col.Str, bools: col.Bool}
		switch b.Schema[c].Type {
		case TypeTimestamp:
			cc.kind = csvTimestamp
			if c == IdxTimestamp {
				cc.kind = csvMainTimestamp
			}
		case TypeFloat64:
			cc.kind = csvFloat
		case TypeInt64:
			cc.kind = csvInt
		case TypeString:
			cc.kind = csvString
			cc.memo = new(stringMemo)
		case TypeBool:
			cc.kind = csvBool
		}
	}
	return cols
}

// barColumns reports whether cols start with the canonical columns in the
// types partitions store them, none with nulls: the rows appendBars prints.
func barColumns(cols []csvCol) bool {
	if len(cols) < NumCanonical {
		return false
	}
	for c := range cols[:NumCanonical] {
		if cols[c].null != nil {
			return false
		}
	}
	return cols[IdxTimestamp].kind == csvMainTimestamp && cols[IdxOpen].kind == csvFloat &&
		cols[IdxHigh].kind == csvFloat && cols[IdxLow].kind == csvFloat && cols[IdxClose].kind == csvFloat &&
		(cols[IdxVolume].kind == csvInt || cols[IdxVolume].kind == csvFloat) &&
		cols[IdxSymbol].kind == csvString && cols[IdxProvider].kind == csvString
}

// appendBars is appendCSVRows for cols that barColumns accepts: the
// canonical cells of a row are printed one after another, without the
// per-cell choice of printer and null check of the general loop. Extra
// columns take the general way.
func appendBars(dst []byte, cols []csvCol, n int, ts *mainTimestamp) []byte {
	t := cols[IdxTimestamp].ints[:n]
	o, h, l, c := cols[IdxOpen].flts[:n], cols[IdxHigh].flts[:n], cols[IdxLow].flts[:n], cols[IdxClose].flts[:n]
	vol, sym, prov := &cols[IdxVolume], &cols[IdxSymbol], &cols[IdxProvider]
	extra := cols[NumCanonical:]
	for i := 0; i < n; i++ {
		dst = ts.append(dst, t[i])
		dst = appendCSVFloat(append(dst, ','), o[i])
		dst = appendCSVFloat(append(dst, ','), h[i])
		dst = appendCSVFloat(append(dst, ','), l[i])
		dst = appendCSVFloat(append(dst, ','), c[i])
		dst = append(dst, ',')
		if vol.kind == csvInt {
			dst = appendCSVInt(dst, vol.ints[i])
		} else {
			dst = appendCSVFloat(dst, vol.flts[i])
		}
		dst = sym.appendString(append(dst, ','), sym.strs[i])
		dst = prov.appendString(append(dst, ','), prov.strs[i])
		for k := range extra {
			col := &extra[k]
			dst = append(dst, ',')
			if col.null == nil || !col.null[i] {
				dst = col.appendCell(dst, i, ts)
			}
		}
		dst = append(dst, '\n')
	}
	return dst
}

// appendCell prints the value of col in row i, which is not null.
func (col *csvCol) appendCell(dst []byte, i int, ts *mainTimestamp) []byte {
	switch col.kind {
	case csvFloat:
		return appendCSVFloat(dst, col.flts[i])
	case csvMainTimestamp:
		return ts.append(dst, col.ints[i])
	case csvTimestamp:
		return appendCSVTimestamp(dst, col.ints[i])
	case csvInt:
		return appendCSVInt(dst, col.ints[i])
	case csvString:
		return col.appendString(dst, col.strs[i])
	case csvBool:
		return strconv.AppendBool(dst, col.bools[i])
	}
	return dst
}

// appendString is appendCSVString, skipping the scan for quoting of values
// the column's memo knows: stringLen is a string's own length unless it
// needs quoting.
func (col *csvCol) appendString(dst []byte, s string) []byte {
	if col.memo.len(s) == len(s) {
		return append(dst, s...)
	}
	return appendCSVString(dst, s)
}

// mainTimestamp prints the main timestamp column. Bars of several symbols
// share a timestamp: the text of the last printed timestamp,
// dst[start:end], is copied again for the next row with the same instant
// instead of being formatted anew. The text depends only on the instant
// (and z), so the bytes are the same.
type mainTimestamp struct {
	z          *zoneRenderer // nil: UTC
	date       dateText      // the last day printed in UTC
	prev       int64
	start, end int // -1: none printed yet
}

func (t *mainTimestamp) append(dst []byte, v int64) []byte {
	if t.start >= 0 && v == t.prev {
		return append(dst, dst[t.start:t.end]...)
	}
	start := len(dst)
	if t.z != nil {
		dst = t.z.appendTimestamp(dst, v)
	} else {
		dst = t.date.appendTimestamp(dst, v)
	}
	t.prev, t.start, t.end = v, start, len(dst)
	return dst
}

// appendCSVString quotes s per RFC 4180 only when it needs it.
func appendCSVString(dst []byte, s string) []byte {
	quote := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\r' || c == '\n' {
			quote = true
			break
		}
	}
	if !quote {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// appendCSVFloat prints v rounded to 6 decimals without trailing zeros.
func appendCSVFloat(dst []byte, v float64) []byte {
	// Below 2^26 the product v*1e6 is within 1/128 of the exact scaled value,
	// so unless it sits near a rounding tie, rounding it gives the same six
	// decimals as strconv's exact 'f' formatting, several times faster.
	// Whole numbers (volumes, round prices) print as integers this way too.
	a := math.Abs(v) // NaN fails every comparison below
	if a < 1<<26 {
		// m < 2^47: adding 1.5*2^52 rounds it to an integer in the
		// low bits of the sum (to nearest, ties to even; ties never
		// pass the 0.49 test), without a float-to-integer conversion.
		m := a * 1e6
		t := m + roundMagic
		if d := m - (t - roundMagic); d < 0.49 && d > -0.49 {
			u := math.Float64bits(t) - math.Float64bits(roundMagic)
			if u == 0 {
				return append(dst, '0')
			}
			return appendFixed6(dst, v < 0, u)
		}
	}
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	if v == math.Trunc(v) && a < 1e15 {
		return appendCSVInt(dst, int64(v))
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'f', 6, 64)
	end := len(dst)
	for dst[end-1] == '0' {
		end--
	}
	if dst[end-1] == '.' {
		end--
	}
	dst = dst[:end]
	if end-start == 2 && dst[start] == '-' && dst[start+1] == '0' {
		dst = append(dst[:start], '0')
	}
	return dst
}

// grow returns dst with room for n more bytes past its length.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		dst = slices.Grow(dst, n)
	}
	return dst
}

// roundMagic is 1.5*2^52: for 0 <= m < 2^51, m+roundMagic has a unit in
// its last place of 1, so its mantissa holds m rounded to an integer.
const roundMagic = 1 << 52 * 1.5

// digitPairs[v] is the two ASCII digits of 0 <= v < 100 as a little-endian
// uint16, so that several pairs combine into one word and one store.
var digitPairs = func() (t [100]uint16) {
	for v := range t {
		t[v] = uint16('0'+v/10) | uint16('0'+v%10)<<8
	}
	return t
}()

// digits4 is the four ASCII digits of 0 <= v < 10000 (leading zeros kept)
// as a little-endian uint32.
func digits4(v uint32) uint32 {
	return uint32(digitPairs[v/100]) | uint32(digitPairs[v%100])<<16
}

// putUint writes the decimal digits of u into b ending just before end,
// four per step, and returns where they start.
func putUint(b []byte, end int, u uint64) int {
	for u >= 10000 {
		q := u / 10000
		end -= 4
		binary.LittleEndian.PutUint32(b[end:], digits4(uint32(u-q*10000)))
		u = q
	}
	if u >= 100 {
		q := u / 100
		end -= 2
		binary.LittleEndian.PutUint16(b[end:], digitPairs[u-q*100])
		u = q
	}
	if u >= 10 {
		end -= 2
		binary.LittleEndian.PutUint16(b[end:], digitPairs[u])
	} else {
		end--
		b[end] = byte('0' + u)
	}
	return end
}

// appendFixed6 prints the fixed-point value u/1e6 (0 < u < 2^26*1e6),
// negated if neg, with its six decimals trimmed of trailing zeros: exactly
// what strconv.AppendUint(u/1e6) followed by the trimmed fraction printed
// (floatLen counts the same digits). The digits are written in place past
// dst's length, each part as one store: an integer part below 1000 (most
// prices) from one entry of int3 with its digit count, a bigger one as a
// word of eight digits (digits8) with its leading zeros shifted out, and
// the point with the six decimals as one word of two frac3 entries, whose
// printed length comes from its last non-zero digit, without branches.
// What is written past the printed length is scratch.
func appendFixed6(dst []byte, neg bool, u uint64) []byte {
	const room = 1 + 8 + 8 // sign, the integer word, the fraction word
	l := len(dst)
	dst = grow(dst, room)
	b := dst[l : l+room]
	ip := u / 1e6
	f := uint32(u - ip*1e6)
	e := 0
	if neg {
		b[0] = '-'
		e = 1
	}
	if ip < 1000 {
		// The entry's top byte, the digit count, lands past the
		// digits: the fraction or scratch overwrites it.
		w := int3[ip]
		binary.LittleEndian.PutUint32(b[e:], w)
		e += int(w >> 24)
	} else {
		// The integer's leading zeros are the low zero bytes of its
		// word (its last digit always prints).
		d := digits8(uint32(ip))
		lz := bits.TrailingZeros64(d|1<<56) >> 3
		binary.LittleEndian.PutUint64(b[e:], (d+asciiZeros)>>(8*lz))
		e += 8 - lz
	}
	if f == 0 {
		return dst[:l+e]
	}
	// '.', six digits, a zero byte: the highest byte that is not '0'
	// (nor zero) ends the printed fraction.
	hi := f / 1000
	w := '.' | uint64(frac3[hi])<<8 | uint64(frac3[f-hi*1000])<<32
	binary.LittleEndian.PutUint64(b[e:], w)
	n := 8 - bits.LeadingZeros64(w^asciiZeros&0x00ffffff_ffffff00)>>3
	return dst[:l+e+n]
}

// frac3[x] is the three ASCII digits of x < 1000, leading zeros kept, in
// reading order as a little-endian word (top byte zero). int3[x] is the
// digits of x without leading zeros the same way, and their count in its
// top byte. Both fit in L1 cache together (8 KiB).
var frac3, int3 = func() (f, i [1000]uint32) {
	for x := range f {
		f[x] = uint32('0'+x/100) | uint32('0'+x/10%10)<<8 | uint32('0'+x%10)<<16
		n := len(strconv.Itoa(x))
		i[x] = f[x]>>(8*(3-n)) | uint32(n)<<24
	}
	return f, i
}()

// asciiZeros is '0' in every byte: added to a word of digits (digits8), it
// turns them into text.
const asciiZeros = 0x3030303030303030

// digits8 returns the eight decimal digits of x < 1e8, leading zeros kept,
// one per byte as values 0..9, the most significant in the lowest byte (so
// that a little-endian store writes them in reading order). It splits x in
// halves of four digits, each half in pairs, each pair in digits, all
// lanes of a step at once, dividing by multiplying: x*10486>>20 is x/100
// for x < 10000 (by 2^20/100 rounded up, off by under 0.0023) and
// x*103>>10 is x/10 for x < 100.
func digits8(x uint32) uint64 {
	v := uint64(x/10000) | uint64(x%10000)<<32
	q := v * 10486 >> 20 & 0x0000007f_0000007f
	v = q | (v-q*100)<<16
	q = v * 103 >> 10 & 0x000f000f_000f000f
	return q | (v-q*10)<<8
}

// appendCSVInt is strconv.AppendInt(dst, v, 10), written in place.
func appendCSVInt(dst []byte, v int64) []byte {
	const most = 20 // "-9223372036854775808"
	l := len(dst)
	dst = grow(dst, most)
	b := dst[l : l+most]
	if uint64(v) < 1e8 {
		// Volumes and counts mostly: their digits as one word, as
		// appendFixed6 prints an integer part.
		if v < 1000 {
			w := int3[v]
			binary.LittleEndian.PutUint32(b, w)
			return dst[:l+int(w>>24)]
		}
		d := digits8(uint32(v))
		lz := bits.TrailingZeros64(d) >> 3 // v >= 1000: not all zero
		binary.LittleEndian.PutUint64(b, (d+asciiZeros)>>(8*lz))
		return dst[:l+8-lz]
	}
	u := uint64(v)
	n := 0
	if v < 0 {
		u = -u
		b[0] = '-'
		n = 1
	}
	n += uintLen(u)
	putUint(b, n, u)
	return dst[:l+n]
}

// appendCSVTimestamp prints ns since the epoch as UTC
// "YYYY-MM-DD HH:MM:SS[.fffffffff]".
func appendCSVTimestamp(dst []byte, ns int64) []byte {
	var c dateText
	return c.appendTimestamp(dst, ns)
}

// dateText is the text "YYYY-MM-DD " of the day appendTimestamp printed
// last: the next timestamp of the same day copies it and prints only its
// time of day.
type dateText struct {
	days int64
	text [11]byte
	set  bool
}

// appendTimestamp is appendCSVTimestamp, taking the date from c when ns
// falls on its day.
func (c *dateText) appendTimestamp(dst []byte, ns int64) []byte {
	sec := ns / 1e9
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
		sec--
	}
	days := sec / 86400
	rem := int(sec % 86400)
	if rem < 0 {
		rem += 86400
		days--
	}
	if !c.set || days != c.days {
		y, m, d := civilFromDays(days)
		c.text = [11]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
			byte('0' + m/10), byte('0' + m%10), '-', byte('0' + d/10), byte('0' + d%10), ' '}
		c.days, c.set = days, true
	}
	dst = append(dst, c.text[:]...)
	// "HH:MM:SS" as one word.
	dst = binary.LittleEndian.AppendUint64(dst, uint64(digitPairs[rem/3600])|':'<<16|
		uint64(digitPairs[rem/60%60])<<24|':'<<40|uint64(digitPairs[rem%60])<<48)
	if frac != 0 {
		var buf [10]byte
		buf[0] = '.'
		for i := 9; i >= 1; i-- {
			buf[i] = byte('0' + frac%10)
			frac /= 10
		}
		end := 10
		for buf[end-1] == '0' {
			end--
		}
		dst = append(dst, buf[:end]...)
	}
	return dst
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// civilFromDays is the inverse of daysFromCivil (Howard Hinnant's algorithm).
func civilFromDays(z int64) (year, month, day int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}
