package store

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bcfs/metastore"
	"bcfs/metastore/faultfs"
)

// views returns both views of version v (0: head).
func views(t *testing.T, st *Store, name string, v int64) string {
	t.Helper()
	sn, err := st.PinVersion(name, v)
	if err != nil {
		t.Fatalf("pin %s version %d: %v", name, v, err)
	}
	defer sn.Release()
	var b bytes.Buffer
	for _, view := range []View{ViewCSV, ViewParquet} {
		if _, err := sn.WriteTo(view, &b); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n--\n")
	}
	return b.String()
}

// threeVersions ingests three versions of ES: 2 rows, a vendor correction
// (one replaced, one added), a settings change of the provider preference.
func esVersions(t *testing.T, st *Store) {
	t.Helper()
	dir := t.TempDir()
	ingest(t, st, "ES", writeFile(t, dir, "a.csv", bars("2024-01-02 10:00:00,1,2,0.5,1.5,100,ES,yahoo", "2024-01-02 10:01:00,1,2,0.5,1.5,100,ES,yahoo")), IngestOptions{Source: "a.csv"})
	ingest(t, st, "ES", writeFile(t, dir, "b.csv", bars("2024-01-02 10:01:00,1,2,0.5,1.7,100,ES,ibkr", "2024-03-05 10:00:00,1,2,0.5,1.5,100,ES,ibkr")), IngestOptions{Source: "b.csv"})
	ingest(t, st, "ES", writeFile(t, dir, "c.csv", bars("2025-01-02 10:00:00,1,2,0.5,1.5,9,ES,barchart")), IngestOptions{Source: "c.csv"})
}

func TestRollbackThenIngestThenUndo(t *testing.T) {
	st := newTestStore(t, Options{})
	esVersions(t, st)
	v1, v3 := views(t, st, "ES", 1), views(t, st, "ES", 3)
	res, err := st.Rollback(context.Background(), "ES", 1)
	if err != nil || !res.Committed || res.Version != 4 || res.From != 3 {
		t.Fatalf("rollback to 1: %+v, %v", res, err)
	}
	if got := views(t, st, "ES", 0); got != v1 {
		t.Fatal("head after rollback to 1 differs from version 1's exports")
	}
	// Ingest on top of the rollback, then undo the rollback and the ingest.
	ingest(t, st, "ES", writeFile(t, t.TempDir(), "d.csv", bars("2024-01-02 10:02:00,1,2,0.5,1.5,100,ES,yahoo")), IngestOptions{Source: "d.csv"})
	if e, _ := st.Stat("ES"); e.Version != 5 || e.Rows != 3 {
		t.Fatalf("after ingest on the rollback: %+v", e)
	}
	if res, err := st.Rollback(context.Background(), "ES", 3); err != nil || res.Version != 6 {
		t.Fatalf("undo: %+v, %v", res, err)
	}
	if got := views(t, st, "ES", 0); got != v3 {
		t.Fatal("head after rolling back the rollback differs from version 3")
	}
	// Rolling back to what the head already holds commits nothing.
	if res, err := st.Rollback(context.Background(), "ES", 3); err != nil || res.Committed || res.Version != 6 {
		t.Fatalf("rollback to the head's content: %+v, %v", res, err)
	}
	l, err := st.Log("ES")
	if err != nil {
		t.Fatal(err)
	}
	var srcs []string
	for _, v := range l {
		srcs = append(srcs, v.Source)
	}
	if got := strings.Join(srcs, "|"); got != "rollback to 3|d.csv|rollback to 1|c.csv|b.csv|a.csv" {
		t.Errorf("log sources %s", got)
	}
	if _, err := st.Rollback(context.Background(), "ES", 9); err == nil || !strings.Contains(err.Error(), "no version 9") {
		t.Errorf("rollback to a missing version: %v", err)
	}
}

// faultEvery builds the fixture once (setup, in a store dir), runs op on a
// copy to count its file operations, then again on a fresh copy (cp -a, so
// modification times and the grace period hold) for every operation of
// every kind, failing it or crashing there, and calls check on the
// reopened store.
func faultEvery(t *testing.T, setup func(t *testing.T, dir string), op func(st *Store) error, check func(t *testing.T, re *Store, opErr error)) {
	root := t.TempDir()
	tmpl := filepath.Join(root, "template")
	setup(t, tmpl)
	copyStore := func(t *testing.T, dst string) {
		if out, err := exec.Command("cp", "-a", tmpl, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v %s", err, out)
		}
	}
	probe := filepath.Join(root, "probe")
	copyStore(t, probe)
	ffs := faultfs.New(metastore.OS)
	st, err := Open(probe, Options{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	st.stopGC() // background collection would make the counts vary
	st.gcw = nil
	ffs.Reset()
	if err := op(st); err != nil {
		t.Fatalf("probe run: %v", err)
	}
	counts := map[faultfs.Op]int{}
	for k := faultfs.OpCreate; k < faultfs.OpAll; k <<= 1 {
		counts[k] = ffs.Count(k)
	}
	st.Close()
	runs := 0
	for k := faultfs.OpCreate; k < faultfs.OpAll; k <<= 1 {
		for i := 0; i < counts[k]; i++ {
			for _, crash := range []bool{false, true} {
				if crash && k&(faultfs.OpOpen|faultfs.OpRead|faultfs.OpList|faultfs.OpClose) != 0 {
					continue // a crash at a read is the crash at the write before it
				}
				runs++
				name := fmt.Sprintf("%v-%d-crash=%v", k, i, crash)
				t.Run(name, func(t *testing.T) {
					d := filepath.Join(root, name)
					copyStore(t, d)
					ffs := faultfs.New(metastore.OS)
					st, err := Open(d, Options{FS: ffs})
					if err != nil {
						t.Fatal(err)
					}
					st.stopGC()
					st.gcw = nil
					ffs.Reset()
					if crash {
						ffs.CrashAt(k, i)
					} else {
						ffs.FailAt(k, i, faultfs.ErrInjected)
					}
					opErr := op(st)
					st.Close()
					re, err := Open(d, Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer re.Close()
					checkAllVersions(t, re)
					check(t, re, opErr)
				})
			}
		}
	}
	if runs == 0 {
		t.Fatal("the operation did no file operation")
	}
	t.Logf("%d fault runs", runs)
}

// checkAllVersions verifies every retained version of every dataset and
// that every view of each renders at its size.
func checkAllVersions(t *testing.T, st *Store) {
	t.Helper()
	probs, err := st.VerifyVersions(context.Background(), false)
	if err != nil {
		t.Errorf("verify: %v", err)
	}
	for _, p := range probs {
		t.Errorf("verify: %v", p)
	}
	checkInvariants(t, st)
}

func TestRollbackFaults(t *testing.T) {
	var v1, v3 string
	setup := func(t *testing.T, d string) {
		st, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		esVersions(t, st)
		v1, v3 = views(t, st, "ES", 1), views(t, st, "ES", 3)
	}
	faultEvery(t, setup, func(st *Store) error {
		_, err := st.Rollback(context.Background(), "ES", 1)
		return err
	}, func(t *testing.T, re *Store, opErr error) {
		e, err := re.Stat("ES")
		if err != nil {
			t.Fatal(err)
		}
		got := views(t, re, "ES", 0)
		switch {
		case e.Version == 3 && opErr != nil:
			if got != v3 {
				t.Fatal("a failed rollback changed the head")
			}
		case e.Version == 4:
			if got != v1 {
				t.Fatal("version 4 is not version 1's content")
			}
		default:
			t.Fatalf("rollback err %v, head %d", opErr, e.Version)
		}
	})
}
