package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestCLIMountViewCache runs `bcfs mount` with a view cache: the second open
// of a view is served from the cache (the same bytes as `bcfs export`), a
// `bcfs ingest` by another process makes the next open show the new version,
// and a new mount, with passthrough off, serves the cached file too.
func TestCLIMountViewCache(t *testing.T) {
	needMount(t)
	st := filepath.Join(t.TempDir(), "store")
	in := write(t, t.TempDir(), "ES.csv", barsCSV(time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC), 20000, "ES"))
	if _, errOut, code := bcfs(t, st, "ingest", in); code != 0 {
		t.Fatal(errOut)
	}
	views := filepath.Join(t.TempDir(), "views")
	cached := func() []string {
		files, _ := filepath.Glob(filepath.Join(views, "*.view"))
		return files
	}
	export := func() string {
		out, errOut, code := bcfs(t, st, "export", "ES")
		if code != 0 {
			t.Fatal(errOut)
		}
		return out
	}
	mountCached := func(extra ...string) string {
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		cleanupMount(t, mnt)
		args := append([]string{"mount", "--daemon", "--view-cache-dir", views, "--view-cache-min-mb", "0"}, extra...)
		if _, errOut, code := bcfs(t, st, append(args, mnt)...); code != 0 {
			t.Fatalf("mount: %s", errOut)
		}
		return mnt
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	mnt := mountCached()
	want := export()
	if got := read(filepath.Join(mnt, "ES.csv")); got != want {
		t.Fatalf("first read: %d bytes, want export's %d", len(got), len(want))
	}
	waitFor(t, 30*time.Second, "the view cached", func() bool { return len(cached()) == 1 })
	if got := read(filepath.Join(mnt, "ES.csv")); got != want {
		t.Fatalf("cached read: %d bytes, want export's %d", len(got), len(want))
	}

	more := write(t, t.TempDir(), "ES.csv", barsCSV(time.Date(2024, 6, 3, 9, 30, 0, 0, time.UTC), 300, "ES"))
	if _, errOut, code := bcfs(t, st, "ingest", "--dataset", "ES", more); code != 0 {
		t.Fatal(errOut)
	}
	want2 := export()
	if want2 == want {
		t.Fatal("the ingest changed nothing")
	}
	if got := read(filepath.Join(mnt, "ES.csv")); got != want2 {
		t.Fatalf("read after bcfs ingest: %d bytes, want the new version's %d (old: %d)", len(got), len(want2), len(want))
	}
	waitFor(t, 30*time.Second, "the new version cached", func() bool { return len(cached()) == 2 })

	// A hit sets the cached file's access time.
	atimes := func() map[string]int64 {
		m := map[string]int64{}
		for _, p := range cached() {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			m[p] = st.Atim.Nano()
		}
		return m
	}
	before := atimes()
	time.Sleep(10 * time.Millisecond)
	mnt2 := mountCached("--no-passthrough")
	if got := read(filepath.Join(mnt2, "ES.csv")); got != want2 {
		t.Fatalf("new mount, passthrough off: %d bytes, want %d", len(got), len(want2))
	}
	after := atimes()
	if len(after) != 2 {
		t.Fatalf("%d cached views, want 2", len(after))
	}
	hits := 0
	for p, at := range after {
		if at > before[p] {
			hits++
		}
	}
	if hits != 1 {
		t.Fatalf("the new mount's open used %d cached files, want 1 (atimes %v -> %v)", hits, before, after)
	}
}
