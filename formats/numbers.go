package formats

import (
	"bytes"
	"strconv"
	"unsafe"
)

// isNullText reports an empty cell or a missing value spelled out as text,
// as pandas reads them: null, NaN, N/A, NA, None, #N/A, <NA> in any case.
func isNullText(v []byte) bool {
	v = trimBytes(v)
	if len(v) == 0 {
		return true
	}
	if len(v) > 5 {
		return false
	}
	var low [5]byte
	for i, c := range v {
		low[i] = c | 0x20
	}
	switch string(low[:len(v)]) {
	case "null", "nan", "-nan", "n/a", "na", "none", "#n/a", "#na", "<na>":
		return true
	}
	return false
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func trimBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func parseBool(b []byte) (bool, bool) {
	switch {
	case bytes.EqualFold(b, []byte("true")):
		return true, true
	case bytes.EqualFold(b, []byte("false")):
		return false, true
	}
	return false, false
}

// parseIntBytes parses a decimal integer with optional sign and thousands
// separators ("1,195,900").
func parseIntBytes(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '-', '+':
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 26 {
		return 0, false
	}
	var n uint64
	group := -1 // digits since the last comma, -1 before any comma
	lead := 0
	for i, c := range b {
		if c == ',' {
			if i == 0 || group == -1 && (lead > 3) || group != -1 && group != 3 {
				return 0, false
			}
			group = 0
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if group >= 0 {
			group++
		} else {
			lead++
		}
	}
	if group != -1 && group != 3 || n > 1<<63 || n == 1<<63 && !neg {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloatFast parses plain decimals ("-12.5", "0.00002853") exactly,
// without allocating: a mantissa below 2^53 scaled by a power of ten up to
// 1e22 is one correctly rounded IEEE operation (Clinger's fast path). It
// reports false for anything else, which parseNumber then handles.
func parseFloatFast(b []byte) (float64, bool) {
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		b = trimBytes(b)
	}
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i++
	}
	// Leading zeros carry no digits of the mantissa.
	lead := i
	for i < len(b) && b[i] == '0' {
		i++
	}
	any := i > lead
	var mant uint64
	s := i
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + uint64(c)
	}
	nd := i - s
	exp := 0
	if i < len(b) && b[i] == '.' {
		i++
		f := i
		if mant == 0 {
			for i < len(b) && b[i] == '0' {
				i++
			}
		}
		z := i
		for ; i < len(b); i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			mant = mant*10 + uint64(c)
		}
		nd += i - z
		exp = f - i
		any = any || i > f
	}
	any = any || nd > 0
	if i != len(b) || !any || nd > 19 || mant >= 1<<53 || exp < -22 {
		return 0, false
	}
	f := float64(mant)
	if exp < 0 {
		f /= exactPow10[-exp]
	}
	if neg {
		f = -f
	}
	return f, true
}

// parseNumber parses any decimal float strconv accepts, plus thousands
// separators and, when pct is set, a trailing '%'. scratch, when not nil,
// is reused for the separator-free copy.
func parseNumber(b []byte, pct bool, scratch *[]byte) (float64, bool) {
	b = trimBytes(b)
	if f, ok := parseFloatFast(b); ok {
		return f, true
	}
	if pct && len(b) > 1 && b[len(b)-1] == '%' {
		b = trimBytes(b[:len(b)-1])
	}
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		// strconv also takes hex floats and '_' separators; CSV numbers are decimal.
		if c == '_' || c == 'x' || c == 'X' {
			return 0, false
		}
	}
	if bytes.IndexByte(b, ',') >= 0 {
		var buf []byte
		if scratch != nil {
			buf = (*scratch)[:0]
		}
		buf, ok := stripThousands(buf, b)
		if scratch != nil {
			*scratch = buf
		}
		if !ok {
			return 0, false
		}
		b = buf
	}
	f, err := strconv.ParseFloat(unsafeString(b), 64)
	return f, err == nil
}

// stripThousands appends b without its thousands separators, which must
// group the integer part by threes.
func stripThousands(dst, b []byte) ([]byte, bool) {
	intEnd := len(b)
	if i := bytes.IndexAny(b, ".eE"); i >= 0 {
		intEnd = i
	}
	if bytes.IndexByte(b[intEnd:], ',') >= 0 {
		return dst, false
	}
	start := 0
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		start = 1
	}
	group := -1
	for i := start; i < intEnd; i++ {
		if b[i] == ',' {
			if i == start || group == -1 && i-start > 3 || group != -1 && group != 3 {
				return dst, false
			}
			group = 0
			continue
		}
		if group >= 0 {
			group++
		}
	}
	if group != -1 && group != 3 {
		return dst, false
	}
	for _, c := range b {
		if c != ',' {
			dst = append(dst, c)
		}
	}
	return dst, true
}
