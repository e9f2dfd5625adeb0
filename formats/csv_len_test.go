package formats

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func lenBatch(ts []int64, fl []float64, in []int64, st []string, bo []bool, nullRow int) *Batch {
	s := Schema{{"t", TypeTimestamp}, {"f", TypeFloat64}, {"i", TypeInt64}, {"s", TypeString}, {"b", TypeBool}}
	b := &Batch{Schema: s, Cols: []Column{{Int: ts}, {Float: fl}, {Int: in}, {Str: st}, {Bool: bo}}}
	if nullRow >= 0 {
		for c := range b.Cols {
			b.Cols[c].Null = make([]bool, len(ts))
			b.Cols[c].Null[nullRow] = true
		}
	}
	return b
}

func TestCSVRowsLenMatchesRendering(t *testing.T) {
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1.25, 0.1, 0.0000005, 0.0000015, 0.00000049, -0.0000001,
		123.456789, 123.4567895, 99999.9999995, 1e15, 1e15 + 0.5, 1 << 26, 1<<26 + 0.25, 1e-300, 1e300, -1e300,
		math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, 4095.999999, 0.9999995}
	ints := []int64{0, 1, -1, 9, 10, 99, 100, 9999, 10000, -10000, math.MaxInt64, math.MinInt64, 1234567890123}
	stamps := []int64{0, 1, -1, 1e9, -1e9, 1_700_000_000_123_000_000, 1_700_000_000_000_000_001, math.MaxInt64, math.MinInt64, -86400e9 - 5}
	strs := []string{"", "AAPL", "a,b", `say "hi"`, "line\nbreak", "cr\r", `"`, "ünïcödé"}
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		n := 1 + r.IntN(30)
		ts, fl, in, st, bo := make([]int64, n), make([]float64, n), make([]int64, n), make([]string, n), make([]bool, n)
		for i := 0; i < n; i++ {
			ts[i] = stamps[r.IntN(len(stamps))]
			if r.IntN(2) == 0 {
				ts[i] = r.Int64() - r.Int64()/2
			}
			switch r.IntN(4) {
			case 0:
				fl[i] = floats[r.IntN(len(floats))]
			case 1:
				fl[i] = math.Round(r.Float64()*1e6) / 100 // prices with 2 decimals
			case 2:
				fl[i] = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20))
			default:
				fl[i] = math.Float64frombits(r.Uint64())
			}
			in[i] = ints[r.IntN(len(ints))]
			if r.IntN(2) == 0 {
				in[i] = r.Int64() >> r.IntN(63)
			}
			st[i] = strs[r.IntN(len(strs))]
			bo[i] = r.IntN(2) == 0
		}
		b := lenBatch(ts, fl, in, st, bo, r.IntN(n+1)-1)
		if got, want := CSVRowsLen(b), int64(len(AppendCSVRows(nil, b))); got != want {
			t.Fatalf("round %d: CSVRowsLen %d, rendering is %d bytes:\n%s", round, got, want, AppendCSVRows(nil, b))
		}
	}
	if CSVRowsLen(NewBatch(BaseSchema(TypeInt64), 0)) != 0 {
		t.Fatal("empty batch has a length")
	}
}

func FuzzCSVRowsLen(f *testing.F) {
	f.Add(int64(0), 0.0, int64(0), "", false)
	f.Add(int64(1_700_000_000_123_000_000), 123.4567895, int64(-42), `a,"b"`, true)
	f.Add(int64(-1), 0.0000005, int64(math.MinInt64), "x\n", false)
	f.Add(int64(math.MaxInt64), 1e300, int64(math.MaxInt64), "AAPL", true)
	f.Fuzz(func(t *testing.T, ts int64, fl float64, in int64, st string, bo bool) {
		b := lenBatch([]int64{ts}, []float64{fl}, []int64{in}, []string{st}, []bool{bo}, -1)
		if got, want := CSVRowsLen(b), int64(len(AppendCSVRows(nil, b))); got != want {
			t.Fatalf("CSVRowsLen %d, rendering %q is %d bytes", got, AppendCSVRows(nil, b), want)
		}
	})
}

func BenchmarkCSVRowsLen(b *testing.B) {
	n := 100_000
	ts, fl, in, st, bo := make([]int64, n), make([]float64, n), make([]int64, n), make([]string, n), make([]bool, n)
	for i := range ts {
		ts[i] = 1_700_000_000_000_000_000 + int64(i)*60e9
		fl[i] = 100 + float64(i%1000)/100
		in[i] = int64(1000 + i%97)
		st[i] = "AAPL"
	}
	batch := lenBatch(ts, fl, in, st, bo, -1)
	b.ReportAllocs()
	b.Run("len", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			CSVRowsLen(batch)
		}
	})
	b.Run("render", func(b *testing.B) {
		var buf []byte
		for i := 0; i < b.N; i++ {
			buf = AppendCSVRows(buf[:0], batch)
		}
	})
	ny, _ := time.LoadLocation("America/New_York")
	b.Run("render-new-york", func(b *testing.B) {
		var buf []byte
		for i := 0; i < b.N; i++ {
			buf = AppendCSVRowsZone(buf[:0], batch, ny)
		}
	})
}

// floatLen counts digits instead of printing them: it must agree with the
// printer on every kind of value, most of all the prices of real files.
func TestFloatLenMatchesRendering(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var buf []byte
	for i := 0; i < 1_000_000; i++ {
		var v float64
		switch i % 6 {
		case 0:
			v = math.Round(r.Float64()*1e7) / math.Pow(10, float64(r.IntN(7))) // prices, 0-6 decimals
		case 1:
			v = float64(r.Int64N(1<<40)) - 1<<39 // whole numbers either side of 2^26
		case 2:
			v = (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(40)-20))
		case 3:
			v = math.Float64frombits(r.Uint64())
		case 4:
			v = (float64(r.Int64N(2e6)) + 0.5) / 1e6 // ties at the sixth decimal
		default:
			v = float64(r.Int64N(1<<26)) + float64(r.IntN(1e6))/1e6
		}
		if i%2 == 1 {
			v = -v
		}
		buf = appendCSVFloat(buf[:0], v)
		if got := floatLen(v); got != len(buf) {
			t.Fatalf("floatLen(%v) = %d, printed %q", v, got, buf)
		}
	}
}
