package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dstDaysCSV returns 1-minute bars for 00:00-03:59 wall time of both 2024
// DST days in New York, in file order, as a New York user's naive CSV: the
// spring-forward day lacks 02:00-02:59 and the fall-back day has
// 01:00-01:59 twice. It returns the rows and the number of instants.
func dstDaysCSV(t *testing.T) (string, int) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("Date,Open,High,Low,Close,Volume\n")
	n := 0
	for _, day := range []time.Time{time.Date(2024, 3, 10, 0, 0, 0, 0, ny), time.Date(2024, 11, 3, 0, 0, 0, 0, ny)} {
		end := time.Date(day.Year(), day.Month(), day.Day(), 4, 0, 0, 0, ny)
		for u := day; u.Before(end); u = u.Add(time.Minute) {
			p := 100 + float64(n%50)/4
			fmt.Fprintf(&b, "%s,%g,%g,%g,%g,%d\n", u.Format("2006-01-02 15:04:05"), p, p+1, p-1, p+0.5, 10+n)
			n++
		}
	}
	return b.String(), n
}

// TestZonedDatasetViewRoundTrips: a New York dataset shows its times in New
// York with the UTC offset, keeps every bar of both DST days, and its own
// CSV and Parquet views re-ingested into it change nothing.
func TestZonedDatasetViewRoundTrips(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	csv, rows := dstDaysCSV(t)
	src := writeFile(t, dir, "ES.csv", csv)

	// Without --ambiguous infer the repeated hour is refused, naming it.
	_, err := st.Ingest(context.Background(), "ES", src, IngestOptions{Source: "ES.csv", Timezone: "America/New_York"})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "ES.csv:") || !strings.Contains(err.Error(), `"2024-11-03 01:00:00"`) || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("got %v, want the ambiguous 2024-11-03 01:00:00 refused with its line", err)
	}
	res := ingest(t, st, "ES", src, IngestOptions{Source: "ES.csv", Timezone: "America/New_York", Ambiguous: "infer"})
	if res.Report.FinalCount != int64(rows) {
		t.Fatalf("%d rows kept of %d bars", res.Report.FinalCount, rows)
	}
	view := string(readView(t, st, "ES", ViewCSV))
	for _, want := range []string{"\n2024-03-10 01:59:00-05:00,", "\n2024-03-10 03:00:00-04:00,", "\n2024-11-03 01:00:00-04:00,", "\n2024-11-03 01:00:00-05:00,", "\n2024-11-03 03:59:00-05:00,"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Count(view, "\n") != rows+1 {
		t.Errorf("view has %d lines, want %d", strings.Count(view, "\n"), rows+1)
	}
	for _, v := range []View{ViewCSV, ViewParquet} {
		own := writeFile(t, dir, "own"+v.Ext(), string(readView(t, st, "ES", v)))
		again := ingest(t, st, "ES", own, IngestOptions{})
		if again.Committed || again.Version != res.Version || again.Report.RowsAdded != 0 || again.Report.RowsReplaced != 0 {
			t.Errorf("re-ingesting the %s view: %+v, want no change", v.Ext(), again)
		}
	}
}

// TestTimezoneSettingChangesView: changing a dataset's zone changes how its
// view prints the same instants (sizes stay exact) without a rewrite.
func TestTimezoneSettingChangesView(t *testing.T) {
	st := newTestStore(t, Options{})
	src := writeFile(t, t.TempDir(), "A.csv", "Date,Open,High,Low,Close,Volume\n2024-07-01 13:30:00,1,2,1,1,5\n")
	ingest(t, st, "A", src, IngestOptions{})
	if v := string(readView(t, st, "A", ViewCSV)); !strings.Contains(v, "\n2024-07-01 13:30:00,") {
		t.Fatalf("UTC view:\n%s", v)
	}
	if _, _, err := st.UpdateSettings(context.Background(), "A", SettingsChange{Timezone: "Asia/Kolkata"}); err != nil {
		t.Fatal(err)
	}
	if v := string(readView(t, st, "A", ViewCSV)); !strings.Contains(v, "\n2024-07-01 19:00:00+05:30,") {
		t.Fatalf("Kolkata view:\n%s", v)
	}
	own := writeFile(t, t.TempDir(), filepath.Base("own.csv"), string(readView(t, st, "A", ViewCSV)))
	if res := ingest(t, st, "A", own, IngestOptions{}); res.Committed {
		t.Errorf("re-ingesting the Kolkata view committed %+v", res.Report)
	}
}
