package formats

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"bcfs/formats/formatstest"
)

// appendCSVFloatBefore is appendCSVFloat as it was before appendFixed6
// (strconv.AppendUint plus a digit loop): the reference that the
// two-digit-table printer must match byte for byte.
func appendCSVFloatBefore(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		if v == 0 {
			return append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(v), 10)
	}
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
			dst = strconv.AppendUint(dst, u/1e6, 10)
			if f := u % 1e6; f != 0 {
				var buf [7]byte
				buf[0] = '.'
				for i := 6; i >= 1; i-- {
					buf[i] = byte('0' + f%10)
					f /= 10
				}
				end := 7
				for buf[end-1] == '0' {
					end--
				}
				dst = append(dst, buf[:end]...)
			}
			return dst
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

func checkFloatSame(t *testing.T, v float64) {
	t.Helper()
	got := appendCSVFloat([]byte("x"), v)
	want := appendCSVFloatBefore([]byte("x"), v)
	if !bytes.Equal(got, want) {
		t.Fatalf("appendCSVFloat(%v [%#x]) = %q, before %q", v, math.Float64bits(v), got[1:], want[1:])
	}
	// Digits are written in place when dst has room.
	if got := appendCSVFloat(append(make([]byte, 0, 64), 'x'), v); !bytes.Equal(got, want) {
		t.Fatalf("appendCSVFloat(%v [%#x]) with room = %q, before %q", v, math.Float64bits(v), got[1:], want[1:])
	}
	if n := floatLen(v); n != len(want)-1 {
		t.Fatalf("floatLen(%v) = %d, printed %d bytes %q", v, n, len(want)-1, want[1:])
	}
}

func TestAppendFixed6MatchesBefore(t *testing.T) {
	edge := []float64{0, math.Copysign(0, -1), 1e-7, -1e-7, 4e-7, -4e-7, 5e-7, -5e-7, 6e-7, -6e-7,
		0.000001, -0.000001, 0.1, 9.999999, 9.9999995, 99.99999949, 100.0000001, 1 << 26,
		math.Nextafter(1<<26, 0), -math.Nextafter(1<<26, 0), 1e15, 1e15 + 0.5, 1e20, -1e20,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1),
		123456.7890125, 0.0000015, 2.0000015, 4.449999809265137, 67108863.9999995}
	for _, v := range edge {
		checkFloatSame(t, v)
		checkFloatSame(t, -v)
	}
	rng := rand.New(rand.NewSource(11))
	for i := 0; i < 300000; i++ {
		// Random bit patterns (all magnitudes), prices at 1..8 decimals,
		// and values hugging 6-decimal rounding ties.
		checkFloatSame(t, math.Float64frombits(rng.Uint64()))
		scale := math.Pow10(rng.Intn(9))
		p := float64(rng.Int63n(1e12)) / scale
		checkFloatSame(t, p)
		checkFloatSame(t, -p)
		tie := (float64(rng.Int63n(1e11)) + 0.5) / 1e6
		checkFloatSame(t, tie)
		checkFloatSame(t, math.Nextafter(tie, 0))
		checkFloatSame(t, math.Nextafter(tie, math.Inf(1)))
		checkFloatSame(t, rng.NormFloat64()*math.Pow10(rng.Intn(20)-6))
	}
}

// Every numeric field of every CSV under shared/data (real prices), and
// its negation.
func TestAppendFixed6RealPrices(t *testing.T) {
	root := formatstest.SharedData(t)
	count := 0
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || filepath.Ext(path) != ".csv" {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			for _, field := range bytes.Split(sc.Bytes(), []byte{','}) {
				v, err := strconv.ParseFloat(string(bytes.Trim(field, "\" \r")), 64)
				if err != nil {
					continue
				}
				checkFloatSame(t, v)
				checkFloatSame(t, -v)
				count++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count < 100000 {
		t.Fatalf("only %d numeric fields found under %s", count, root)
	}
	t.Logf("%d real numeric fields identical", count)
}

func FuzzAppendFixed6(f *testing.F) {
	for _, v := range []float64{1.5, 0.0000005, -2.0000015, 4.449999809265137, 67108863.9999995, 1e15, -0.0} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) { checkFloatSame(t, v) })
}

func BenchmarkAppendCSVFloat(b *testing.B) {
	vals := make([]float64, 1024)
	rng := rand.New(rand.NewSource(1))
	for i := range vals {
		vals[i] = float64(rng.Int63n(5e8)) / 100
	}
	b.Run("fixed6", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		for i := 0; i < b.N; i++ {
			buf = appendCSVFloat(buf[:0], vals[i&1023])
		}
	})
	b.Run("before", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		for i := 0; i < b.N; i++ {
			buf = appendCSVFloatBefore(buf[:0], vals[i&1023])
		}
	})
}

// Rows sharing a timestamp reuse its text: the rendering of a batch must
// equal its rows rendered one at a time (where nothing can be reused), in
// UTC and in zones, with null timestamps between equal ones, and its
// length must stay the precomputed one.
func TestCSVTimestampReuseMatchesRowByRow(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	zones := renderZones(t)
	reused := 0
	for round := 0; round < 300; round++ {
		n := 1 + rng.Intn(40)
		ts, fl, in, st, bo := make([]int64, n), make([]float64, n), make([]int64, n), make([]string, n), make([]bool, n)
		cur := rng.Int63() - rng.Int63()/2
		for i := range ts {
			if rng.Intn(3) == 0 {
				cur += rng.Int63n(3) * 1e9 / int64(1+rng.Intn(1000))
			}
			ts[i] = cur
			if i > 0 && ts[i] == ts[i-1] {
				reused++
			}
			fl[i] = float64(rng.Int63n(1e9)) / 1e4
			in[i] = rng.Int63n(1e6)
			st[i] = "SYM"
			bo[i] = rng.Intn(2) == 0
		}
		nullRow := rng.Intn(n+1) - 1
		b := lenBatch(ts, fl, in, st, bo, nullRow)
		stamped := int64(n) // rows with a timestamp gain the zone offset
		if nullRow >= 0 {
			stamped--
		}
		for _, loc := range zones {
			got := AppendCSVRowsZone([]byte("prefix\n"), b, loc)
			want := []byte("prefix\n")
			for i := 0; i < n; i++ {
				want = AppendCSVRowsZone(want, b.Slice(i, i+1), loc)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d zone %v: batch rendering\n%s\nrow by row\n%s", round, loc, got, want)
			}
			if l := CSVRowsLen(b) + CSVZoneBytes(stamped, loc); l != int64(len(got)-7) {
				t.Fatalf("round %d zone %v: precomputed %d, rendered %d", round, loc, l, len(got)-7)
			}
		}
	}
	if reused < 1000 {
		t.Fatalf("only %d rows repeated a timestamp", reused)
	}
}

// appendCSVInt writes digits in place: it must print what strconv does, at
// every length and both ends of int64, after any prefix.
func TestAppendCSVIntMatchesStrconv(t *testing.T) {
	vals := []int64{0, 1, -1, 9, 10, -10, 99, 100, 101, 999, 1000, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}
	for p := int64(1); p > 0 && p <= math.MaxInt64/10; p *= 10 {
		vals = append(vals, p-1, p, p+1, -p+1, -p, -p-1)
	}
	rng := rand.New(rand.NewSource(13))
	for i := 0; i < 200000; i++ {
		vals = append(vals, rng.Int63()>>rng.Intn(63), -(rng.Int63() >> rng.Intn(63)))
	}
	for i, v := range vals {
		prefix := []byte("x,y"[:i%4%3])
		want := strconv.AppendInt(bytes.Clone(prefix), v, 10)
		for _, dst := range [][]byte{bytes.Clone(prefix), append(make([]byte, 0, 64), prefix...)} {
			if got := appendCSVInt(dst, v); !bytes.Equal(got, want) {
				t.Fatalf("appendCSVInt(%d) = %q, strconv %q", v, got, want)
			}
		}
	}
}

// digits8 must give the eight digits of every x < 1e8: its lanes divide
// by multiplying with constants that are exact only below their bounds.
func TestDigits8Exhaustive(t *testing.T) {
	for x := uint32(0); x < 1e8; x++ {
		d := digits8(x)
		var back uint32
		for i := 0; i < 8; i++ {
			b := uint32(d >> (8 * i) & 0xff)
			if b > 9 {
				t.Fatalf("digits8(%d) = %#x: byte %d is %d", x, d, i, b)
			}
			back = back*10 + b
		}
		if back != x {
			t.Fatalf("digits8(%d) = %#x reads back as %d", x, d, back)
		}
	}
}

// frac3 and int3 hold what strconv prints for every x < 1000.
func TestDigitTables(t *testing.T) {
	for x := 0; x < 1000; x++ {
		f := frac3[x]
		if got, want := string([]byte{byte(f), byte(f >> 8), byte(f >> 16)}), fmt.Sprintf("%03d", x); got != want || f>>24 != 0 {
			t.Fatalf("frac3[%d] = %#x (%q), want %q and a zero top byte", x, f, got, want)
		}
		w, want := int3[x], strconv.Itoa(x)
		n := int(w >> 24)
		var got []byte
		for k := 0; k < 3 && k < n; k++ {
			got = append(got, byte(w>>(8*k)))
		}
		if n != len(want) || string(got) != want {
			t.Fatalf("int3[%d] = %#x: %d digits %q, want %q", x, w, n, got, want)
		}
	}
}

// A dateText reused over a sequence of timestamps (days repeating, going
// back, across the epoch, at both ends of int64) prints what time.Format
// prints for each.
func TestDateTextMatchesTimeFormat(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	var c dateText
	cur := int64(0)
	for i := 0; i < 300000; i++ {
		switch rng.Intn(4) {
		case 0:
			cur = rng.Int63() - rng.Int63()
		case 1:
			cur += rng.Int63n(86400e9) / int64(1+rng.Intn(3)) * int64(1-2*rng.Intn(2))
		default:
			cur += rng.Int63n(120) * 1e9 / int64(1+rng.Intn(1000))
		}
		if i < 4 {
			cur = []int64{math.MinInt64, math.MaxInt64, -1, 0}[i]
		}
		want := time.Unix(0, cur).UTC().Format("2006-01-02 15:04:05.999999999")
		if got := string(c.appendTimestamp([]byte("x"), cur)[1:]); got != want {
			t.Fatalf("timestamp %d printed %q after day %d, want %q", cur, got, c.days, want)
		}
		if got := string(appendCSVTimestamp(nil, cur)); got != want {
			t.Fatalf("appendCSVTimestamp(%d) = %q, want %q", cur, got, want)
		}
	}
}

// Strings are quoted by their content whatever their storage: values
// sharing bytes (prefixes of one string, some needing quotes and some
// not, and the same values copied) render in a batch, where their
// quoting is remembered by storage, as they do row by row.
func TestCSVStringQuotingByStorage(t *testing.T) {
	base := "AB,C\"D\nE"
	var vals []string
	for n := 0; n <= len(base); n++ {
		vals = append(vals, base[:n], strings.Clone(base[:n]), base[n:])
	}
	rng := rand.New(rand.NewSource(15))
	quoted := 0
	for round := 0; round < 200; round++ {
		n := 1 + rng.Intn(60)
		ts, fl, in, st, bo := make([]int64, n), make([]float64, n), make([]int64, n), make([]string, n), make([]bool, n)
		for i := range st {
			st[i] = vals[rng.Intn(len(vals))]
			if needsQuoteRef(st[i]) {
				quoted++
			}
		}
		b := lenBatch(ts, fl, in, st, bo, -1)
		got := AppendCSVRows(nil, b)
		var want []byte
		for i := 0; i < n; i++ {
			want = AppendCSVRows(want, b.Slice(i, i+1))
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: batch rendering\n%s\nrow by row\n%s", round, got, want)
		}
		r := csv.NewReader(bytes.NewReader(got))
		recs, err := r.ReadAll()
		if err != nil || len(recs) != n {
			t.Fatalf("round %d: rendering reads back as %d records, %v", round, len(recs), err)
		}
		for i, rec := range recs {
			if rec[3] != st[i] {
				t.Fatalf("round %d row %d: string reads back as %q, was %q", round, i, rec[3], st[i])
			}
		}
	}
	if quoted < 1000 {
		t.Fatalf("only %d values needed quotes", quoted)
	}
}

func needsQuoteRef(s string) bool { return strings.ContainsAny(s, ",\"\r\n") }

// Batches of bars (the canonical columns without nulls, volume int64 or
// float64, extra columns with nulls) print the same through appendBars as
// through the general loop, which a null-free Null slice on one canonical
// column selects, in UTC and in zones, and as long as CSVRowsLen says.
func TestCSVBarsMatchGeneralLoop(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	floats := []float64{0, math.Copysign(0, -1), 1.5, -2.25, 417.84, 118.432, 0.0000005, 99.99999949, 1e15, 1e20, -1e-300,
		math.NaN(), math.Inf(1), math.Inf(-1), 67108863.9999995, 12345.678901}
	strs := []string{"AAPL", "ES", "a,b", `q"q`, "", "yahoo", "line\nbreak"}
	zones := renderZones(t)
	value := func() float64 {
		if rng.Intn(3) == 0 {
			return floats[rng.Intn(len(floats))]
		}
		return float64(rng.Int63n(1e9)) / math.Pow10(rng.Intn(7))
	}
	for round := 0; round < 300; round++ {
		n := 1 + rng.Intn(50)
		floatVolume := rng.Intn(2) == 0
		s := Schema{{"timestamp", TypeTimestamp}, {"open", TypeFloat64}, {"high", TypeFloat64}, {"low", TypeFloat64},
			{"close", TypeFloat64}, {"volume", TypeInt64}, {"symbol", TypeString}, {"provider", TypeString}}
		if floatVolume {
			s[IdxVolume].Type = TypeFloat64
		}
		extras := rng.Intn(4)
		types := []Type{TypeInt64, TypeFloat64, TypeString, TypeBool, TypeTimestamp}
		for e := 0; e < extras; e++ {
			s = append(s, Field{Name: fmt.Sprintf("x%d", e), Type: types[rng.Intn(len(types))]})
		}
		b := NewBatch(s, n)
		cur := rng.Int63() - rng.Int63()/2
		for c := range s {
			col := &b.Cols[c]
			if c >= NumCanonical {
				col.Null = make([]bool, n)
			}
			for i := 0; i < n; i++ {
				if col.Null != nil {
					col.Null[i] = rng.Intn(3) == 0
				}
				switch s[c].Type {
				case TypeTimestamp:
					if rng.Intn(3) == 0 {
						cur += rng.Int63n(86400e9) / int64(1+rng.Intn(1000))
					}
					col.Int = append(col.Int, cur)
				case TypeFloat64:
					col.Float = append(col.Float, value())
				case TypeInt64:
					col.Int = append(col.Int, rng.Int63()>>rng.Intn(63)-rng.Int63()>>rng.Intn(63))
				case TypeString:
					col.Str = append(col.Str, strs[rng.Intn(len(strs))])
				case TypeBool:
					col.Bool = append(col.Bool, rng.Intn(2) == 0)
				}
			}
		}
		if !barColumns(csvColumns(b)) {
			t.Fatal("the batch does not take appendBars")
		}
		general := *b
		general.Cols = slices.Clone(b.Cols)
		general.Cols[IdxLow].Null = make([]bool, n)
		if barColumns(csvColumns(&general)) {
			t.Fatal("a Null slice does not select the general loop")
		}
		for _, loc := range zones {
			got := AppendCSVRowsZone([]byte("x"), b, loc)
			want := AppendCSVRowsZone([]byte("x"), &general, loc)
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d zone %v: appendBars printed\n%s\nthe general loop\n%s", round, loc, got, want)
			}
			if l := CSVRowsLen(b) + CSVZoneBytes(int64(n), loc); l != int64(len(got)-1) {
				t.Fatalf("round %d zone %v: CSVRowsLen %d, printed %d", round, loc, l, len(got)-1)
			}
		}
	}
}

// renderZones is nil (UTC without offsets), UTC and every testZones zone:
// the locations a CSV view can render timestamps in.
func renderZones(t *testing.T) []*time.Location {
	t.Helper()
	zones := []*time.Location{nil, time.UTC}
	for _, name := range testZones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, loc)
	}
	return zones
}
