package formats

import (
	"math"
	"math/bits"
	"unsafe"
)

// CSVRowsLen returns len(AppendCSVRows(nil, b)) without rendering: the
// store records each row group's CSV length at ingest, and counting digits
// is several times cheaper than printing them. Each case mirrors the
// corresponding append function; FuzzCSVRowsLen holds them equal.
func CSVRowsLen(b *Batch) int64 {
	n := int64(b.Len())
	if n == 0 {
		return 0
	}
	total := n * int64(len(b.Cols)) // separators: ncols-1 commas and a newline per row
	for c := range b.Cols {
		col := &b.Cols[c]
		null := col.Null
		switch b.Schema[c].Type {
		case TypeTimestamp:
			for i, v := range col.Int {
				if null == nil || !null[i] {
					total += int64(timestampLen(v))
				}
			}
		case TypeFloat64:
			for i, v := range col.Float {
				if null == nil || !null[i] {
					total += int64(floatLen(v))
				}
			}
		case TypeInt64:
			for i, v := range col.Int {
				if null == nil || !null[i] {
					total += int64(intLen(v))
				}
			}
		case TypeString:
			var seen stringMemo
			for i, v := range col.Str {
				if null == nil || !null[i] {
					total += int64(seen.len(v))
				}
			}
		case TypeBool:
			for i, v := range col.Bool {
				if null == nil || !null[i] {
					total += 4
					if !v {
						total++
					}
				}
			}
		}
	}
	return total
}

// timestampLen mirrors appendCSVTimestamp.
func timestampLen(ns int64) int {
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
	}
	if frac == 0 {
		return 19
	}
	digits := 9
	for frac%10 == 0 {
		frac /= 10
		digits--
	}
	return 20 + digits
}

// floatLen mirrors appendCSVFloat, counting the digits appendFixed6 would
// print. Below 2^26 whole numbers take the fixed-point path too: v*1e6 is
// then exact, and its six zero decimals print nothing, as the integer
// printer would. floor(m+0.5) is math.Round(m) wherever the tie check
// passes (m+0.5 is exact to 2^-8 below 2^46), so both take the same path.
func floatLen(v float64) int {
	a := math.Abs(v) // NaN fails every comparison below
	if a < 1<<26 {
		m := a * 1e6
		u := uint64(int64(m + 0.5)) // m+0.5 < 2^47: no unsigned conversion needed
		if d := m - float64(u); d < 0.49 && d > -0.49 {
			if u == 0 {
				return 1
			}
			n := max(uintLen(u)-6, 1)
			if v < 0 {
				n++
			}
			// The point and the decimals up to the last non-zero one.
			if lo := u % 1000; lo != 0 {
				n += 7 - int(trailingZeros3[lo])
			} else if hi := u / 1000 % 1000; hi != 0 {
				n += 4 - int(trailingZeros3[hi])
			}
			return n
		}
	}
	switch {
	case math.IsNaN(v), math.IsInf(v, 1):
		return 3
	case math.IsInf(v, -1):
		return 4
	}
	if v == math.Trunc(v) && a < 1e15 {
		return intLen(int64(v))
	}
	var buf [40]byte
	return len(appendCSVFloat(buf[:0], v))
}

// trailingZeros3[x] is the number of trailing decimal zeros of 0 < x < 1000.
var trailingZeros3 = func() (t [1000]uint8) {
	for x := 1; x < 1000; x++ {
		for y := x; y%10 == 0; y /= 10 {
			t[x]++
		}
	}
	return t
}()

func intLen(v int64) int {
	if v < 0 {
		if v == math.MinInt64 {
			return 20
		}
		return 1 + uintLen(uint64(-v))
	}
	return uintLen(uint64(v))
}

// uintLen is the number of decimal digits of u.
func uintLen(u uint64) int {
	// bits.Len64*1233>>12 is floor(log10(2^bits)), off by at most one.
	n := bits.Len64(u) * 1233 >> 12
	if u >= pow10u64[n] {
		n++
	}
	return max(n, 1)
}

var pow10u64 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// stringMemo remembers stringLen of recently seen strings by their
// storage: a column's values are mostly a few interned strings (symbols,
// providers) repeated row after row, which it then does not scan again.
type stringMemo [16]struct {
	p   *byte
	n   int
	out int
}

func (m *stringMemo) len(s string) int {
	p := unsafe.StringData(s)
	e := &m[uintptr(unsafe.Pointer(p))*0x9E3779B97F4A7C15>>60]
	if e.p != p || e.n != len(s) {
		e.p, e.n, e.out = p, len(s), stringLen(s)
	}
	return e.out
}

// stringLen mirrors appendCSVString.
func stringLen(s string) int {
	quotes, quote := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quotes++
			quote = true
		case ',', '\r', '\n':
			quote = true
		}
	}
	if !quote {
		return len(s)
	}
	return len(s) + quotes + 2
}
