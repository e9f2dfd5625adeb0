package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"bcfs/metastore"
)

// appendedStore has ES with month partitions: January in 1+days files,
// February in febDays (days appended one by one).
func appendedStore(t *testing.T, st *Store, days, febDays int) {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := st.UpdateSettings(context.Background(), "ES", SettingsChange{Partition: metastore.GranularityMonth}); err != nil {
		t.Fatal(err)
	}
	ingest(t, st, "ES", tenMinuteBars(t, dir, "base.csv", jan2, 144*3, "yahoo", 100, "A", "B"), IngestOptions{})
	for d := 0; d < days; d++ {
		ingest(t, st, "ES", tenMinuteBars(t, dir, fmt.Sprintf("j%d.csv", d), jan2.AddDate(0, 0, 3+d), 144, "barchart", 200, "A", "B"), IngestOptions{})
	}
	feb := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < febDays; d++ {
		ingest(t, st, "ES", tenMinuteBars(t, dir, fmt.Sprintf("f%d.csv", d), feb.AddDate(0, 0, d), 144, "ibkr", 300, "A"), IngestOptions{})
	}
}

func TestCompactIsByteIdentical(t *testing.T) {
	st := newTestStore(t, Options{})
	ctx := context.Background()
	appendedStore(t, st, 4, 3)
	before, err := st.head("ES")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(before.Partitions); n != 5+3 {
		t.Fatalf("fixture: %d files", n)
	}
	csv, pq := readView(t, st, "ES", ViewCSV), parquetRows(t, readView(t, st, "ES", ViewParquet))
	oldViews := views(t, st, "ES", before.Version)

	dry, err := st.Compact(ctx, "ES", CompactOptions{All: true, DryRun: true})
	if err != nil || dry.PartitionsCompacted != 2 || dry.FilesBefore != 8 || dry.Version != 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if m, _ := st.head("ES"); m.Version != before.Version {
		t.Fatal("a dry run committed")
	}
	res, err := st.Compact(ctx, "ES", CompactOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.PartitionsCompacted != 2 || res.FilesBefore != 8 || res.FilesAfter != 2 || res.Version != before.Version+1 || res.BytesWritten <= 0 {
		t.Fatalf("compact: %+v", res)
	}
	after, err := st.head("ES")
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Partitions) != 2 || after.FormatVersion != metastore.FormatVersion || after.Source != SourceCompaction {
		t.Fatalf("after: %d files, format %d, source %q", len(after.Partitions), after.FormatVersion, after.Source)
	}
	if after.RowCount != before.RowCount || after.CSVSize != before.CSVSize || fmt.Sprint(after.Symbols, after.Providers) != fmt.Sprint(before.Symbols, before.Providers) {
		t.Fatalf("counts changed: %+v vs %+v", after, before)
	}
	if got := readView(t, st, "ES", ViewCSV); !bytes.Equal(got, csv) {
		t.Fatalf("the CSV view changed:\n%s\nvs\n%s", head(got), head(csv))
	}
	if got := parquetRows(t, readView(t, st, "ES", ViewParquet)); got != pq {
		t.Fatal("the Parquet view's rows changed")
	}
	if got := views(t, st, "ES", before.Version); got != oldViews {
		t.Fatal("the version before compaction changed")
	}
	// Nothing left to fold: no new version.
	if res, err := st.Compact(ctx, "ES", CompactOptions{All: true}); err != nil || res.Version != 0 || res.PartitionsCompacted != 0 {
		t.Fatalf("second compact: %+v %v", res, err)
	}
	// The next append after compaction appends to the compacted file.
	ingest(t, st, "ES", tenMinuteBars(t, t.TempDir(), "f9.csv", time.Date(2024, 2, 9, 0, 0, 0, 0, time.UTC), 10, "ibkr", 300, "A"), IngestOptions{})
	if m, _ := st.head("ES"); len(m.Partitions) != 3 {
		t.Fatalf("append after compaction: %d files", len(m.Partitions))
	}
}

// TestCleanupCompactsWhatIsDue: compaction folds a month that is over (or
// followed by another) and leaves an open month alone however many files it
// has; cleanup runs it and reports partitions_compacted.
func TestCleanupCompactsWhatIsDue(t *testing.T) {
	st := newTestStore(t, Options{})
	ctx := context.Background()
	appendedStore(t, st, 2, 10)
	feb := "year=2024/month=02"
	head, _ := st.head("ES")
	febFiles := filesOf(head, feb)
	if len(febFiles) != 10 || len(filesOf(head, jan)) != 3 {
		t.Fatalf("fixture: %d february files", len(febFiles))
	}
	// Mid-February: January is over, February open.
	mid := time.Date(2024, 2, 15, 0, 0, 0, 0, time.UTC)
	res, err := st.Compact(ctx, "ES", CompactOptions{Now: mid})
	if err != nil || res.PartitionsCompacted != 1 || res.FilesBefore != 3 || res.FilesAfter != 1 {
		t.Fatalf("mid-february: %+v %v", res, err)
	}
	head, _ = st.head("ES")
	if got := filesOf(head, feb); fmt.Sprint(got) != fmt.Sprint(febFiles) {
		t.Fatalf("february (open) was compacted: %d files", len(got))
	}
	if n := len(filesOf(head, jan)); n != 1 {
		t.Fatalf("january after: %d files", n)
	}
	if res, err := st.Compact(ctx, "ES", CompactOptions{Now: mid}); err != nil || res.PartitionsCompacted != 0 || res.Version != 0 {
		t.Fatalf("again mid-february: %+v %v", res, err)
	}
	// Now (2024 is over): cleanup folds February.
	rep, err := st.Cleanup(ctx, CleanupOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PartitionsCompacted != 1 || len(rep.Datasets) != 1 || rep.Datasets[0].CompactionVersion != head.Version+1 {
		t.Fatalf("cleanup: %+v", rep)
	}
	head, _ = st.head("ES")
	if len(head.Partitions) != 2 {
		t.Fatalf("after cleanup: %d files", len(head.Partitions))
	}
	last, err := st.LastCleanup()
	if err != nil || last.PartitionsCompacted != 1 {
		t.Fatalf("saved report: %+v %v", last, err)
	}
	if rep, err := st.Cleanup(ctx, CleanupOptions{Grace: time.Hour}); err != nil || rep.PartitionsCompacted != 0 {
		t.Fatalf("second cleanup: %+v %v", rep, err)
	}
}

// TestCompactFaults fails, or crashes, every file operation of a
// compaction in turn: every version stays byte-identical, a new head has
// exactly the rows of the old one, and compacting again finishes the job.
func TestCompactFaults(t *testing.T) {
	var before map[string]string
	var csv []byte
	faultEvery(t, func(t *testing.T, d string) {
		st, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		appendedStore(t, st, 2, 3)
		before = allViews(t, st)
		csv = readView(t, st, "ES", ViewCSV)
	}, func(st *Store) error {
		_, err := st.Compact(context.Background(), "ES", CompactOptions{All: true})
		return err
	}, func(t *testing.T, re *Store, opErr error) {
		got := allViews(t, re)
		for k, v := range before {
			if got[k] != v {
				t.Errorf("%s changed or is gone", k)
			}
		}
		if !bytes.Equal(readView(t, re, "ES", ViewCSV), csv) {
			t.Error("the head's CSV view changed")
		}
		if _, err := re.Compact(context.Background(), "ES", CompactOptions{All: true}); err != nil {
			t.Fatalf("compact after the fault: %v", err)
		}
		if m, err := re.head("ES"); err != nil || len(m.Partitions) != 2 {
			t.Fatalf("after a second compaction: %v files, %v", len(m.Partitions), err)
		}
		if !bytes.Equal(readView(t, re, "ES", ViewCSV), csv) {
			t.Error("the CSV view changed")
		}
	})
}
