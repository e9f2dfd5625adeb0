package formats

import (
	"math"
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

func appendCSVRows(dst []byte, b *Batch, z *zoneRenderer) []byte {
	n := b.Len()
	// Bars of several symbols share a timestamp: the text of the last
	// printed main timestamp, dst[tsStart:tsEnd], is copied again for the
	// next row with the same instant instead of being formatted anew. The
	// text depends only on the instant (and z), so the bytes are the same.
	tsPrev, tsStart, tsEnd := int64(0), -1, -1
	for i := 0; i < n; i++ {
		for c := range b.Cols {
			if c > 0 {
				dst = append(dst, ',')
			}
			col := &b.Cols[c]
			if col.Null != nil && col.Null[i] {
				continue
			}
			switch b.Schema[c].Type {
			case TypeTimestamp:
				if c == IdxTimestamp {
					v := col.Int[i]
					if tsStart >= 0 && v == tsPrev {
						dst = append(dst, dst[tsStart:tsEnd]...)
						break
					}
					start := len(dst)
					if z != nil {
						dst = z.appendTimestamp(dst, v)
					} else {
						dst = appendCSVTimestamp(dst, v)
					}
					tsPrev, tsStart, tsEnd = v, start, len(dst)
				} else {
					dst = appendCSVTimestamp(dst, col.Int[i])
				}
			case TypeFloat64:
				dst = appendCSVFloat(dst, col.Float[i])
			case TypeInt64:
				dst = strconv.AppendInt(dst, col.Int[i], 10)
			case TypeString:
				dst = appendCSVString(dst, col.Str[i])
			case TypeBool:
				dst = strconv.AppendBool(dst, col.Bool[i])
			}
		}
		dst = append(dst, '\n')
	}
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
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	// Whole numbers are common (volumes, round prices) and print as integers,
	// exactly what 'f' with 6 decimals and trimming would give.
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		if v == 0 {
			return append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(v), 10)
	}
	// Below 2^26 the product v*1e6 is within 1/128 of the exact scaled value,
	// so unless it sits near a rounding tie, rounding it gives the same six
	// decimals as strconv's exact 'f' formatting, several times faster.
	if a := math.Abs(v); a < 1<<26 {
		m := a * 1e6
		r := math.Round(m)
		if math.Abs(m-r) < 0.49 {
			u := uint64(r)
			if u == 0 {
				return append(dst, '0')
			}
			if v < 0 {
				dst = append(dst, '-')
			}
			return appendFixed6(dst, u)
		}
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

// digits2 holds "00".."99": two decimal digits per table lookup.
const digits2 = "0001020304050607080910111213141516171819" +
	"2021222324252627282930313233343536373839" +
	"4041424344454647484950515253545556575859" +
	"6061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendFixed6 prints the fixed-point value u/1e6 (u > 0, u < 2^64) with
// its six decimals trimmed of trailing zeros, two digits per step. It
// prints exactly what strconv.AppendUint(u/1e6) followed by the trimmed
// fraction printed, so the lengths counted by floatLen are unchanged.
func appendFixed6(dst []byte, u uint64) []byte {
	var buf [28]byte
	ip, f := u/1e6, uint32(u%1e6)
	// Fraction first, right-aligned at buf[21:28] as ".dddddd".
	end := 21
	if f != 0 {
		buf[21] = '.'
		a, b, c := f/10000, f/100%100, f%100
		buf[22], buf[23] = digits2[2*a], digits2[2*a+1]
		buf[24], buf[25] = digits2[2*b], digits2[2*b+1]
		buf[26], buf[27] = digits2[2*c], digits2[2*c+1]
		end = 28
		for buf[end-1] == '0' {
			end--
		}
	}
	// Integer part right-aligned ending at buf[21].
	i := 21
	for ip >= 100 {
		q := ip / 100
		r := ip - q*100
		i -= 2
		buf[i], buf[i+1] = digits2[2*r], digits2[2*r+1]
		ip = q
	}
	if ip >= 10 {
		i -= 2
		buf[i], buf[i+1] = digits2[2*ip], digits2[2*ip+1]
	} else {
		i--
		buf[i] = byte('0' + ip)
	}
	return append(dst, buf[i:end]...)
}

// appendCSVTimestamp prints ns since the epoch as UTC
// "YYYY-MM-DD HH:MM:SS[.fffffffff]".
func appendCSVTimestamp(dst []byte, ns int64) []byte {
	sec := ns / 1e9
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
		sec--
	}
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civilFromDays(days)
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, ' ')
	dst = append2(dst, int(rem/3600))
	dst = append(dst, ':')
	dst = append2(dst, int(rem/60%60))
	dst = append(dst, ':')
	dst = append2(dst, int(rem%60))
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

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
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
