package store

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// readViewAt assembles view v of sn from ReadAt calls of odd sizes, the way
// the mount reads it, independently of WriteTo.
func readSnapshotAt(t *testing.T, sn *Snapshot, v View) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 100_003)
	for off := int64(0); ; {
		n, err := sn.ReadAt(v, buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("ReadAt %d: %v", off, err)
		}
	}
}

// TestWriteToCSVMatchesReadAt: the parallel CSV writer gives exactly the
// bytes ReadAt serves, in order, over many row groups and partitions and
// with one, two and eight renderers, also when the same snapshot writes
// several times (reused buffers and batches) and while ReadAt renders.
func TestWriteToCSVMatchesReadAt(t *testing.T) {
	sn := pinBars(t, time.Date(2024, 1, 20, 0, 0, 0, 0, time.UTC))
	if len(sn.chunks) < 6 || len(sn.m.Partitions) < 2 {
		t.Fatalf("%d row groups in %d partitions: the test wants several of each", len(sn.chunks), len(sn.m.Partitions))
	}
	want := readSnapshotAt(t, sn, ViewCSV)
	if int64(len(want)) != sn.Size(ViewCSV) || !bytes.HasPrefix(want, []byte("timestamp,open,")) {
		t.Fatalf("ReadAt gave %d bytes, size %d", len(want), sn.Size(ViewCSV))
	}
	if lines := bytes.Count(want, []byte("\n")); lines != 400_001 {
		t.Fatalf("view has %d lines, want 400001", lines)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		for i := 0; i < 2; i++ {
			var got bytes.Buffer
			done := make(chan []byte)
			go func() { done <- readSnapshotAt(t, sn, ViewCSV) }()
			n, err := sn.WriteTo(ViewCSV, &got)
			if err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("GOMAXPROCS %d run %d: WriteTo wrote %d bytes (%v), differs from ReadAt's %d", procs, i, n, err, len(want))
			}
			if concurrent := <-done; !bytes.Equal(concurrent, want) {
				t.Fatalf("GOMAXPROCS %d: ReadAt during WriteTo differs", procs)
			}
		}
	}
}

// failWriter accepts limit bytes, then fails every write.
type failWriter struct {
	n, limit int
}

var errWriterFull = errors.New("writer full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		k := w.limit - w.n
		w.n = w.limit
		return k, errWriterFull
	}
	w.n += len(p)
	return len(p), nil
}

// TestWriteToCSVStopsOnWriteError: a writer that fails part way stops the
// CSV writer with its error and the count written, and leaves no renderer
// running (the goroutine count comes back).
func TestWriteToCSVStopsOnWriteError(t *testing.T) {
	sn := pinBars(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	before := runtime.NumGoroutine()
	for _, limit := range []int{10, 3_000_000, int(sn.Size(ViewCSV)) - 1} {
		w := &failWriter{limit: limit}
		n, err := sn.WriteTo(ViewCSV, w)
		if !errors.Is(err, errWriterFull) || n != int64(limit) {
			t.Fatalf("limit %d: WriteTo = %d, %v; want %d, the writer's error", limit, n, err, limit)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines after failed writes, %d before", g, before)
	}
	var ok bytes.Buffer
	if _, err := sn.WriteTo(ViewCSV, &ok); err != nil || int64(ok.Len()) != sn.Size(ViewCSV) {
		t.Fatalf("after failed writes: %d bytes, %v", ok.Len(), err)
	}
}

// pinBars pins a fresh store's dataset "bars" of 400,000 yahoo bars from
// start; the snapshot is released when the test ends.
func pinBars(t *testing.T, start time.Time) *Snapshot {
	t.Helper()
	st := newTestStore(t, Options{CacheBytes: 1 << 20})
	src := filepath.Join(t.TempDir(), "bars.csv")
	writeBars(t, src, 400_000, "yahoo", start)
	ingest(t, st, "bars", src, IngestOptions{})
	sn, err := st.Pin("bars", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sn.Release)
	return sn
}
