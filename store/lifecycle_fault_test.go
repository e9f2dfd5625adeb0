package store

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bcfs/metastore"
)

// cleanupFixture: K has 3 versions under keep-versions 1; R has 2 versions
// and rows on either side of a row-retention cutoff (day partitions); T is
// in the trash past the trash period.
func cleanupFixture(t *testing.T, st *Store) {
	t.Helper()
	ctx := context.Background()
	ingestN(t, st, "K", 3, time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC))
	if _, _, err := st.UpdateSettings(ctx, "R", SettingsChange{Partition: "day"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var rows []string
	for _, d := range []time.Duration{-100 * 24 * time.Hour, -40*24*time.Hour - time.Hour, -40*24*time.Hour + time.Hour, -24 * time.Hour} {
		rows = append(rows, now.Add(d).Format("2006-01-02 15:04:05")+",1,2,0.5,1.5,100,R,ibkr")
	}
	ingest(t, st, "R", writeFile(t, t.TempDir(), "r.csv", bars(rows...)), IngestOptions{})
	ingestN(t, st, "T", 1, time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC))
	if _, err := st.Trash("T", "fixture"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []metastore.RetentionPolicy{{Pattern: "K", KeepVersions: 1}, {Pattern: "R", DropRowsOlderThan: "40d"}} {
		if err := st.AddPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetTrashPeriod("1ms"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
}

// allViews records the views of every retained version of every dataset.
func allViews(t *testing.T, st *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	names, err := st.DatasetNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		vs, err := st.VersionNumbers(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			out[fmt.Sprintf("%s@%d", n, v)] = views(t, st, n, v)
		}
	}
	return out
}

// TestCleanupFaults fails, or crashes, every file operation of a cleanup
// in turn. Whatever happened, the reopened store verifies, every version it
// kept is byte-identical to what it was, a new head is exactly the
// retention result, and running cleanup again finishes the job.
func TestCleanupFaults(t *testing.T) {
	var before, done map[string]string
	setup := func(t *testing.T, d string) {
		st, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		cleanupFixture(t, st)
		before = allViews(t, st)
	}
	// The result of an undisturbed cleanup of a copy of the fixture.
	tmpl := filepath.Join(t.TempDir(), "tmpl")
	setup(t, tmpl)
	ref := filepath.Join(t.TempDir(), "ref")
	if out, err := exec.Command("cp", "-a", tmpl, ref).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	st, err := Open(ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Cleanup(context.Background(), CleanupOptions{Grace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	done = allViews(t, st)
	st.Close()
	// K's three ingests appended to one month: cleanup compacts it (K@4),
	// then keeps that version alone.
	if len(done) != 4 || done["K@4"] == "" || done["R@3"] == "" {
		t.Fatalf("reference cleanup kept %d versions", len(done))
	}

	faultEvery(t, func(t *testing.T, d string) {
		if out, err := exec.Command("cp", "-a", tmpl, d).CombinedOutput(); err != nil {
			t.Fatalf("cp -a: %v %s", err, out)
		}
	}, func(st *Store) error {
		_, err := st.Cleanup(context.Background(), CleanupOptions{Grace: time.Nanosecond})
		return err
	}, func(t *testing.T, re *Store, opErr error) {
		got := allViews(t, re)
		for k, v := range got {
			if w, ok := before[k]; ok && w != v {
				t.Errorf("%s changed", k)
			}
			if _, ok := before[k]; !ok && done[k] != v && !(strings.HasPrefix(k, "K@") && v == done["K@4"]) {
				t.Errorf("new version %s is not the retention or compaction result", k)
			}
		}
		if got["R@2"] == "" {
			t.Error("R@2 (a head) is gone")
		}
		if got["K@3"] == "" && !hasVersion(got, "K@", done["K@4"]) {
			t.Error("K@3 (a head) is gone, and no compaction of it is there")
		}
		// A second cleanup without faults reaches the reference state.
		if _, err := re.Cleanup(context.Background(), CleanupOptions{Grace: time.Nanosecond}); err != nil {
			t.Fatalf("cleanup after the fault: %v", err)
		}
		final := allViews(t, re)
		if len(final) != len(done) {
			t.Errorf("after a second cleanup: %d versions, want %d (%v)", len(final), len(done), keys(final))
		}
		for k, v := range final {
			if done[k] != v && !(strings.HasPrefix(k, "R@") && v == done["R@3"]) && !(strings.HasPrefix(k, "K@") && v == done["K@4"]) {
				t.Errorf("after a second cleanup %s differs from the reference", k)
			}
		}
		if tl, _ := re.TrashList(); len(tl) != 0 {
			t.Errorf("trash not emptied: %+v", tl)
		}
	})
}

// hasVersion reports whether some version of a dataset (prefix "NAME@")
// has the given views.
func hasVersion(m map[string]string, prefix, views string) bool {
	for k, v := range m {
		if strings.HasPrefix(k, prefix) && v == views {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCleanupWithIngestsAndPinnedReader runs cleanups (keep-versions 1,
// no grace) while ingests commit and a reader holds a pinned old version:
// no ingest loses a row, the pinned reader reads its version to the end
// byte for byte, and the store verifies.
func TestCleanupWithIngestsAndPinnedReader(t *testing.T) {
	st := newTestStore(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)
	ingestN(t, st, "ES", 2, t0)
	if err := st.AddPolicy(metastore.RetentionPolicy{Pattern: "*", KeepVersions: 1}); err != nil {
		t.Fatal(err)
	}
	pinned, err := st.PinVersion("ES", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := views(t, st, "ES", 1)
	const ingests = 40
	var wg sync.WaitGroup
	var stop atomic.Bool
	wg.Add(2)
	go func() {
		defer wg.Done()
		dir := t.TempDir()
		for i := 0; i < ingests; i++ {
			ts := t0.Add(time.Duration(100+i) * time.Minute).Format("2006-01-02 15:04:05")
			p := writeFile(t, dir, fmt.Sprintf("c%d.csv", i), bars(ts+",1,2,0.5,1.5,100,X,yahoo"))
			if _, err := st.Ingest(ctx, "ES", p, IngestOptions{}); err != nil {
				t.Error(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop.Store(true)
	}()
	runs, deleted := 0, 0
	go func() {
		defer wg.Done()
		for !stop.Load() {
			// A grace period longer than an ingest's write-to-commit time
			// (as the default 10 minutes is for real inputs), shorter than
			// the test, so files of dropped versions are removed meanwhile.
			rep, err := st.Cleanup(ctx, CleanupOptions{Grace: 500 * time.Millisecond})
			if err != nil {
				t.Error(err)
			}
			runs++
			deleted += rep.FilesDeleted
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wg.Wait()
	// The pinned reader still reads version 1, whose manifest is gone.
	time.Sleep(600 * time.Millisecond)
	if _, err := st.Cleanup(ctx, CleanupOptions{Grace: 500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, v := range []View{ViewCSV, ViewParquet} {
		if _, err := pinned.WriteTo(v, &b); err != nil {
			t.Fatalf("pinned reader: %v", err)
		}
		b.WriteString("\n--\n")
	}
	pinned.Release()
	if b.String() != want {
		t.Error("the pinned reader's bytes changed")
	}
	if _, err := st.Cleanup(ctx, CleanupOptions{Grace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	e, _ := st.Stat("ES")
	if e.Rows != 2+ingests {
		t.Errorf("%d rows after %d ingests on 2, want %d", e.Rows, ingests, 2+ingests)
	}
	if vs := versionList(t, st, "ES"); len(vs) != 1 {
		t.Errorf("versions kept %v, want the head only", vs)
	}
	if deleted == 0 {
		t.Error("no cleanup during the ingests deleted a file: the test tests nothing")
	}
	t.Logf("%d cleanups ran during %d ingests, deleting %d files", runs, ingests, deleted)
	checkAllVersions(t, st)
}
