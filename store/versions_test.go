package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bars renders CSV rows "ts,o,h,l,c,v,SYM,provider" under the canonical header.
func bars(rows ...string) string {
	return "timestamp,open,high,low,close,volume,symbol,provider\n" + strings.Join(rows, "\n") + "\n"
}

func TestLogAndExportOfEveryVersion(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	inputs := []string{
		bars("2024-01-02 10:00:00,1,2,0.5,1.5,100,ES,yahoo", "2024-01-02 10:01:00,1,2,0.5,1.5,100,ES,yahoo"),
		bars("2024-01-02 10:01:00,1,2,0.5,1.7,100,ES,ibkr", "2024-02-05 10:00:00,1,2,0.5,1.5,100,ES,yahoo"),
		bars("2024-03-01 00:00:00,3,4,2,3,7,ES,barchart"),
	}
	var exports []map[View]string
	var times []time.Time
	for i, in := range inputs {
		res := ingest(t, st, "ES", writeFile(t, dir, fmt.Sprintf("in%d.csv", i), in), IngestOptions{Source: fmt.Sprintf("in%d.csv", i)})
		if res.Version != int64(i+1) {
			t.Fatalf("ingest %d made version %d", i, res.Version)
		}
		exports = append(exports, map[View]string{ViewCSV: string(readView(t, st, "ES", ViewCSV)), ViewParquet: string(readView(t, st, "ES", ViewParquet))})
		e, _ := st.Stat("ES")
		times = append(times, e.Committed)
		time.Sleep(5 * time.Millisecond)
	}
	l, err := st.Log("ES")
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 3 {
		t.Fatalf("log has %d versions, want 3", len(l))
	}
	wantRows := []int64{5 - 1, 3, 2} // newest first: 4 rows, 3 rows, 2 rows
	for i, v := range l {
		if v.Version != int64(3-i) || v.Source != fmt.Sprintf("in%d.csv", 2-i) || v.Rows != wantRows[i] {
			t.Errorf("log[%d] = version %d source %q rows %d", i, v.Version, v.Source, v.Rows)
		}
	}
	if !strings.Contains(string(l[1].Report), `"rows_replaced": 1`) && !strings.Contains(string(l[1].Report), `"rows_replaced":1`) {
		t.Errorf("version 2 report %s: want rows_replaced 1", l[1].Report)
	}
	for i := range inputs {
		for _, v := range []View{ViewCSV, ViewParquet} {
			sn, err := st.PinVersion("ES", int64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if _, err := sn.WriteTo(v, &b); err != nil {
				t.Fatal(err)
			}
			sn.Release()
			if b.String() != exports[i][v] {
				t.Errorf("version %d%s differs from the export taken when it was the head", i+1, v.Ext())
			}
		}
		got, err := st.VersionAsOf("ES", times[i])
		if err != nil || got != int64(i+1) {
			t.Errorf("as of commit %d: version %d, %v", i+1, got, err)
		}
	}
	if _, err := st.VersionAsOf("ES", times[0].Add(-time.Second)); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "oldest version kept is 1") {
		t.Errorf("as of before the first commit: %v", err)
	}
	if _, err := st.PinVersion("ES", 9); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "newest is 3") {
		t.Errorf("pin of version 9: %v", err)
	}
}

func TestParseTimeAndDuration(t *testing.T) {
	tm, err := ParseTime("2024-06-01")
	if err != nil || tm.Format(time.RFC3339Nano) != "2024-06-01T23:59:59.999999999Z" {
		t.Errorf("date: %v %v", tm, err)
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("yesterday parsed")
	}
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "12h": 12 * time.Hour, "1d12h": 36 * time.Hour, "30s": 30 * time.Second, "5m": 5 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "d", "10", "10x", "-5d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A vendor sends a correction: two bars replaced by ibkr, one added. The
// February partition is untouched and not read.
func TestDiffOfVendorCorrection(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	if _, _, err := st.UpdateSettings(context.Background(), "ES", SettingsChange{Partition: "month"}); err != nil {
		t.Fatal(err)
	}
	ingest(t, st, "ES", writeFile(t, dir, "base.csv", bars(
		"2024-01-02 10:00:00,1,2,0.5,1.5,100,ES,yahoo",
		"2024-01-02 10:01:00,1,2,0.5,1.5,100,ES,yahoo",
		"2024-01-02 10:02:00,1,2,0.5,1.5,100,ES,yahoo",
		"2024-01-02 10:02:00,5,6,4,5,10,NQ,yahoo",
		"2024-02-02 10:00:00,1,2,0.5,1.5,100,ES,yahoo",
	)), IngestOptions{})
	ingest(t, st, "ES", writeFile(t, dir, "fix.csv", bars(
		"2024-01-02 10:01:00,1,2,0.5,1.75,100,ES,ibkr",
		"2024-01-02 10:02:00,5,6,4,5.5,12,NQ,ibkr",
		"2024-01-02 10:03:00,1,2,0.5,1.5,100,ES,ibkr",
	)), IngestOptions{})
	d, err := st.Diff(context.Background(), "ES", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d.Added != 1 || d.Removed != 0 || d.Changed != 2 || d.Unchanged != 3 || d.PartitionsSame != 1 {
		t.Fatalf("diff 2..3 = %+v", d)
	}
	if d.AddedRows[0].Row != "2024-01-02 10:03:00,1,2,0.5,1.5,100,ES,ibkr" {
		t.Errorf("added %q", d.AddedRows[0].Row)
	}
	c := d.ChangedRows[1]
	if c.Before != "2024-01-02 10:02:00,5,6,4,5,10,NQ,yahoo" || c.After != "2024-01-02 10:02:00,5,6,4,5.5,12,NQ,ibkr" ||
		c.ProviderBefore != "yahoo" || c.ProviderAfter != "ibkr" || strings.Join(c.Columns, ",") != "close,volume,provider" {
		t.Errorf("changed[1] = %+v", c)
	}
	back, err := st.Diff(context.Background(), "ES", 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if back.Added != 0 || back.Removed != 1 || back.Changed != 2 || back.RemovedRows[0].Row != "2024-01-02 10:03:00,1,2,0.5,1.5,100,ES,ibkr" {
		t.Errorf("diff 3..2 = %+v", back)
	}
}
