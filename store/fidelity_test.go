package store

import (
	"strings"
	"testing"

	"bcfs/formats"
)

// TestOwnViewsAlwaysReingest: a Yahoo download with a null holiday row keeps
// Adj Close a number column; a dataset with a text column (numbers and
// words) takes later numbers as text; and each dataset's own CSV and
// Parquet views re-ingested into it change nothing.
func TestOwnViewsAlwaysReingest(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	yahoo := writeFile(t, dir, "AAPL.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n"+
		"2024-01-12,10,12,9,11,10.5,100\n2024-01-15,null,null,null,null,null,null\n2024-01-16,11,13,10,12,11.5,200\n")
	ingest(t, st, "AAPL", yahoo, IngestOptions{})
	sn, err := st.Pin("AAPL", 0)
	if err != nil {
		t.Fatal(err)
	}
	schema := sn.m.Schema
	sn.Release()
	if i := schema.Index("adj_close"); i < 0 || schema[i].Type != formats.TypeFloat64 {
		t.Fatalf("schema %v: adj_close should be float64", schema)
	}
	text := writeFile(t, dir, "T.csv", "Date,Open,High,Low,Close,Volume,Code\n2024-01-02,1,2,1,1,5,A1\n2024-01-03,1,2,1,1,5,1.50\n")
	ingest(t, st, "T", text, IngestOptions{})
	nums := writeFile(t, dir, "T2.csv", "Date,Open,High,Low,Close,Volume,Code\n2024-01-04,1,2,1,1,5,7\n2024-01-05,1,2,1,1,5,2.25\n")
	if res := ingest(t, st, "T", nums, IngestOptions{}); res.Report.RowsAdded != 2 {
		t.Fatalf("numbers into a text column: %+v", res.Report)
	}
	if v := string(readView(t, st, "T", ViewCSV)); !strings.Contains(v, ",1.50\n") || !strings.Contains(v, ",2.25\n") || !strings.Contains(v, ",7\n") {
		t.Fatalf("text column lost its text:\n%s", v)
	}
	for _, name := range []string{"AAPL", "T"} {
		for _, v := range []View{ViewCSV, ViewParquet} {
			before, _ := st.Pin(name, 0)
			version := before.Version()
			before.Release()
			own := writeFile(t, dir, "own"+v.Ext(), string(readView(t, st, name, v)))
			res := ingest(t, st, name, own, IngestOptions{})
			if res.Committed || res.Version != version {
				t.Errorf("%s%s re-ingested: %+v, want no change", name, v.Ext(), res.Report)
			}
		}
	}
}
