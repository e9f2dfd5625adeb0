package formats

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestAppendCSVFloat(t *testing.T) {
	cases := []struct {
		name string
		in   float64
		want string
	}{
		{"Half", 1.5, "1.5"},
		{"Whole", 2, "2"},
		{"Micro", 0.000001, "0.000001"},
		{"BelowMicroRoundsToZero", 0.0000004, "0"},
		{"NegativeTinyIsZero", -0.0000004, "0"},
		{"NegativeZero", math.Copysign(0, -1), "0"},
		{"RoundsUp", 1.0000005, "1.000001"},
		{"Float32Noise", 4.449999809265137, "4.45"},
		{"Negative", -12.25, "-12.25"},
		{"Large", 1e15, "1000000000000000"},
		{"LargeFraction", 123456789.123456789, "123456789.123457"},
		{"NaN", math.NaN(), "NaN"},
		{"Inf", math.Inf(1), "Inf"},
		{"NegInf", math.Inf(-1), "-Inf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendCSVFloat(nil, tc.in)); got != tc.want {
				t.Errorf("appendCSVFloat(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestAppendCSVRows(t *testing.T) {
	s := append(BaseSchema(TypeInt64), Field{"note", TypeString}, Field{"flag", TypeBool}, Field{"n", TypeInt64}, Field{"x", TypeFloat64})
	b := NewBatch(s, 3)
	add := func(tsv int64, o, h, l, c float64, v int64, sym, prov, note string, flag bool, n int64, x float64) {
		cols := b.Cols
		cols[0].Int = append(cols[0].Int, tsv)
		cols[1].Float = append(cols[1].Float, o)
		cols[2].Float = append(cols[2].Float, h)
		cols[3].Float = append(cols[3].Float, l)
		cols[4].Float = append(cols[4].Float, c)
		cols[5].Int = append(cols[5].Int, v)
		cols[6].Str = append(cols[6].Str, sym)
		cols[7].Str = append(cols[7].Str, prov)
		cols[8].Str = append(cols[8].Str, note)
		cols[9].Bool = append(cols[9].Bool, flag)
		cols[10].Int = append(cols[10].Int, n)
		cols[11].Float = append(cols[11].Float, x)
	}
	add(ts("2024-01-02T09:30:00Z"), 1.5, 2, 1, 1.75, 100, "ES", "ibkr", "plain", true, -3, math.NaN())
	add(ts("2024-01-02T09:30:00.25Z"), 1, 2, 1, 1, 0, "A,B", "", `say "hi"`, false, 0, 0.1)
	add(ts("1969-12-31T23:59:59.000000001Z"), 1, 2, 1, 1, 0, "x", "", "line\nbreak", false, 0, 0)
	b.Cols[10].Null = []bool{false, true, false}
	want := "timestamp,open,high,low,close,volume,symbol,provider,note,flag,n,x\n" +
		"2024-01-02 09:30:00,1.5,2,1,1.75,100,ES,ibkr,plain,true,-3,NaN\n" +
		"2024-01-02 09:30:00.25,1,2,1,1,0,\"A,B\",,\"say \"\"hi\"\"\",false,,0.1\n" +
		"1969-12-31 23:59:59.000000001,1,2,1,1,0,x,,\"line\nbreak\",false,0,0\n"
	got := string(AppendCSVRows(AppendCSVHeader(nil, s), b))
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if again := string(AppendCSVRows(AppendCSVHeader(nil, s), b)); again != got {
		t.Errorf("rendering differs between calls")
	}
}

func TestAppendCSVHeaderQuotes(t *testing.T) {
	s := append(BaseSchema(TypeFloat64), Field{`status ("d"= dealt)`, TypeString}, Field{"a,b", TypeString})
	want := "timestamp,open,high,low,close,volume,symbol,provider,\"status (\"\"d\"\"= dealt)\",\"a,b\"\n"
	if got := string(AppendCSVHeader(nil, s)); got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestAppendCSVTimestampCalendar(t *testing.T) {
	// Every day from 1678 to 2261 must match the time package.
	for d := daysFromCivil(1678, 1, 1); d < daysFromCivil(2261, 12, 31); d += 1 {
		y, m, dd := civilFromDays(d)
		if daysFromCivil(y, m, dd) != d {
			t.Fatalf("day %d -> %d-%d-%d does not invert", d, y, m, dd)
		}
	}
	for _, s := range []string{"1678-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2000-02-29T23:59:59.5Z", "2261-12-31T23:59:59Z"} {
		want := s[:10] + " " + s[11:len(s)-1]
		if got := string(appendCSVTimestamp(nil, ts(s))); got != want {
			t.Errorf("%s rendered %q, want %q", s, got, want)
		}
	}
}

func BenchmarkCSVRender(b *testing.B) {
	d, err := OpenCSV(bytesReader(genBars(1<<16)), Options{Symbol: "ES"})
	if err != nil {
		b.Fatal(err)
	}
	bt, err := d.Next()
	if err != nil {
		b.Fatal(err)
	}
	out := AppendCSVRows(nil, bt)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = AppendCSVRows(out[:0], bt)
	}
}

// The fast path of appendCSVFloat must print exactly what strconv's 'f'
// with 6 decimals (trimmed) prints.
func FuzzAppendCSVFloat(f *testing.F) {
	for _, v := range []float64{1.5, 0.0000005, 2.0000015, 4.449999809265137, -3.1415926535, 67108863.9999995, 1e-7} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		want := []byte(strconvF6(v))
		if got := appendCSVFloat(nil, v); string(got) != string(want) {
			t.Fatalf("appendCSVFloat(%v) = %s, want %s", v, got, want)
		}
	})
}

func strconvF6(v float64) string {
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

func TestAppendCSVFloatMatchesStrconv(t *testing.T) {
	// Values around rounding ties and across magnitudes.
	for i := 0; i < 200000; i++ {
		v := float64(i)*0.0000005 + float64(i%97)*1234.5678
		for _, x := range []float64{v, -v, v / 3, v * 7.77} {
			if got, want := string(appendCSVFloat(nil, x)), strconvF6(x); got != want {
				t.Fatalf("appendCSVFloat(%v) = %s, want %s", x, got, want)
			}
		}
	}
}
