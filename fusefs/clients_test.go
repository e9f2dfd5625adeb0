package fusefs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"bcfs/formats/formatstest"
	"bcfs/store"
)

// needClient returns the path of a client program, failing under
// BCFS_REQUIRE_FUSE=1 and skipping otherwise when it is missing.
func needClient(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if requireFuse() {
		t.Fatalf("%s missing: %s", path, why)
	}
	t.Skipf("%s missing: %s", path, why)
}

func clientsDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "scripts", "clients"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPandasReadsCSV: pandas in its own process reads NAME.csv from the mount
// into the same frame as from an exported copy of the bytes.
func TestPandasReadsCSV(t *testing.T) {
	needClient(t, "/usr/bin/python3", "apt-get install -y python3-pandas")
	if err := exec.Command("/usr/bin/python3", "-c", "import pandas").Run(); err != nil {
		if requireFuse() {
			t.Fatal("pandas missing: apt-get install -y python3-pandas")
		}
		t.Skip("pandas missing")
	}
	data := formatstest.SharedData(t)
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "yahoo/CALM", filepath.Join(data, "yfinance/tests/data/CALM-1d-no-bad-divs.csv"))
		ingestFile(t, st, "yhoo", filepath.Join(data, "backtrader/datas/yhoo-1996-2014.txt"))
	})
	for _, ds := range []string{"yahoo/CALM", "yhoo"} {
		t.Run(ds, func(t *testing.T) {
			exported := filepath.Join(t.TempDir(), "export.csv")
			if err := os.WriteFile(exported, snapshotBytes(t, m.st, ds, store.ViewCSV), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("/usr/bin/python3", filepath.Join(clientsDir(t), "pandas_check.py"),
				filepath.Join(m.mnt, ds+".csv"), exported).CombinedOutput()
			if err != nil {
				t.Fatalf("pandas: %v: %s", err, out)
			}
			var res struct {
				Rows   int64  `json:"rows"`
				Equal  bool   `json:"equal"`
				Reason string `json:"reason"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("pandas output %q: %v", out, err)
			}
			if !res.Equal {
				t.Fatalf("frames differ: %s", res.Reason)
			}
			if want := rows(t, m.st, ds); res.Rows != want {
				t.Fatalf("pandas read %d rows, store has %d", res.Rows, want)
			}
		})
	}
}

// TestDuckDBReadsParquet: DuckDB (node) reads NAME.parquet from the mount and
// its count, time range and column sums equal the values computed in Go from
// the snapshot.
func TestDuckDBReadsParquet(t *testing.T) {
	dir := clientsDir(t)
	needClient(t, filepath.Join(dir, "node_modules", "@duckdb", "node-api"), "npm ci --prefix scripts/clients")
	node, err := exec.LookPath("node")
	if err != nil {
		if requireFuse() {
			t.Fatal("node not installed")
		}
		t.Skip("node not installed")
	}
	data := formatstest.SharedData(t)
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "yahoo/CALM", filepath.Join(data, "yfinance/tests/data/CALM-1d-no-bad-divs.csv"))
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 20000, "ES", "ibkr")))
		// Two appends: each adds a file to the partition of the rows
		// before it.
		ingestFile(t, st, "ESA", writeFile(t, t.TempDir(), "a.csv", genBars(day, 20000, "ES", "ibkr")))
		ingestFile(t, st, "ESA", writeFile(t, t.TempDir(), "b.csv", genBars(day.Add(20000*time.Minute), 300, "ES", "yahoo")))
		ingestFile(t, st, "ESA", writeFile(t, t.TempDir(), "c.csv", genBars(day.Add(20300*time.Minute), 300, "ES", "barchart")))
	})
	if m, err := m.st.Manifest("ESA", 0); err != nil || len(m.Partitions) < 3 {
		t.Fatalf("ESA has %v partition files, want appended ones (%v)", len(m.Partitions), err)
	}
	for _, ds := range []string{"yahoo/CALM", "ES", "ESA"} {
		t.Run(ds, func(t *testing.T) {
			want := csvFigures(t, snapshotBytes(t, m.st, ds, store.ViewCSV))
			out, err := exec.Command(node, filepath.Join(dir, "duckdb_check.mjs"), filepath.Join(m.mnt, ds+".parquet")).CombinedOutput()
			if err != nil {
				t.Fatalf("duckdb: %v: %s", err, out)
			}
			var got struct {
				Rows   string  `json:"rows"`
				MinTS  string  `json:"min_ts"`
				MaxTS  string  `json:"max_ts"`
				Open   float64 `json:"sum_open"`
				High   float64 `json:"sum_high"`
				Low    float64 `json:"sum_low"`
				Close  float64 `json:"sum_close"`
				Volume float64 `json:"sum_volume"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("duckdb output %q: %v", out, err)
			}
			if got.Rows != strconv.FormatInt(want.rows, 10) {
				t.Errorf("rows %s, want %d", got.Rows, want.rows)
			}
			if got.MinTS != strconv.FormatInt(want.minTS, 10) || got.MaxTS != strconv.FormatInt(want.maxTS, 10) {
				t.Errorf("time range %s..%s, want %d..%d", got.MinTS, got.MaxTS, want.minTS, want.maxTS)
			}
			for i, pair := range [][2]float64{{got.Open, want.sums[0]}, {got.High, want.sums[1]}, {got.Low, want.sums[2]}, {got.Close, want.sums[3]}, {got.Volume, want.sums[4]}} {
				// The CSV rounds to 6 decimals; the Parquet keeps full values.
				if math.Abs(pair[0]-pair[1]) > 1e-6*float64(want.rows)+1e-9*math.Abs(pair[1]) {
					t.Errorf("sum of column %d: duckdb %v, store %v", i+1, pair[0], pair[1])
				}
			}
		})
	}
}

type figures struct {
	rows         int64
	minTS, maxTS int64
	sums         [5]float64 // open, high, low, close, volume
}

// csvFigures computes count, time range and sums from a CSV view.
func csvFigures(t *testing.T, b []byte) figures {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	f := figures{minTS: math.MaxInt64, maxTS: math.MinInt64}
	for _, r := range recs[1:] {
		ts, err := time.Parse("2006-01-02 15:04:05.999999999", r[0])
		if err != nil {
			t.Fatalf("timestamp %q: %v", r[0], err)
		}
		f.rows++
		f.minTS = min(f.minTS, ts.UnixNano())
		f.maxTS = max(f.maxTS, ts.UnixNano())
		for i := 0; i < 5; i++ {
			x, err := strconv.ParseFloat(r[1+i], 64)
			if err != nil {
				t.Fatalf("column %d %q: %v", i+1, r[1+i], err)
			}
			f.sums[i] += x
		}
	}
	return f
}
