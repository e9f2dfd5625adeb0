package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestWriteViewAtMatchesReadAt: the positional writer puts exactly the
// bytes ReadAt serves at their offsets after off, for the CSV view of a
// UTC and of a zoned dataset (row groups rendered in pieces of csvPiece
// bytes) and for the Parquet view, with one, two and eight renderers,
// and again with two (reused snapshot).
func TestWriteViewAtMatchesReadAt(t *testing.T) {
	utc := pinBars(t, time.Date(2024, 1, 20, 0, 0, 0, 0, time.UTC))
	zoned := pinZonedBars(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name string
		sn   *Snapshot
		v    View
	}{{"utc csv", utc, ViewCSV}, {"zoned csv", zoned, ViewCSV}, {"parquet", utc, ViewParquet}} {
		want := readSnapshotAt(t, tc.sn, tc.v)
		if int64(len(want)) != tc.sn.Size(tc.v) || len(want) < 10_000_000 && tc.v == ViewCSV {
			t.Fatalf("%s: ReadAt gave %d bytes, size %d", tc.name, len(want), tc.sn.Size(tc.v))
		}
		if tc.v == ViewCSV && tc.sn.chunks[0].csvLen < 4*csvPiece {
			t.Fatalf("%s: row groups of %d bytes are written in one piece; the test wants several", tc.name, tc.sn.chunks[0].csvLen)
		}
		for i, procs := range []int{1, 2, 8, 2} {
			runtime.GOMAXPROCS(procs)
			{
				p := filepath.Join(t.TempDir(), "out")
				if err := os.WriteFile(p, []byte("PREFIX"), 0o644); err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				n, err := tc.sn.WriteViewAt(tc.v, f, 6)
				f.Close()
				if err != nil || n != int64(len(want)) {
					t.Fatalf("%s GOMAXPROCS %d: WriteViewAt = %d, %v; want %d bytes", tc.name, procs, n, err, len(want))
				}
				got, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(got, append([]byte("PREFIX"), want...)) {
					t.Fatalf("%s GOMAXPROCS %d run %d: the file (%d bytes) is not PREFIX and ReadAt's %d bytes", tc.name, procs, i, len(got), len(want))
				}
			}
		}
	}
	if got := readSnapshotAt(t, zoned, ViewCSV); !bytes.Contains(got, []byte("\n2024-01-20 09:30:00-05:00,")) {
		t.Fatalf("the zoned view does not show New York times with their offset")
	}
}

// pinZonedBars pins the bars of pinBars ingested as New York times.
func pinZonedBars(t *testing.T) *Snapshot {
	t.Helper()
	st := newTestStore(t, Options{CacheBytes: 1 << 20})
	src := filepath.Join(t.TempDir(), "bars.csv")
	writeBars(t, src, 400_000, "yahoo", time.Date(2024, 1, 20, 0, 0, 0, 0, time.UTC))
	ingest(t, st, "bars", src, IngestOptions{Timezone: "America/New_York"})
	sn, err := st.Pin("bars", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sn.Release)
	if sn.loc == nil {
		t.Fatal("the dataset renders in UTC")
	}
	return sn
}

// writes records the ranges written through it and fails every write once
// limit bytes have been written.
type writes struct {
	mu     sync.Mutex // protects ranges and n
	ranges [][2]int64
	n      int64
	limit  int64
}

func (w *writes) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.limit > 0 && w.n+int64(len(p)) > w.limit {
		return 0, errWriterFull
	}
	w.n += int64(len(p))
	w.ranges = append(w.ranges, [2]int64{off, off + int64(len(p))})
	return len(p), nil
}

// TestWriteViewAtStopsOnWriteError: a file that fails part way stops every
// renderer with its error and leaves no goroutine running.
func TestWriteViewAtStopsOnWriteError(t *testing.T) {
	sn := pinBars(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	before := runtime.NumGoroutine()
	for _, limit := range []int64{10, 3_000_000, sn.Size(ViewCSV) - 1} {
		w := &writes{limit: limit}
		n, err := sn.WriteViewAt(ViewCSV, w, 0)
		if !errors.Is(err, errWriterFull) || n != w.n || n >= sn.Size(ViewCSV) {
			t.Fatalf("limit %d: WriteViewAt = %d, %v; want the writer's error after %d bytes", limit, n, err, w.n)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines after failed writes, %d before", g, before)
	}
}

// TestWriteViewAtRefusesWrongLength: a row group that renders to other
// than its manifest's length is damage, and none of its bytes land outside
// its place in the view. Each write stays within one row group's place,
// and together the writes cover the view once.
func TestWriteViewAtRefusesWrongLength(t *testing.T) {
	sn := pinBars(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	check := func(w *writes) {
		t.Helper()
		sort.Slice(w.ranges, func(i, j int) bool { return w.ranges[i][0] < w.ranges[j][0] })
		for i, r := range w.ranges {
			k := sort.Search(len(sn.starts), func(k int) bool { return sn.starts[k] > r[0] }) - 1
			if r[0] >= int64(len(sn.header)) && (k < 0 || k >= len(sn.chunks) || r[1] > sn.starts[k+1]) {
				t.Fatalf("write [%d,%d) crosses the end of a row group's place (starts %v)", r[0], r[1], sn.starts)
			}
			if i > 0 && r[0] < w.ranges[i-1][1] {
				t.Fatalf("writes [%d,%d) and [%d,%d) overlap", w.ranges[i-1][0], w.ranges[i-1][1], r[0], r[1])
			}
		}
	}
	w := &writes{}
	if n, err := sn.WriteViewAt(ViewCSV, w, 0); err != nil || n != sn.Size(ViewCSV) {
		t.Fatalf("WriteViewAt = %d, %v", n, err)
	}
	check(w)
	for k, d := range map[int]int64{1: -1, 2: 1} {
		sn.chunks[k].csvLen += d
		for j := k + 1; j < len(sn.starts); j++ {
			sn.starts[j] += d
		}
		w := &writes{}
		if _, err := sn.WriteViewAt(ViewCSV, w, 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("row group %d off by %d: got %v, want ErrCorrupt", k, d, err)
		}
		check(w)
		sn.chunks[k].csvLen -= d
		for j := k + 1; j < len(sn.starts); j++ {
			sn.starts[j] -= d
		}
	}
}
