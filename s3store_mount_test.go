package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bcfs/backend/s3test"
)

// s3Mount is a `bcfs mount` process of a store on S3 with its own work and
// cache folders: a machine.
type s3Mount struct {
	dir   string
	cache string
	log   *testLog
}

// refreshEvery is the journal poll interval the tests mount with; a
// commit elsewhere shows within it plus the kernel's one-second name cache.
const refreshEvery = 500 * time.Millisecond

func mountS3(t *testing.T, store string, extra ...string) s3Mount {
	t.Helper()
	needMount(t)
	m := s3Mount{dir: t.TempDir(), cache: t.TempDir()}
	args := append([]string{"--work-dir", t.TempDir(), "--cache-dir", m.cache, "--refresh", refreshEvery.String()}, extra...)
	cmd, _, log := startMount(t, store, m.dir, args...)
	m.log = log
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	return m
}

// TestS3TwoMountsSeeEachOther: two mounts (two machines) and the CLI over
// one bucket. A cp into mount A reads back from mount B, after the stated
// bound, byte-identical to bcfs export; .metadata/refresh.json says when B
// last read the journal.
func TestS3TwoMountsSeeEachOther(t *testing.T) {
	s3test.Start(t, "desk")
	const store = "s3://desk/bars"
	c := newS3CLI(t, store)
	src := t.TempDir()
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	c.ok("ingest", "--dataset", "ES", write(t, src, "es.csv", barsCSV(t0, 500, "ES")))
	a := mountS3(t, store)
	b := mountS3(t, store)
	// Both read the first version.
	for _, m := range []s3Mount{a, b} {
		got, err := os.ReadFile(filepath.Join(m.dir, "ES.csv"))
		if err != nil || string(got) != c.ok("export", "ES") {
			t.Fatalf("mount %s: %v (%d bytes)", m.dir, err, len(got))
		}
	}
	bound := refreshEvery + time.Second + 500*time.Millisecond // the poll's own time
	// cp into A: a new version.
	more := write(t, src, "more.csv", barsCSV(t0.Add(500*time.Minute), 300, "ES"))
	if out, err := exec.Command("cp", more, filepath.Join(a.dir, "ES.csv")).CombinedOutput(); err != nil {
		t.Fatalf("cp into mount A: %v\n%s", err, out)
	}
	time.Sleep(bound)
	want := c.ok("export", "ES")
	if n := strings.Count(want, "\n"); n != 801 {
		t.Fatalf("export after cp: %d lines, want 801", n)
	}
	for _, name := range []string{"ES.csv", "ES.parquet"} {
		got, err := os.ReadFile(filepath.Join(b.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "ES.csv" && string(got) != want {
			t.Fatalf("mount B after %v: %d bytes, export has %d", bound, len(got), len(want))
		}
		exp := filepath.Join(t.TempDir(), name)
		c.ok("export", "ES", "--format", strings.TrimPrefix(filepath.Ext(name), "."), "-o", exp)
		if e, _ := os.ReadFile(exp); string(e) != string(got) {
			t.Fatalf("mount B %s differs from bcfs export (%d vs %d bytes)", name, len(got), len(e))
		}
	}
	// A dataset the CLI creates appears in both listings within the bound.
	c.ok("ingest", "--dataset", "yahoo/AAPL", write(t, src, "aapl.csv", barsCSV(t0, 20, "AAPL")))
	time.Sleep(bound)
	for _, m := range []s3Mount{a, b} {
		got, err := os.ReadFile(filepath.Join(m.dir, "yahoo", "AAPL.csv"))
		if err != nil || strings.Count(string(got), "\n") != 21 {
			t.Fatalf("mount %s: yahoo/AAPL.csv: %v, %d lines", m.dir, err, strings.Count(string(got), "\n"))
		}
	}
	// .metadata/refresh.json of B: the store, and a refresh within the bound.
	raw, err := os.ReadFile(filepath.Join(b.dir, ".metadata", "refresh.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Store       string    `json:"store"`
		RefreshedAt time.Time `json:"refreshed_at"`
		Visible     float64   `json:"visible_within_seconds"`
		DiskCache   struct {
			Dir  string `json:"dir"`
			Used int64  `json:"used_bytes"`
		} `json:"disk_cache"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if doc.Store != store || time.Since(doc.RefreshedAt) > bound || doc.Visible <= 0 || doc.DiskCache.Dir != b.cache || doc.DiskCache.Used <= 0 {
		t.Fatalf("refresh.json of mount B:\n%s", raw)
	}
	// B's partition reads went to its own cache folder.
	if ents, _ := os.ReadDir(b.cache); len(ents) == 0 {
		t.Fatal("mount B's cache folder is empty")
	}
	// rm in B moves the dataset to the trash (a copy, then a delete, on
	// S3); A stops showing it; trash restore brings it back byte-identical.
	aapl := c.ok("export", "yahoo/AAPL")
	if out, err := exec.Command("rm", filepath.Join(b.dir, "yahoo", "AAPL.csv")).CombinedOutput(); err != nil {
		t.Fatalf("rm: %v %s", err, out)
	}
	time.Sleep(bound)
	if _, err := os.Stat(filepath.Join(a.dir, "yahoo", "AAPL.csv")); !os.IsNotExist(err) {
		t.Fatalf("mount A still shows the deleted dataset: %v", err)
	}
	if out := c.ok("trash", "ls"); !strings.Contains(out, "yahoo/AAPL") {
		t.Fatalf("trash ls:\n%s", out)
	}
	c.ok("trash", "restore", "yahoo/AAPL")
	if got := c.ok("export", "yahoo/AAPL"); got != aapl {
		t.Fatal("the restored dataset differs")
	}
	c.ok("verify")
}

// TestS3TenWriters: ten writers (eight CLI processes and two mounts) commit
// 20 times each into one dataset, then 20 times each into a dataset of
// their own: no row is lost, versions are consecutive, verify passes, and
// every commit is in the journal.
func TestS3TenWriters(t *testing.T) {
	srv := s3test.Start(t, "desk")
	const store = "s3://desk/bars"
	const writers, commits, rowsPer = 10, 20, 3
	mounts := []s3Mount{mountS3(t, store), mountS3(t, store)}
	src := t.TempDir()
	t0 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	files := make([][]string, writers)
	for w := 0; w < writers; w++ {
		for j := 0; j < commits; j++ {
			ts := t0.Add(time.Duration((w*commits+j)*rowsPer) * time.Minute)
			files[w] = append(files[w], write(t, src, fmt.Sprintf("w%d-%d.csv", w, j), barsCSV(ts, rowsPer, "S")))
		}
	}
	run := func(target func(w int) string) {
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if m := w - (writers - len(mounts)); m >= 0 {
					for _, f := range files[w] {
						if out, err := exec.Command("cp", f, filepath.Join(mounts[m].dir, target(w)+".csv")).CombinedOutput(); err != nil {
							errs <- fmt.Errorf("writer %d (mount): cp: %v %s", w, err, out)
							return
						}
					}
					return
				}
				// One commit per file, as each mount's cp makes: the
				// writers contend for every version.
				c := newS3CLI(t, store)
				cmd := exec.Command(bcfsBin, append([]string{"--store", store, "--work-dir", c.work, "ingest", "--files-per-commit", "1", "--dataset", target(w)}, files[w]...)...)
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("writer %d (CLI): %v\n%s", w, err, out)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	check := func(c s3cli, name string, wantRows, wantVersions int) {
		t.Helper()
		if rows, v := statsOf(t, c, name); rows != int64(wantRows) || v != int64(wantVersions) {
			t.Fatalf("%s: %d rows version %d, want %d rows version %d", name, rows, v, wantRows, wantVersions)
		}
		var log []struct {
			Version int64 `json:"version"`
			Parent  int64 `json:"parent"`
		}
		if err := json.Unmarshal([]byte(c.ok("log", "--json", name)), &log); err != nil {
			t.Fatal(err)
		}
		if len(log) != wantVersions {
			t.Fatalf("%s: %d versions, want %d", name, len(log), wantVersions)
		}
		for i, e := range log {
			if e.Version != int64(wantVersions-i) || e.Parent != e.Version-1 {
				t.Fatalf("%s: log entry %d is version %d parent %d", name, i, e.Version, e.Parent)
			}
		}
	}
	// ONE exists before the writers start: cp opens a name it did not find
	// with O_EXCL, which fails on any filesystem when another writer
	// creates the name first.
	c := newS3CLI(t, store)
	c.ok("ingest", "--dataset", "ONE", write(t, src, "seed.csv", barsCSV(t0.AddDate(-1, 0, 0), 1, "S")))
	time.Sleep(refreshEvery + 1500*time.Millisecond)
	run(func(int) string { return "ONE" })
	check(c, "ONE", 1+writers*commits*rowsPer, 1+writers*commits)
	run(func(w int) string { return fmt.Sprintf("W%d", w) })
	for w := 0; w < writers; w++ {
		check(c, fmt.Sprintf("W%d", w), commits*rowsPer, commits)
	}
	c.ok("verify")
	if out := c.ok("ls"); strings.Count(out, "\n") != 1+1+writers {
		t.Fatalf("ls:\n%s", out)
	}
	// Every commit recorded itself in the store's journal.
	ents, err := os.ReadDir(filepath.Join(srv.Dir(), "desk", "bars", "_journal"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.Contains(e.Name(), "-commit-") {
			n++
		}
	}
	if n != 1+2*writers*commits {
		t.Fatalf("%d commit entries in _journal, want %d", n, 1+2*writers*commits)
	}
}

// TestS3PinnedVersionSurvivesCleanupElsewhere: a view open in a mount keeps
// reading its version after another machine's cleanup drops that version
// and collects its files; once the file is closed, the next cleanup
// removes them.
func TestS3PinnedVersionSurvivesCleanupElsewhere(t *testing.T) {
	srv := s3test.Start(t, "desk")
	const store = "s3://desk/bars"
	c := newS3CLI(t, store)
	src := t.TempDir()
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	c.ok("ingest", "--dataset", "ES", write(t, src, "v1.csv", barsCSV(t0, 2000, "ES")))
	v1 := c.ok("export", "ES")
	parts := func() []string {
		m, _ := filepath.Glob(filepath.Join(srv.Dir(), "desk", "bars", "datasets", "ES", "year=*", "*.parquet"))
		return m
	}
	old := parts()
	if len(old) != 1 {
		t.Fatalf("partition files %v, want one", old)
	}
	a := mountS3(t, store)
	f, err := os.Open(filepath.Join(a.dir, "ES.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	time.Sleep(3 * refreshEvery) // the mount publishes its pins
	// Another machine: a new version rewrites the partition, retention
	// keeps one version, cleanup with no grace period.
	c.ok("ingest", "--dataset", "ES", write(t, src, "v2.csv", barsCSV(t0.Add(2000*time.Minute), 10, "ES")))
	c.ok("policy", "add", "ES", "--keep-versions", "1")
	c.ok("cleanup", "--grace", "1ms")
	if out := c.ok("log", "ES"); strings.Contains(out, "\n1 ") {
		t.Fatalf("version 1 was not dropped:\n%s", out)
	}
	if _, err := os.Stat(old[0]); err != nil {
		t.Fatalf("cleanup elsewhere removed the partition file a mount reads: %v", err)
	}
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("reading the open view after cleanup elsewhere: %v", err)
	}
	if string(got) != v1 {
		t.Fatalf("the open view read %d bytes, version 1 has %d", len(got), len(v1))
	}
	f.Close()
	time.Sleep(3 * refreshEvery) // the mount withdraws its pins
	c.ok("cleanup", "--grace", "1ms")
	if _, err := os.Stat(old[0]); !os.IsNotExist(err) {
		t.Fatalf("the unpinned file of the dropped version is still there: %v", err)
	}
	c.ok("verify")
}
