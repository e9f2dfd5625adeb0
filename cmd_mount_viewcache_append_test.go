package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCLIMountViewCacheAfterAppend runs `bcfs mount` with a view cache: a
// day appended by `bcfs ingest` makes the next open of the CSV view read
// exactly `bcfs export` of the new version, filled from the cached older
// view plus the day (incremental_fills in cache.json); after `bcfs
// compact` (same rows, other files) the view is filled whole and reads
// the same.
func TestCLIMountViewCacheAfterAppend(t *testing.T) {
	needMount(t)
	st := filepath.Join(t.TempDir(), "store")
	t0 := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	if _, errOut, code := bcfs(t, st, "ingest", write(t, t.TempDir(), "ES.csv", barsCSV(t0, 20000, "ES"))); code != 0 {
		t.Fatal(errOut)
	}
	views := filepath.Join(t.TempDir(), "views")
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cleanupMount(t, mnt)
	if _, errOut, code := bcfs(t, st, "mount", "--daemon", "--view-cache-dir", views, "--view-cache-min-mb", "0", mnt); code != 0 {
		t.Fatalf("mount: %s", errOut)
	}
	export := func() string {
		out, errOut, code := bcfs(t, st, "export", "ES")
		if code != 0 {
			t.Fatal(errOut)
		}
		return out
	}
	stats := func() (fills, incremental int64) {
		var doc struct {
			ViewCache struct {
				Fills       int64 `json:"fills"`
				Incremental int64 `json:"incremental_fills"`
			} `json:"view_cache"`
		}
		b, err := os.ReadFile(filepath.Join(mnt, ".metadata", "cache.json"))
		if err == nil {
			err = json.Unmarshal(b, &doc)
		}
		if err != nil {
			t.Fatal(err)
		}
		return doc.ViewCache.Fills, doc.ViewCache.Incremental
	}
	check := func(what string, fills, incremental int64) {
		t.Helper()
		want := export()
		got, err := os.ReadFile(filepath.Join(mnt, "ES.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("%s: read %d bytes that differ from bcfs export's %d", what, len(got), len(want))
		}
		waitFor(t, 30*time.Second, what+": the view cached", func() bool { f, _ := stats(); return f >= fills })
		if f, inc := stats(); f != fills || inc != incremental {
			t.Fatalf("%s: cache.json says %d fills, %d incremental; want %d, %d", what, f, inc, fills, incremental)
		}
	}

	check("first read", 1, 0)
	day := write(t, t.TempDir(), "day.csv", barsCSV(t0.Add(20000*time.Minute), 1440, "ES"))
	if _, errOut, code := bcfs(t, st, "ingest", "--dataset", "ES", day); code != 0 {
		t.Fatal(errOut)
	}
	check("first open after a day appended", 2, 1)
	if _, errOut, code := bcfs(t, st, "compact", "ES"); code != 0 {
		t.Fatal(errOut)
	}
	check("first open after a compaction", 3, 1)
	day = write(t, t.TempDir(), "day2.csv", barsCSV(t0.Add(21440*time.Minute), 1440, "ES"))
	if _, errOut, code := bcfs(t, st, "ingest", "--dataset", "ES", day); code != 0 {
		t.Fatal(errOut)
	}
	check("first open after another day appended", 4, 2)
}
