package main

import (
	"bytes"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func gen(t testing.TB, cfg config) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := generate(cfg, &buf); err != nil {
		t.Fatalf("generate(%+v): %v", cfg, err)
	}
	return buf.Bytes()
}

// row is a parsed output line; prices stay in ticks of the row's precision.
type row struct {
	ts                     time.Time
	open, high, low, close int64
	decimals               int
	volume                 int64
	symbol, provider       string
}

func parseTicks(s string) (int64, int, error) {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok {
		return 0, 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	return v, len(frac), err
}

func parse(t testing.TB, data []byte) []row {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	hdr, err := r.Read()
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	if got := strings.Join(hdr, ",") + "\n"; got != header {
		t.Fatalf("header = %q, want %q", got, header)
	}
	var rows []row
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		var x row
		if x.ts, err = time.Parse(time.DateTime, rec[0]); err != nil {
			t.Fatalf("line %d timestamp %q: %v", line, rec[0], err)
		}
		prices := []*int64{&x.open, &x.high, &x.low, &x.close}
		for i, p := range prices {
			v, d, err := parseTicks(rec[1+i])
			if err != nil {
				t.Fatalf("line %d price %q: %v", line, rec[1+i], err)
			}
			if i == 0 {
				x.decimals = d
			} else if d != x.decimals {
				t.Fatalf("line %d: mixed decimals in %q", line, rec)
			}
			*p = v
		}
		if x.volume, err = strconv.ParseInt(rec[5], 10, 64); err != nil {
			t.Fatalf("line %d volume %q: %v", line, rec[5], err)
		}
		x.symbol, x.provider = rec[6], rec[7]
		rows = append(rows, x)
	}
}

func checkInvariants(t testing.TB, cfg config, rows []row) {
	t.Helper()
	if int64(len(rows)) != cfg.rows {
		t.Fatalf("got %d rows, want %d", len(rows), cfg.rows)
	}
	for i, x := range rows {
		if !(x.low <= min(x.open, x.close) && max(x.open, x.close) <= x.high && x.low >= 1) {
			t.Fatalf("row %d: OHLC inconsistent: %+v", i, x)
		}
		if x.decimals < 2 || x.decimals > 4 {
			t.Fatalf("row %d: %d decimals", i, x.decimals)
		}
		if x.volume < 0 {
			t.Fatalf("row %d: volume %d", i, x.volume)
		}
		if x.provider != cfg.provider {
			t.Fatalf("row %d: provider %q, want %q", i, x.provider, cfg.provider)
		}
		if wd := x.ts.Weekday(); wd == time.Saturday || wd == time.Sunday {
			t.Fatalf("row %d: bar on a %v: %v", i, wd, x.ts)
		}
		if i > 0 {
			p := rows[i-1]
			if c := x.ts.Compare(p.ts); c < 0 || (c == 0 && x.symbol <= p.symbol) {
				t.Fatalf("rows %d,%d not strictly sorted by (timestamp, symbol): %v %s then %v %s",
					i-1, i, p.ts, p.symbol, x.ts, x.symbol)
			}
		}
	}
}

func TestGenerateInvariants(t *testing.T) {
	tests := []struct {
		name string
		cfg  config
	}{
		{"one symbol", config{rows: 3000, symbols: 1, provider: "yahoo", start: testStart, seed: 1}},
		{"ten symbols", config{rows: 5000, symbols: 10, provider: "yahoo", start: testStart, seed: 1}},
		{"more symbols than names", config{rows: 2500, symbols: 25, provider: "barchart", start: testStart, seed: 7}},
		{"partial last bar", config{rows: 1003, symbols: 10, provider: "yahoo", start: testStart, seed: 3}},
		{"jitter and offset", config{rows: 4000, symbols: 4, provider: "ibkr", start: testStart, seed: 2, overlapFrom: 777, jitter: 3}},
		{"starts on saturday", config{rows: 100, symbols: 2, provider: "yahoo", start: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), seed: 1}},
		{"zero rows", config{rows: 0, symbols: 3, provider: "yahoo", start: testStart, seed: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkInvariants(t, tc.cfg, parse(t, gen(t, tc.cfg)))
		})
	}
}

func TestWeekendSkipped(t *testing.T) {
	// 2024-06-07 is a Friday: the bar after 23:59 must be Monday 00:00.
	cfg := config{rows: 2, symbols: 1, provider: "yahoo", start: time.Date(2024, 6, 7, 0, 0, 0, 0, time.UTC), seed: 1, overlapFrom: 1439}
	rows := parse(t, gen(t, cfg))
	want := []string{"2024-06-07 23:59:00", "2024-06-10 00:00:00"}
	for i, w := range want {
		if got := rows[i].ts.Format(time.DateTime); got != w {
			t.Errorf("row %d timestamp = %s, want %s", i, got, w)
		}
	}
}

func TestDeterministic(t *testing.T) {
	cfg := config{rows: 2000, symbols: 5, provider: "yahoo", start: testStart, seed: 42}
	a, b := gen(t, cfg), gen(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatal("same flags gave different output")
	}
	cfg.seed = 43
	if bytes.Equal(a, gen(t, cfg)) {
		t.Fatal("different seeds gave identical output")
	}
}

// TestOverlapKeys checks the merge-input contract bench.sh relies on: the
// first rows share keys with the tail of the base file but differ in price,
// the rest lie strictly after the base file's end.
func TestOverlapKeys(t *testing.T) {
	base := config{rows: 1000, symbols: 10, provider: "yahoo", start: testStart, seed: 1}
	merge := base
	merge.rows, merge.overlapFrom, merge.provider, merge.jitter = 400, 800, "ibkr", 3
	b, m := parse(t, gen(t, base)), parse(t, gen(t, merge))
	checkInvariants(t, merge, m)
	overlap := int(base.rows - merge.overlapFrom)
	for i := range overlap {
		x, y := b[int(merge.overlapFrom)+i], m[i]
		if !x.ts.Equal(y.ts) || x.symbol != y.symbol {
			t.Fatalf("merge row %d key (%v,%s), want (%v,%s)", i, y.ts, y.symbol, x.ts, x.symbol)
		}
		if x.close == y.close {
			t.Fatalf("merge row %d has the base close %d; overlap must conflict", i, x.close)
		}
		if d := y.open - x.open; d < -3 || d > 3 {
			t.Fatalf("merge row %d open moved by %d ticks, jitter is 3", i, d)
		}
	}
	last := b[len(b)-1].ts
	for i := overlap; i < len(m); i++ {
		if !m[i].ts.After(last) {
			t.Fatalf("merge row %d at %v is not after the base end %v", i, m[i].ts, last)
		}
	}
	// Without jitter the offset output is byte-identical to the base tail.
	exact := base
	exact.rows, exact.overlapFrom = 200, 800
	bb, eb := gen(t, base), gen(t, exact)
	tail := bb[bytes.Index(bb, []byte(m[0].ts.Format(time.DateTime))):]
	if !bytes.Equal(eb[len(header):], tail) {
		t.Fatal("-overlap-from without jitter is not the base file's tail")
	}
}

func TestAppendTicks(t *testing.T) {
	tests := []struct {
		name  string
		ticks int64
		d     int
		want  string
	}{
		{"two decimals", 41784, 2, "417.84"},
		{"leading zero fraction", 41704, 2, "417.04"},
		{"zero fraction", 41700, 2, "417.00"},
		{"three decimals", 118005, 3, "118.005"},
		{"four decimals", 3770022, 4, "377.0022"},
		{"below one", 5, 4, "0.0005"},
		{"one tick", 1, 2, "0.01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendTicks(nil, tc.ticks, tc.d)); got != tc.want {
				t.Errorf("appendTicks(%d, %d) = %q, want %q", tc.ticks, tc.d, got, tc.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(config, string) bool
	}{
		{"defaults", nil, "", func(c config, out string) bool {
			return c.rows == 12_000_000 && c.symbols == 10 && c.provider == "yahoo" && out == "-" && c.start.Equal(testStart)
		}},
		{"merge flags", []string{"-rows", "20", "-overlap-from", "5", "-provider", "ibkr", "-jitter", "2", "-out", "m.csv"}, "",
			func(c config, out string) bool {
				return c.rows == 20 && c.overlapFrom == 5 && c.provider == "ibkr" && c.jitter == 2 && out == "m.csv"
			}},
		{"bad date", []string{"-start", "2020-13-01"}, "-start", nil},
		{"negative rows", []string{"-rows", "-1"}, "-rows", nil},
		{"no symbols", []string{"-symbols", "0"}, "-symbols", nil},
		{"quoted provider", []string{"-provider", "a,b"}, "quoting", nil},
		{"stray argument", []string{"extra"}, "unexpected", nil},
		{"unknown flag", []string{"-nope"}, "not defined", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, out, err := parseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg, out) {
				t.Fatalf("unexpected config %+v out %q", cfg, out)
			}
		})
	}
}

func FuzzGenerate(f *testing.F) {
	f.Add(uint16(100), uint8(10), uint64(1), uint16(0), uint8(0))
	f.Add(uint16(37), uint8(1), uint64(9), uint16(500), uint8(3))
	f.Add(uint16(250), uint8(30), uint64(0), uint16(1), uint8(1))
	f.Fuzz(func(t *testing.T, rows uint16, symbols uint8, seed uint64, from uint16, jitter uint8) {
		cfg := config{
			rows: int64(rows % 2000), symbols: int(symbols%40) + 1, provider: "p",
			start: testStart, seed: seed, overlapFrom: int64(from), jitter: int(jitter % 8),
		}
		checkInvariants(t, cfg, parse(t, gen(t, cfg)))
	})
}

func BenchmarkGenerate(b *testing.B) {
	cfg := config{rows: 200_000, symbols: 10, provider: "yahoo", start: testStart, seed: 1}
	var n countWriter
	b.ReportAllocs()
	for b.Loop() {
		n = 0
		if err := generate(cfg, &n); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(n))
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
