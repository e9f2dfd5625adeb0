package formats

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

var testZones = []string{"America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Africa/Monrovia", "Australia/Lord_Howe", "Etc/UTC"}

// checkZoned holds the rendering in loc to its precomputed length and, for
// instants bars can have, to reading back as the same instant in loc.
func checkZoned(t *testing.T, ts []int64, loc *time.Location) {
	t.Helper()
	n := len(ts)
	b := lenBatch(ts, make([]float64, n), make([]int64, n), make([]string, n), make([]bool, n), -1)
	out := AppendCSVRowsZone(nil, b, loc)
	if got, want := CSVRowsLen(b)+CSVZoneBytes(int64(n), loc), int64(len(out)); got != want {
		t.Fatalf("%s: precomputed %d bytes, rendering %q is %d", loc, got, out, want)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if ts[i] < -2e18 || ts[i] > 7e18 {
			continue // outside the years ParseTimestamp accepts
		}
		v := line[:strings.IndexByte(line, ',')]
		got, err := ParseTimestamp(v, loc)
		if err != nil || got != ts[i] {
			t.Fatalf("%s: %d renders %q, which reads back as %d (%v)", loc, ts[i], v, got, err)
		}
	}
}

func TestZonedRenderingLengthAndRoundTrip(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	var ts []int64
	// Every minute of the 2024 DST days in New York, with fractions.
	for _, day := range []string{"2024-03-10", "2024-11-03"} {
		d, _ := time.ParseInLocation("2006-01-02", day, ny)
		for m := range 24 * 60 {
			ts = append(ts, d.Add(time.Duration(m)*time.Minute).UnixNano()+int64(m%3)*1500e3)
		}
	}
	checkZoned(t, ts, ny)
	r := rand.New(rand.NewPCG(7, 8))
	for _, name := range testZones {
		loc := mustZone(t, name)
		ts := []int64{0, -1, 1, math.MaxInt64, math.MinInt64, -2e18, 7e18}
		for range 500 {
			ts = append(ts, (r.Int64N(9e18)-2e18)/1000*1000)
		}
		checkZoned(t, ts, loc)
	}
}

func FuzzCSVZoneLen(f *testing.F) {
	f.Add(int64(1_730_611_800_000_000_000), uint8(0))
	f.Add(int64(math.MaxInt64), uint8(1))
	f.Add(int64(-2_500_000_000_000_000_000), uint8(3))
	f.Fuzz(func(t *testing.T, ts int64, zone uint8) {
		checkZoned(t, []int64{ts}, mustZone(t, testZones[int(zone)%len(testZones)]))
	})
}

// dstDay returns the 1-minute bars of wall times from..to (exclusive, in
// minutes after midnight) of a 2024 New York DST day as CSV lines,
// repeating the minutes of the repeated hour when clocks go back.
func fallBackCSV(desc bool, symbols ...string) (string, []int64) {
	ny, _ := time.LoadLocation("America/New_York")
	start := time.Date(2024, 11, 3, 0, 0, 0, 0, ny) // 00:00 EDT
	var rows []string
	var want []int64
	for m := range 240 { // 00:00 EDT .. 02:59 EST: 4 hours of instants, 3 of wall time
		u := start.Add(time.Duration(m) * time.Minute)
		for _, s := range symbols {
			rows = append(rows, fmt.Sprintf("%s,1,2,1,1,5,%s", u.In(ny).Format("2006-01-02 15:04:05"), s))
			want = append(want, u.UnixNano())
		}
	}
	if desc {
		slices.Reverse(rows)
	}
	return "Date,Open,High,Low,Close,Volume,Symbol\n" + strings.Join(rows, "\n") + "\n", want
}

func TestDSTAmbiguousAndNonExistent(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	hdr := "Date,Open,High,Low,Close,Volume\n"
	for _, tc := range []struct {
		name, in string
		opt      Ambiguous
		is       error
		line     int64
		value    string
	}{
		{"repeated hour refused", hdr + "2024-11-03 00:59:00,1,2,1,1,5\n2024-11-03 01:30:00,1,2,1,1,5\n", AmbiguousRaise, errAmbiguous, 3, "2024-11-03 01:30:00"},
		{"skipped hour refused", hdr + "2024-03-10 01:59:00,1,2,1,1,5\n2024-03-10 02:30:00,1,2,1,1,5\n", AmbiguousRaise, errNonExistent, 3, "2024-03-10 02:30:00"},
		{"skipped hour refused under infer", hdr + "2024-03-10 02:00:00,1,2,1,1,5\n", AmbiguousInfer, errNonExistent, 2, "2024-03-10 02:00:00"},
		{"date and time pair", "Date,Time,Open,High,Low,Close,Volume\n2024-11-03,01:00,1,2,1,1,5\n", AmbiguousRaise, errAmbiguous, 2, "2024-11-03 01:00"},
		{"IBKR zone name", hdr + "20241103  01:15:00 US/Eastern,1,2,1,1,5\n", AmbiguousRaise, errAmbiguous, 2, "20241103  01:15:00 US/Eastern"},
		{"three passes cannot be inferred", hdr + "2024-11-03 01:10:00,1,2,1,1,5\n2024-11-03 01:05:00,1,2,1,1,5\n2024-11-03 01:00:00,1,2,1,1,5\n", AmbiguousInfer, errInfer, 4, "2024-11-03 01:00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeString(tc.in, Options{File: "ny.csv", Location: ny, Ambiguous: tc.opt})
			var pe *ParseError
			if !errors.Is(err, tc.is) || !errors.As(err, &pe) || pe.File != "ny.csv" || pe.Line != tc.line || pe.Column != 1 || pe.Value != tc.value {
				t.Fatalf("got %v, want %v at ny.csv:%d column 1 value %q", err, tc.is, tc.line, tc.value)
			}
			if errors.Is(err, errAmbiguous) && !strings.Contains(err.Error(), "--ambiguous infer") {
				t.Errorf("%v does not say how to resolve it", err)
			}
		})
	}
	// An offset in the value, or UTC, is never ambiguous.
	if _, _, err := decodeString(hdr+"2024-11-03 01:30:00-05:00,1,2,1,1,5\n", Options{Location: ny}); err != nil {
		t.Fatal(err)
	}
}

func TestDSTInferFromRowOrder(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	for _, tc := range []struct {
		name    string
		desc    bool
		symbols []string
	}{
		{"ascending", false, []string{"ES"}},
		{"newest first", true, []string{"ES"}},
		{"two symbols per minute", false, []string{"ES", "NQ"}},
		{"two symbols newest first", true, []string{"ES", "NQ"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, want := fallBackCSV(tc.desc, tc.symbols...)
			b, _, err := decodeString(in, Options{File: "ny.csv", Location: ny, Ambiguous: AmbiguousInfer})
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Clone(b.Timestamps())
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%d rows: instants differ from the %d written", len(got), len(want))
			}
			if _, _, err := decodeString(in, Options{File: "ny.csv", Location: ny}); !errors.Is(err, errAmbiguous) {
				t.Fatalf("without infer: %v", err)
			}
		})
	}
	// Hourly bars: 01:00 appears twice, once per offset.
	in := "Date,Open,High,Low,Close,Volume\n2024-11-03 00:00:00,1,2,1,1,5\n2024-11-03 01:00:00,1,2,1,1,5\n2024-11-03 01:00:00,1,2,1,1,5\n2024-11-03 02:00:00,1,2,1,1,5\n"
	b, _, err := decodeString(in, Options{Location: ny, Ambiguous: AmbiguousInfer})
	if err != nil {
		t.Fatal(err)
	}
	ts := b.Timestamps()
	for i := 1; i < len(ts); i++ {
		if ts[i]-ts[i-1] != int64(time.Hour) {
			t.Fatalf("hourly bars %v are not an hour apart", ts)
		}
	}
}

// TestZonedViewReadsBack: the CSV rendering of a New York dataset read back
// in New York gives the same rows, across both DST days, without --ambiguous.
func TestZonedViewReadsBack(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	in, want := fallBackCSV(false, "ES")
	b, _, err := decodeString(in, Options{Location: ny, Ambiguous: AmbiguousInfer})
	if err != nil {
		t.Fatal(err)
	}
	view := string(AppendCSVHeader(nil, b.Schema)) + string(AppendCSVRowsZone(nil, b, ny))
	back, _, err := decodeString(view, Options{Location: ny})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Timestamps(), want) {
		t.Fatal("the zoned view does not read back as the same instants")
	}
}

type naiveRow struct {
	TS     time.Time `parquet:"timestamp,timestamp(microsecond:local)"`
	Open   float64   `parquet:"open"`
	High   float64   `parquet:"high"`
	Low    float64   `parquet:"low"`
	Close  float64   `parquet:"close"`
	Volume int64     `parquet:"volume"`
}

func TestParquetNaiveDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	wall := func(s string) time.Time { v, _ := time.Parse("2006-01-02 15:04", s); return v }
	rows := []naiveRow{{TS: wall("2024-11-03 00:59"), Open: 1, High: 1, Low: 1, Close: 1}, {TS: wall("2024-11-03 01:30"), Open: 1, High: 1, Low: 1, Close: 1}}
	data := pqFile(t, rows)
	if li, _, _ := flatLeaves(mustOpen(t, data).Metadata()); li[0].UTC {
		t.Fatal("test setup: parquet-go wrote the timestamp as UTC-adjusted, not naive")
	}
	err := decodeBytes(data, Options{File: "ny.parquet", Location: ny})
	var pe *ParseError
	if !errors.Is(err, errAmbiguous) || !errors.As(err, &pe) || pe.Line != 2 || pe.Value != "2024-11-03 01:30:00" {
		t.Fatalf("got %v, want ambiguous at ny.parquet:2", err)
	}
	if err := decodeBytes(data, Options{File: "ny.parquet", Location: ny, Ambiguous: AmbiguousInfer}); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, data []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLocalToUTCCache: the cached zone period never changes an answer.
func TestLocalToUTCCache(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range testZones {
		loc := mustZone(t, name)
		w := int64(1_700_000_000)
		for range 20000 {
			if r.IntN(4) == 0 {
				w = r.Int64N(8e9) - 3e9 // anywhere in 1875-2223
			} else {
				w += r.Int64N(7200) // walk on, through changes
			}
			u, l, err := localToUTC(w, loc)
			su, sl, serr := localToUTCSlow(w, loc)
			if u != su || l != sl || (err == nil) != (serr == nil) {
				t.Fatalf("%s wall %d: cached %d %d %v, slow %d %d %v", name, w, u, l, err, su, sl, serr)
			}
		}
	}
}
