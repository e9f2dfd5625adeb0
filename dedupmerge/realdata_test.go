package dedupmerge

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bcfs/formats/formatstest"
)

// readYahoo reads a yfinance test CSV into bars with provider "yahoo" and
// symbol sym. Empty prices become NaN and an empty Adj Close becomes null:
// this package merges whatever it is given; validation happens upstream.
func readYahoo(t *testing.T, path, sym string) []bar {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	tsCol, ok := col["Datetime"]
	if !ok {
		tsCol = col["Date"]
	}
	num := func(rec []string, name string) (float64, bool) {
		s := rec[col[name]]
		if s == "" {
			return math.NaN(), false
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: %s %q: %v", path, name, s, err)
		}
		return v, true
	}
	var out []bar
	for _, rec := range recs[1:] {
		ts, err := time.Parse("2006-01-02 15:04:05-07:00", rec[tsCol])
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r := bar{ts: ts.UnixNano(), sym: sym, prov: "yahoo"}
		r.o, _ = num(rec, "Open")
		r.h, _ = num(rec, "High")
		r.l, _ = num(rec, "Low")
		r.c, _ = num(rec, "Close")
		v, _ := num(rec, "Volume")
		r.v = int64(v)
		r.adj, ok = num(rec, "Adj Close")
		r.adjNull = !ok
		out = append(out, r)
	}
	return out
}

// TestMergeYahooRepairs merges yfinance's repaired files over the raw ones
// (same provider, so the newer write wins): every repaired row that differs
// replaces its raw row, nothing else changes.
func TestMergeYahooRepairs(t *testing.T) {
	dir := filepath.Join(formatstest.SharedData(t), "yfinance", "tests", "data")
	fixed, err := filepath.Glob(filepath.Join(dir, "*-fixed.csv"))
	if err != nil || len(fixed) < 10 {
		t.Fatalf("want at least 10 *-fixed.csv files in %s, got %d (%v)", dir, len(fixed), err)
	}
	pairs, replacedTotal := 0, int64(0)
	for _, fx := range fixed {
		raw := strings.TrimSuffix(fx, "-fixed.csv") + ".csv"
		if _, err := os.Stat(raw); err != nil {
			continue
		}
		pairs++
		t.Run(filepath.Base(raw), func(t *testing.T) {
			rawBars, fixedBars := readYahoo(t, raw, "X"), readYahoo(t, fx, "X")
			stored, rep0 := Merge(nil, mkBatch(rawBars...), Policy{})
			refStored, refRep0 := refMerge(nil, rawBars, Policy{})
			assertRows(t, stored, refStored)
			if rep0 != refRep0 {
				t.Fatalf("first ingest %+v, want %+v", rep0, refRep0)
			}
			out, rep := Merge(stored, mkBatch(fixedBars...), Policy{})
			want, wantRep := refMerge(refStored, fixedBars, Policy{})
			assertRows(t, out, want)
			if rep != wantRep {
				t.Fatalf("repair merge %+v, want %+v", rep, wantRep)
			}
			replacedTotal += rep.RowsReplaced
			// Re-ingesting the same file changes nothing.
			again, rep2 := Merge(out, mkBatch(fixedBars...), Policy{})
			assertRows(t, again, want)
			if rep2.Changed() || rep2.ConflictsResolved != 0 {
				t.Fatalf("re-ingest changed the dataset: %+v", rep2)
			}
		})
	}
	if pairs < 10 || replacedTotal == 0 {
		t.Fatalf("%d raw/fixed pairs, %d rows replaced: the data no longer exercises repairs", pairs, replacedTotal)
	}
}
