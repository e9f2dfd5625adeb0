package formats

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// parseFloatRef is the digit-by-digit parser parseFloatFast replaced: it
// accepts and returns exactly the same.
func parseFloatRef(b []byte) (float64, bool) {
	i := 0
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		b = trimBytes(b)
	}
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	exp, nd := 0, 0
	dot, any := false, false
	for ; i < len(b); i++ {
		c := b[i]
		if c >= '0' && c <= '9' {
			any = true
			if mant == 0 && c == '0' {
				if dot {
					exp--
				}
				continue
			}
			if nd >= 19 {
				return 0, false
			}
			mant = mant*10 + uint64(c-'0')
			nd++
			if dot {
				exp--
			}
			continue
		}
		if c == '.' && !dot {
			dot = true
			continue
		}
		return 0, false
	}
	if !any || mant >= 1<<53 || exp < -22 || exp > 22 {
		return 0, false
	}
	f := float64(mant)
	if exp < 0 {
		f /= exactPow10[-exp]
	} else {
		f *= exactPow10[exp]
	}
	if neg {
		f = -f
	}
	return f, true
}

func checkParseFloat(t *testing.T, s string) {
	t.Helper()
	got, ok := parseFloatFast([]byte(s))
	want, wok := parseFloatRef([]byte(s))
	if ok != wok || ok && math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("parseFloatFast(%q) = %v, %v; want %v, %v", s, got, ok, want, wok)
	}
	if ok {
		if v, err := strconv.ParseFloat(trimSpace(s), 64); err != nil || v != got {
			t.Fatalf("parseFloatFast(%q) = %v, strconv gives %v, %v", s, got, v, err)
		}
	}
}

func TestParseFloatFast(t *testing.T) {
	for _, s := range []string{"", "-", "+", ".", "-.", "0", "-0", "+0", "00", "0.", ".0", "1.", ".5", "-.5", "1.2.3", "1e5",
		"417.84", "118.460", "-12.5", "0.00002853", "000.5", "0.0000000000000000000001", "0.00000000000000000000001",
		"9007199254740991", "9007199254740992", "1234567890123456789", "12345678901234567890", "0000000000000000000001",
		"00000000000000000000.1234567890123456789", " 1.5", "1.5 ", "1 .5", "1,5", "NaN", "inf", "1_0", "--1", "+-1"} {
		checkParseFloat(t, s)
	}
	r := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0000000123456789..-+ e"
	buf := make([]byte, 0, 32)
	for i := 0; i < 300_000; i++ {
		buf = buf[:0]
		switch i % 3 {
		case 0: // prices as vendors write them
			buf = strconv.AppendFloat(buf, math.Round(r.Float64()*1e8)/math.Pow(10, float64(r.IntN(9))), 'f', r.IntN(9), 64)
		case 1: // random short strings of number characters
			for n := r.IntN(24); n > 0; n-- {
				buf = append(buf, alphabet[r.IntN(len(alphabet))])
			}
		default: // long digit runs around the 19-digit and 2^53 limits
			for n := 15 + r.IntN(8); n > 0; n-- {
				buf = append(buf, byte('0'+r.IntN(10)))
			}
			if k := r.IntN(len(buf) + 1); k < len(buf) {
				buf = append(buf[:k], append([]byte{'.'}, buf[k:]...)...)
			}
		}
		checkParseFloat(t, string(buf))
	}
}

func FuzzParseFloatFast(f *testing.F) {
	f.Add("417.84")
	f.Add("0.00002853")
	f.Add("-000.000")
	f.Fuzz(func(t *testing.T, s string) { checkParseFloat(t, s) })
}
