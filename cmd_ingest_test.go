package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dailyBars writes n daily bars from day0 (a row per day, symbol ES) with
// close price base+i, and returns the file.
func dailyBars(t *testing.T, dir, name string, day0 time.Time, n int, base float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
	for i := 0; i < n; i++ {
		p := base + float64(i)
		fmt.Fprintf(&b, "%s,%g,%g,%g,%g,%d,ES\n", day0.AddDate(0, 0, i).Format("2006-01-02"), p, p+1, p-1, p, 100+i)
	}
	return write(t, dir, name, b.String())
}

type ingestReport struct {
	Committed bool
	Report    struct {
		OriginalCount     int64 `json:"original_count"`
		FinalCount        int64 `json:"final_count"`
		DuplicatesRemoved int64 `json:"duplicates_removed"`
		RowsAdded         int64 `json:"rows_added"`
		RowsReplaced      int64 `json:"rows_replaced"`
	}
	Input struct{ Rows int64 }
}

func rowCount(t *testing.T, st, name string) int64 {
	t.Helper()
	out, errOut, code := bcfs(t, st, "stats", "--json", name)
	if code != 0 {
		t.Fatal(errOut)
	}
	var doc struct {
		RowCount int64 `json:"row_count"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.RowCount
}

// TestCLIReportCountsAreTheDatasets: after a merge that touches one of
// several partitions, original_count and final_count are the whole
// dataset's rows (stored + incoming, and after), as in BC-Utils.
func TestCLIReportCountsAreTheDatasets(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	src := t.TempDir()
	day0 := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	first := dailyBars(t, src, "all.csv", day0, 3*365, 100) // three year partitions
	if _, errOut, code := bcfs(t, st, "ingest", "--dataset", "ES", first, "--partition", "year"); code == 0 {
		t.Fatalf("--partition is a settings flag, not an ingest flag: %s", errOut)
	}
	if _, errOut, code := bcfs(t, st, "settings", "ES", "--partition", "year"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := bcfs(t, st, "ingest", "--dataset", "ES", first); code != 0 {
		t.Fatal(errOut)
	}
	before := rowCount(t, st, "ES")
	if before != 3*365 {
		t.Fatalf("%d rows, want %d", before, 3*365)
	}
	// 40 days of 2023, the last 10 past the end: 30 replaced, 10 added.
	upd := dailyBars(t, src, "upd.csv", day0.AddDate(0, 0, 3*365-30), 40, 500)
	for _, dry := range []bool{true, false} {
		args := []string{"ingest", "--json", "--dataset", "ES", upd}
		if dry {
			args = append(args, "--dry-run")
		}
		out, errOut, code := bcfs(t, st, args...)
		if code != 0 {
			t.Fatal(errOut)
		}
		var res ingestReport
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		after := rowCount(t, st, "ES")
		if dry && after != before || !dry && after != before+10 {
			t.Fatalf("dry run %v: %d rows after, had %d", dry, after, before)
		}
		r := res.Report
		if r.RowsAdded != 10 || r.RowsReplaced != 30 || res.Input.Rows != 40 {
			t.Fatalf("dry run %v: report %+v input %d", dry, r, res.Input.Rows)
		}
		if r.OriginalCount != before+40 || r.FinalCount != before+10 || r.DuplicatesRemoved != 30 {
			t.Fatalf("dry run %v: original_count %d final_count %d duplicates_removed %d; dataset had %d rows, got 40, has %d",
				dry, r.OriginalCount, r.FinalCount, r.DuplicatesRemoved, before, before+10)
		}
	}
	// An ingest that changes nothing reports the dataset as it is.
	out, _, _ := bcfs(t, st, "ingest", "--json", "--dataset", "ES", upd)
	var res ingestReport
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Committed || res.Report.FinalCount != before+10 || res.Report.OriginalCount != before+50 {
		t.Fatalf("unchanged re-ingest: %+v", res)
	}
}
