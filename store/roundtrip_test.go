package store

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"bcfs/formats"
	"bcfs/formats/formatstest"
)

func decodeFile(t *testing.T, path string, opt formats.Options) *formats.Batch {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	d, err := formats.Open(f, info.Size(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out *formats.Batch
	for {
		b, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if out == nil {
			out = formats.NewBatch(b.Schema, 0)
		}
		out.Append(b)
	}
	return out
}

// TestParquetInParquetOut ingests a pandas-written Parquet file and checks
// the exported Parquet view holds the same values with the same types.
func TestParquetInParquetOut(t *testing.T) {
	st := newTestStore(t, Options{})
	src := filepath.Join(formatstest.SharedData(t), "trade-executor/tests/binance-BTCUSDT-1h.parquet")
	res := ingest(t, st, "BTCUSDT", src, IngestOptions{Provider: "binance"})
	if res.Report.RowsAdded != 52106 {
		t.Fatalf("rows added %d, want 52106", res.Report.RowsAdded)
	}
	want := decodeFile(t, src, formats.Options{Symbol: "BTCUSDT", Provider: "binance"})
	out := filepath.Join(t.TempDir(), "out.parquet")
	if err := os.WriteFile(out, readView(t, st, "BTCUSDT", ViewParquet), 0o644); err != nil {
		t.Fatal(err)
	}
	got := decodeFile(t, out, formats.Options{})
	if !got.Schema.Equal(want.Schema) {
		t.Fatalf("schema after round trip:\n%v\nwant\n%v", got.Schema, want.Schema)
	}
	if got.Len() != want.Len() {
		t.Fatalf("%d rows, want %d", got.Len(), want.Len())
	}
	// The source is sorted by time, so rows line up one to one.
	for i := 0; i < got.Len(); i++ {
		if !formats.RowsEqual(got, i, want, i) {
			t.Fatalf("row %d differs after the round trip", i)
		}
	}
	// And the CSV view of a dataset made from the exported Parquet is
	// byte-identical: Parquet -> store -> Parquet -> store is stable.
	ingest(t, st, "again", out, IngestOptions{})
	if !bytes.Equal(readView(t, st, "BTCUSDT", ViewCSV), readView(t, st, "again", ViewCSV)) {
		t.Fatal("CSV views differ after a Parquet round trip")
	}
}
