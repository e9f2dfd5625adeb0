package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRouterOrderDoesNotMatter ingests the same rows in time order, newest
// first, and shuffled with a tiny memory budget (so partitions are merged
// several times, each on top of the last) and expects identical datasets.
func TestRouterOrderDoesNotMatter(t *testing.T) {
	var rows []string
	for d := 0; d < 400; d++ {
		for s := 0; s < 3; s++ {
			day := 1 + d%28
			month := 1 + (d/28)%12
			year := 2020 + d/(28*12)
			rows = append(rows, fmt.Sprintf("%04d-%02d-%02d 00:00:00,1,2,0.5,1.5,%d,S%d,yahoo", year, month, day, d*10+s, s))
		}
	}
	// Within-file duplicates: the same key again with another volume, after
	// its original in every order, so the duplicate must win everywhere.
	var dups []string
	for i := 0; i < len(rows); i += 50 {
		f := strings.Split(rows[i], ",")
		f[5] = fmt.Sprint(1_000_000 + i)
		dups = append(dups, strings.Join(f, ","))
	}
	render := func(rs []string) string {
		return "timestamp,open,high,low,close,volume,symbol,provider\n" + strings.Join(rs, "\n") + "\n"
	}
	withDups := func(rs []string) []string { return append(append([]string(nil), rs...), dups...) }
	sorted := withDups(rows)
	reversed := make([]string, len(rows))
	for i, r := range rows {
		reversed[len(rows)-1-i] = r
	}
	reversed = withDups(reversed)
	shuffled := append([]string(nil), rows...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	shuffled = withDups(shuffled)

	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "sorted", writeFile(t, dir, "a.csv", render(sorted)), IngestOptions{})
	ingest(t, st, "reversed", writeFile(t, dir, "b.csv", render(reversed)), IngestOptions{})
	oldBudget, oldBatch := maxBufferedRows, decodeBatchRows
	maxBufferedRows, decodeBatchRows = 100, 37
	t.Cleanup(func() { maxBufferedRows, decodeBatchRows = oldBudget, oldBatch })
	res := ingest(t, st, "shuffled", writeFile(t, dir, "c.csv", render(shuffled)), IngestOptions{})
	if res.Report.RowsAdded != int64(len(rows)) || res.Report.FinalCount != int64(len(rows)) {
		t.Fatalf("shuffled report %+v, want %d rows", res.Report, len(rows))
	}
	want := readView(t, st, "sorted", ViewCSV)
	if !bytes.Contains(want, []byte(",1000050,")) {
		t.Fatal("the later duplicate did not win")
	}
	for _, name := range []string{"reversed", "shuffled"} {
		if got := readView(t, st, name, ViewCSV); !bytes.Equal(got, want) {
			t.Fatalf("%s differs from sorted", name)
		}
	}
	if e, _ := st.Stat("sorted"); e.Rows != int64(len(rows)) {
		t.Fatalf("rows %d, want %d", e.Rows, len(rows))
	}
}

// TestUncommittedFirstIngestLeavesNothing: a dry run, and a file that fails
// after partitions were already merged and written, leave no dataset, no
// folder and no partition file behind.
func TestUncommittedFirstIngestLeavesNothing(t *testing.T) {
	st := newTestStore(t, Options{})
	old := decodeBatchRows
	decodeBatchRows = 5
	t.Cleanup(func() { decodeBatchRows = old })
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume\n")
	for m := 1; m <= 12; m++ {
		for d := 1; d <= 5; d++ {
			fmt.Fprintf(&b, "2023-%02d-%02d,1,2,0.5,1.5,10\n", m, d)
		}
	}
	dir := t.TempDir()
	good := writeFile(t, dir, "good.csv", b.String())
	bad := writeFile(t, dir, "bad.csv", b.String()+"2024-01-01,1,2,0.5,1.5,x\n")
	if res := ingest(t, st, "N", good, IngestOptions{DryRun: true}); res.Committed || res.Report.RowsAdded != 60 {
		t.Fatalf("dry run: %+v", res)
	}
	if _, err := st.Ingest(context.Background(), "N", bad, IngestOptions{}); err == nil {
		t.Fatal("bad file accepted")
	}
	if ents, _ := os.ReadDir(filepath.Join(st.Dir(), "datasets")); len(ents) != 0 {
		t.Fatalf("left behind in datasets/: %v", ents)
	}
	if folders, _ := st.Folders(); len(folders) != 0 {
		t.Fatalf("folders %v", folders)
	}
}

func TestCanceledIngestCommitsNothing(t *testing.T) {
	st := newTestStore(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := st.Ingest(ctx, "C", writeFile(t, t.TempDir(), "c.csv", yahooCSV), IngestOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := st.Stat("C"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("canceled ingest left a dataset: %v", err)
	}
}

// TestRouterByteBound ingests rows with large text fields, all in one
// partition, and checks that what the router buffers never exceeds
// Options.IngestBufferBytes after a batch (with the default bound the same
// input buffers far more), and that the result is the same either way.
func TestRouterByteBound(t *testing.T) {
	const rows, text, bound = 600, 20_000, 2 << 20 // 12 MB of text, one partition
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,note\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "2023-03-01 %02d:%02d:%02d,1,2,0.5,1.5,%d,%s%d\n", i/3600, i/60%60, i%60, i, strings.Repeat("n", text), i)
	}
	file := writeFile(t, t.TempDir(), "big.csv", b.String())
	oldBatch, oldHook := decodeBatchRows, routerBuffered
	t.Cleanup(func() { decodeBatchRows, routerBuffered = oldBatch, oldHook })
	decodeBatchRows = 25 // ~500 KB batches

	run := func(opt Options) (peak, gotBound int64, calls int, view []byte) {
		routerBuffered = func(buffered, bound int64) {
			calls++
			peak = max(peak, buffered)
			gotBound = bound
		}
		st := newTestStore(t, opt)
		res := ingest(t, st, "N", file, IngestOptions{})
		if res.Report.RowsAdded != rows {
			t.Fatalf("report %+v, want %d rows added", res.Report, rows)
		}
		return peak, gotBound, calls, readView(t, st, "N", ViewCSV)
	}
	peakDefault, defBound, _, want := run(Options{})
	if defBound != DefaultIngestBufferBytes {
		t.Fatalf("default bound %d, want %d", defBound, DefaultIngestBufferBytes)
	}
	if peakDefault < 4*bound {
		t.Fatalf("with the default bound the router buffered at most %d bytes; the input is too small to test a %d bound", peakDefault, bound)
	}
	peak, gotBound, calls, got := run(Options{IngestBufferBytes: bound})
	if gotBound != bound || calls < rows/25 {
		t.Fatalf("bound %d, %d calls", gotBound, calls)
	}
	if peak >= bound {
		t.Fatalf("router buffered %d bytes, bound %d", peak, bound)
	}
	if peak < bound/2 {
		t.Fatalf("router buffered at most %d bytes: it flushed far below the bound %d", peak, bound)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bounded ingest's view differs from the unbounded one")
	}
	if !bytes.Contains(got, []byte(strings.Repeat("n", text)+"599")) {
		t.Fatal("the last row's text is missing from the view")
	}
}
