package fusefs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bcfs/cache"
	"bcfs/store"
)

// appendStart is where cachedMount's bars of n rows end: the next minute.
func appendStart(n int) time.Time {
	return time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
}

// commitOther ingests bars into the mounted store by another store on the
// same folder, as `bcfs ingest` in another process does.
func commitOther(t *testing.T, m *mounted, name, csv string) {
	t.Helper()
	other := openTestStore(t, m.st.Dir(), m.logs)
	defer other.Close()
	ingestFile(t, other, name, writeFile(t, t.TempDir(), "more.csv", csv))
}

// readChecked reads the CSV view of ES_1min through the mount and checks it
// against the head's bytes; it returns them.
func readChecked(t *testing.T, m *mounted, what string) []byte {
	t.Helper()
	return readCheckedView(t, m, store.ViewCSV, what)
}

// readCheckedView reads view v of ES_1min through the mount and checks it
// against the head's bytes; it returns them.
func readCheckedView(t *testing.T, m *mounted, v store.View, what string) []byte {
	t.Helper()
	want := snapshotBytes(t, m.st, "ES_1min", v)
	got := readView(t, filepath.Join(m.mnt, "ES_1min"+v.Ext()))
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: read %d bytes that differ from the head's %d", what, len(got), len(want))
	}
	return got
}

// cacheDoc reads the view cache's counters from .metadata/cache.json.
func cacheDoc(t *testing.T, m *mounted) cache.ViewStats {
	t.Helper()
	var doc struct {
		ViewCache cache.ViewStats `json:"view_cache"`
	}
	if err := json.Unmarshal(readView(t, filepath.Join(m.mnt, ".metadata", "cache.json")), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.ViewCache
}

// TestViewCacheIncrementalAfterAppend: the CSV view of a version is cached;
// a day appended by another process makes a version whose first open is
// filled from a copy of the cached file plus the rendered day, reading
// exactly the new version's bytes, and cache.json counts the incremental
// fill. A rewrite in the middle and a compaction are filled by rendering
// whole, and read right too.
func TestViewCacheIncrementalAfterAppend(t *testing.T) {
	const n = 20000
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": n})
	old := readChecked(t, m, "first read")
	waitFills(t, vc, 1)

	commitOther(t, m, "ES_1min", genBars(appendStart(n), 1440, "ES", "ibkr"))
	got := readChecked(t, m, "first open after the append")
	if len(got) <= len(old) || !bytes.Equal(got[:len(old)], old) {
		t.Fatalf("the append did not extend the view (%d -> %d bytes)", len(old), len(got))
	}
	waitFills(t, vc, 2)
	if s := cacheDoc(t, m); s.IncrementalFills != 1 || s.Fills != 2 {
		t.Fatalf("cache.json view_cache %+v, want 2 fills, 1 incremental", s)
	}
	waitOpen(t, m, 0)
	before := m.fsys.ViewServing()
	readChecked(t, m, "hit of the incrementally filled view")
	if after := m.fsys.ViewServing(); after.RenderedOpens != before.RenderedOpens {
		t.Fatalf("the incrementally filled view was not a hit: %+v", after)
	}

	// A compaction: the same rows in other files.
	res, err := m.st.Compact(context.Background(), "ES_1min", store.CompactOptions{All: true})
	if err != nil || res.Version == 0 {
		t.Fatalf("compaction: %+v, %v", res, err)
	}
	readChecked(t, m, "after a compaction")
	waitFills(t, vc, 3)
	// Two hours in the middle rewritten with other volumes of the same
	// length: a view of the same size, whose cached older view is no
	// prefix of it.
	prev := readChecked(t, m, "before the rewrite")
	commitOther(t, m, "ES_1min", sameSizeRewrite(t, prev, "2024-01-05 0"))
	if got := readChecked(t, m, "after a rewrite in the middle"); len(got) != len(prev) || bytes.Equal(got, prev) {
		t.Fatalf("the rewrite made a view of %d bytes (was %d), changed: %v; want the same size, changed", len(got), len(prev), !bytes.Equal(got, prev))
	}
	waitFills(t, vc, 4)
	// And an append after it is incremental again.
	commitOther(t, m, "ES_1min", genBars(appendStart(n+1440), 1440, "ES", "ibkr"))
	readChecked(t, m, "after a second append")
	waitFills(t, vc, 5)
	if s := vc.Stats(); s.IncrementalFills != 2 || s.Damaged != 0 {
		t.Fatalf("view cache %+v, want 2 incremental fills of 5", s)
	}
}

// TestViewCacheIncrementalParquet: the Parquet view of a version appended
// to is filled from the older cached view's row groups, its new row groups
// and its own footer, reading exactly the new version's bytes; a rewrite
// in the middle is filled whole.
func TestViewCacheIncrementalParquet(t *testing.T) {
	const n = 20000
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": n})
	readCheckedView(t, m, store.ViewParquet, "first read")
	waitFills(t, vc, 1)
	commitOther(t, m, "ES_1min", genBars(appendStart(n), 1440, "ES", "ibkr"))
	readCheckedView(t, m, store.ViewParquet, "first open after the append")
	waitFills(t, vc, 2)
	if s := cacheDoc(t, m); s.IncrementalFills != 1 {
		t.Fatalf("cache.json view_cache %+v, want 1 incremental fill", s)
	}
	waitOpen(t, m, 0)
	readCheckedView(t, m, store.ViewParquet, "hit of the incrementally filled view")
	commitOther(t, m, "ES_1min", genBars(time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC), 100, "ES", "ibkr"))
	readCheckedView(t, m, store.ViewParquet, "after a rewrite in the middle")
	waitFills(t, vc, 3)
	commitOther(t, m, "ES_1min", genBars(appendStart(n+1440), 1440, "ES", "ibkr"))
	readCheckedView(t, m, store.ViewParquet, "after a second append")
	waitFills(t, vc, 4)
	if s := vc.Stats(); s.IncrementalFills != 2 || s.Damaged != 0 {
		t.Fatalf("view cache %+v, want 2 incremental fills of 4", s)
	}
}

// TestViewCacheDamagedBaseNotCopied: an older version's cached view that was
// truncated or written into is not copied into the next version's fill:
// that one renders whole and reads right.
func TestViewCacheDamagedBaseNotCopied(t *testing.T) {
	const n = 20000
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": n})
	damage := []func(string, int64) error{
		func(p string, size int64) error { return os.Truncate(p, size-10) },
		func(p string, size int64) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("9999"), size/3)
			return err
		},
	}
	rows := n
	old := readChecked(t, m, "first read")
	waitFills(t, vc, 1)
	for i, d := range damage {
		files := cachedFiles(t, vc)
		var base string
		for _, p := range files {
			if fi, err := os.Stat(p); err == nil && fi.Size() == int64(len(old)) {
				base = p
			}
		}
		if base == "" {
			t.Fatalf("no cached file of %d bytes in %q", len(old), files)
		}
		time.Sleep(20 * time.Millisecond) // a write changes the mtime
		if err := d(base, int64(len(old))); err != nil {
			t.Fatal(err)
		}
		commitOther(t, m, "ES_1min", genBars(appendStart(rows), 1440, "ES", "ibkr"))
		rows += 1440
		old = readChecked(t, m, "first open after the append")
		waitFills(t, vc, int64(i+2))
		if s := vc.Stats(); s.IncrementalFills != 0 || s.Damaged != int64(i+1) {
			t.Fatalf("damage %d: view cache %+v, want no incremental fill and the damage counted", i, s)
		}
		waitOpen(t, m, 0)
		readChecked(t, m, "hit after the full fill")
	}
}

// sameSizeRewrite returns the rows of view whose lines start with prefix,
// each volume v (100..149) replaced by 249-v: other rows of the same CSV
// length.
func sameSizeRewrite(t *testing.T, view []byte, prefix string) string {
	t.Helper()
	lines := strings.Split(string(view), "\n")
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	n := 0
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		f := strings.Split(l, ",")
		v, err := strconv.Atoi(f[5])
		if err != nil || v < 100 || v > 149 {
			t.Fatalf("line %q: volume not in 100..149", l)
		}
		f[5] = strconv.Itoa(249 - v)
		b.WriteString(strings.Join(f, ",") + "\n")
		n++
	}
	if n == 0 {
		t.Fatalf("no line starts with %q", prefix)
	}
	return b.String()
}
