package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"bcfs/metastore"
)

// storeDigest hashes every file of a store (path, size, mode, bytes), so a
// dry run can be shown to change nothing.
func storeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = fmt.Sprintf("%s %d %s %d", info.Mode(), info.Size(), hex.EncodeToString(sum[:]), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func versionList(t *testing.T, st *Store, name string) []int64 {
	t.Helper()
	l, err := st.Log(name)
	if err != nil {
		t.Fatalf("log %s: %v", name, err)
	}
	var vs []int64
	for _, v := range l {
		vs = append(vs, v.Version)
	}
	slices.Sort(vs)
	return vs
}

// ingestN commits n versions of a dataset, one new row each.
func ingestN(t *testing.T, st *Store, name string, n int, t0 time.Time) {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute).UTC().Format("2006-01-02 15:04:05")
		p := writeFile(t, dir, fmt.Sprintf("%d.csv", i), bars(ts+",1,2,0.5,1.5,100,X,yahoo"))
		ingest(t, st, name, p, IngestOptions{Source: fmt.Sprintf("%d.csv", i)})
	}
}

func TestRetentionPoliciesAndCleanup(t *testing.T) {
	st := newTestStore(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)
	// Things that must be old when cleanup runs.
	ingestN(t, st, "scratch/tmp", 2, t0)
	ingestN(t, st, "hist/A", 3, t0)
	ingestN(t, st, "both/A", 4, t0)
	ingestN(t, st, "gone", 1, t0)
	if _, err := st.Trash("gone", "test"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	ingestN(t, st, "hist/B", 1, t0) // a second dataset, committed recently
	dir := t.TempDir()
	// The ibkr row replaces a stored one: hist/A's January is merged into
	// one file, so the cleanup does not compact it.
	ingest(t, st, "hist/A", writeFile(t, dir, "h.csv", bars("2024-01-02 10:00:00,1,2,0.5,1.6,1,X,ibkr", "2025-01-01 00:00:00,1,2,0.5,1.5,1,X,yahoo")), IngestOptions{})
	ingest(t, st, "both/A", writeFile(t, dir, "b.csv", bars("2025-01-01 00:00:00,1,2,0.5,1.5,1,X,yahoo")), IngestOptions{})
	ingestN(t, st, "yahoo/AAPL", 3, t0)
	ingestN(t, st, "yahoo/MSFT", 3, t0)
	ingestN(t, st, "other", 3, t0)

	// Row retention on day partitions: rows either side of the cutoff.
	now := time.Now()
	cutoff := now.Add(-30 * 24 * time.Hour)
	if _, _, err := st.UpdateSettings(ctx, "ES_1min", SettingsChange{Partition: "day"}); err != nil {
		t.Fatal(err)
	}
	var rowsIn []string
	stamps := []time.Time{now.Add(-100 * 24 * time.Hour), now.Add(-99 * 24 * time.Hour), cutoff.Add(-2 * time.Minute), cutoff.Add(-time.Minute), cutoff.Add(time.Minute), now.Add(-24 * time.Hour)}
	for _, ts := range stamps {
		rowsIn = append(rowsIn, ts.UTC().Truncate(time.Second).Format("2006-01-02 15:04:05")+",1,2,0.5,1.5,100,ES,ibkr")
	}
	ingest(t, st, "ES_1min", writeFile(t, dir, "es.csv", bars(rowsIn...)), IngestOptions{})
	before, _ := st.Stat("ES_1min")
	fullRows := views(t, st, "ES_1min", 0)
	wantDropped, days, cutDay := 0, map[string]bool{}, cutoff.UTC().Format(time.DateOnly)
	for _, ts := range stamps {
		if ts.Truncate(time.Second).Before(cutoff) {
			wantDropped++
			if d := ts.UTC().Format(time.DateOnly); d != cutDay {
				days[d] = true
			}
		}
	}

	for _, p := range []metastore.RetentionPolicy{
		{Pattern: "yahoo/AAPL", KeepVersions: 1},
		{Pattern: "yahoo/*", KeepVersions: 2},
		{Pattern: "hist/*", KeepHistory: "1s"},
		{Pattern: "both/*", KeepHistory: "1s", KeepVersions: 3},
		{Pattern: "ES_*", DropRowsOlderThan: "30d"},
		{Pattern: "scratch/*", DeleteAfter: "1s"},
	} {
		if err := st.AddPolicy(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AddPolicy(metastore.RetentionPolicy{Pattern: "yahoo/*", KeepVersions: 5}); !errors.Is(err, ErrExists) {
		t.Errorf("adding a pattern twice: %v", err)
	}
	if err := st.AddPolicy(metastore.RetentionPolicy{Pattern: "x", KeepHistory: "10"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("a duration without unit: %v", err)
	}
	if err := st.SetTrashPeriod("1s"); err != nil {
		t.Fatal(err)
	}

	digest := storeDigest(t, st.Dir())
	dry, err := st.Cleanup(ctx, CleanupOptions{DryRun: true, Grace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if after := storeDigest(t, st.Dir()); !mapsEqual(digest, after) {
		t.Fatalf("dry run changed the store: %v", diffKeys(digest, after))
	}

	rep, err := st.Cleanup(ctx, CleanupOptions{Grace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		dry, real any
	}{{"files_removed", dry.FilesRemoved, rep.FilesRemoved}, {"versions_removed", dry.VersionsRemoved, rep.VersionsRemoved},
		{"rows_dropped", dry.RowsDropped, rep.RowsDropped}, {"partitions_removed", dry.PartitionsRemoved, rep.PartitionsRemoved},
		{"space_freed_bytes", dry.SpaceFreedBytes, rep.SpaceFreedBytes}, {"files_deleted", dry.FilesDeleted, rep.FilesDeleted}} {
		if c.dry != c.real {
			t.Errorf("%s: dry run said %v, cleanup did %v", c.what, c.dry, c.real)
		}
	}
	// delete-after: scratch/tmp is in the trash, restorable.
	if rep.FilesRemoved != 1 || !slices.Equal(rep.RemovedFiles, []string{"scratch/tmp"}) {
		t.Errorf("files_removed %d %v, want scratch/tmp", rep.FilesRemoved, rep.RemovedFiles)
	}
	if _, err := st.Stat("scratch/tmp"); !errors.Is(err, ErrNotFound) {
		t.Errorf("scratch/tmp after delete-after: %v", err)
	}
	tl, _ := st.TrashList()
	if len(tl) != 1 || tl[0].Name != "scratch/tmp" {
		t.Errorf("trash holds %+v, want scratch/tmp only (gone emptied after the trash period)", tl)
	}
	if !slices.Equal(rep.TrashEmptied, []string{"gone"}) {
		t.Errorf("trash emptied %v, want [gone]", rep.TrashEmptied)
	}
	// ingestN appends minutes of January 2024, a month that is over: the
	// cleanup compacts each such dataset into a new version first, which
	// the version policies then count.
	if rep.PartitionsCompacted != 4 {
		t.Errorf("partitions_compacted %d, want 4 (both/A, yahoo/AAPL, yahoo/MSFT, other)", rep.PartitionsCompacted)
	}
	// First match wins: yahoo/AAPL keeps 1, yahoo/MSFT 2; other keeps all.
	for name, want := range map[string][]int64{"yahoo/AAPL": {4}, "yahoo/MSFT": {3, 4}, "other": {1, 2, 3, 4},
		"hist/A": {4}, "hist/B": {1}, "both/A": {4, 5, 6}} {
		if got := versionList(t, st, name); !slices.Equal(got, want) {
			t.Errorf("%s keeps versions %v, want %v", name, got, want)
		}
	}
	// Row retention: a new version without the old rows; whole day
	// partitions dropped, the boundary day rewritten.
	after, _ := st.Stat("ES_1min")
	if after.Version != before.Version+1 || after.Rows != before.Rows-int64(wantDropped) || rep.RowsDropped != int64(wantDropped) {
		t.Fatalf("ES_1min: version %d->%d rows %d->%d, report dropped %d; want %d dropped", before.Version, after.Version, before.Rows, after.Rows, rep.RowsDropped, wantDropped)
	}
	if rep.PartitionsRemoved != len(days) {
		t.Errorf("partitions_removed %d, want %d whole days %v", rep.PartitionsRemoved, len(days), days)
	}
	got := views(t, st, "ES_1min", 0)
	for i, ts := range stamps {
		line := strings.SplitN(rowsIn[i], ",", 2)[0]
		if has := strings.Contains(got, line); has == ts.Truncate(time.Second).Before(cutoff) {
			t.Errorf("row %s present=%v after dropping rows before %s", line, has, cutoff)
		}
	}
	if l, _ := st.Log("ES_1min"); l[0].Source != SourceRetention {
		t.Errorf("source of the retention version: %q", l[0].Source)
	}
	if views(t, st, "ES_1min", before.Version) != fullRows {
		t.Error("the version before row retention lost rows")
	}
	// Version retention removed files; a second run finds nothing more.
	if rep.FilesDeleted == 0 || rep.SpaceFreedBytes == 0 {
		t.Errorf("nothing deleted from disk: %+v", rep)
	}
	again, err := st.Cleanup(ctx, CleanupOptions{Grace: time.Nanosecond})
	if err != nil || again.VersionsRemoved != 0 || again.RowsDropped != 0 || again.FilesDeleted != 0 {
		t.Errorf("second cleanup: %+v, %v", again, err)
	}
	if _, err := st.PinVersion("yahoo/AAPL", 1); err == nil || !strings.Contains(err.Error(), "oldest version kept is 4") {
		t.Errorf("export of a version retention removed: %v", err)
	}
	doc, err := st.MetadataDoc(DocCleanup)
	if err != nil || !strings.Contains(string(doc), `"versions_removed": 0`) {
		t.Errorf("cleanup.json: %s %v", doc, err)
	}
	checkAllVersions(t, st)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "+"+k)
		}
	}
	sort.Strings(out)
	return out
}

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{{"*", "yahoo/AAPL", true}, {"yahoo/*", "yahoo/AAPL", true}, {"yahoo/*", "yahoo", false}, {"ES_?min", "ES_1min", true},
		{"ES_[0-9]min", "ES_xmin", false}, {"ES_[!x]min", "ES_1min", true}, {"a.b", "axb", false}, {"*_1min", "cme/ES_1min", true}} {
		if got, err := MatchPattern(c.pattern, c.name); err != nil || got != c.want {
			t.Errorf("%q ~ %q = %v, %v", c.pattern, c.name, got, err)
		}
	}
}
