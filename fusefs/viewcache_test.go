package fusefs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/cache"
	"bcfs/store"
)

// cachedMount mounts a store holding the given datasets of rows one-minute
// bars each, with a view cache bounded to bound bytes that takes views of
// any size.
func cachedMount(t *testing.T, bound int64, noPassthrough bool, datasets map[string]int) (*mounted, *cache.Views) {
	t.Helper()
	vc, err := cache.OpenViews(filepath.Join(t.TempDir(), "views"), bound)
	if err != nil {
		t.Fatal(err)
	}
	m := mount(t, Options{ViewCache: vc, NoPassthrough: noPassthrough}, func(st *store.Store) {
		dir := t.TempDir()
		for name, rows := range datasets {
			p := writeFile(t, dir, strings.ReplaceAll(name, "/", "_")+".csv", genBars(time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC), rows, "ES", "ibkr"))
			ingestFile(t, st, name, p)
		}
	})
	if os.Geteuid() == 0 && !noPassthrough && !m.fsys.ViewServing().Passthrough {
		// Linux >= 6.9 as root takes backing files; this machine's does.
		t.Fatalf("passthrough refused by the kernel as root; logs:\n%s", m.logs)
	}
	return m, vc
}

// waitFills waits until the view cache has made n fills in all.
func waitFills(t *testing.T, vc *cache.Views, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for vc.Stats().Fills < n {
		if time.Now().After(deadline) {
			t.Fatalf("view cache: %d fills after 30s, want %d (%+v)", vc.Stats().Fills, n, vc.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOpen waits until the mount has n views open for reading: the kernel
// tells a mount that a file was closed after close(2) returned.
func waitOpen(t *testing.T, m *mounted, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for m.fsys.ViewServing().OpenReads != n {
		if time.Now().After(deadline) {
			t.Fatalf("views still open: %+v", m.fsys.ViewServing())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cachedFiles lists the view files in the cache folder.
func cachedFiles(t *testing.T, vc *cache.Views) []string {
	t.Helper()
	ents, err := os.ReadDir(vc.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".view") {
			out = append(out, filepath.Join(vc.Dir(), e.Name()))
		}
	}
	return out
}

func readView(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestViewCacheHitServesSameBytes reads both views of a dataset twice: the
// first open renders (and fills the cache), the second is served from the
// cache file by passthrough, byte for byte what rendering gives.
func TestViewCacheHitServesSameBytes(t *testing.T) {
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": 20000})
	for i, v := range []store.View{store.ViewCSV, store.ViewParquet} {
		p := filepath.Join(m.mnt, "ES_1min"+v.Ext())
		want := snapshotBytes(t, m.st, "ES_1min", v)
		fromFill := m.fsys.ViewServing().FillReads
		if got := readView(t, p); !bytes.Equal(got, want) {
			t.Fatalf("%s miss: %d bytes differ from the snapshot's %d", v.Ext(), len(got), len(want))
		}
		// The miss read what the fill it started wrote, not a second
		// rendering.
		if m.fsys.ViewServing().FillReads == fromFill {
			t.Errorf("%s miss: no read served from the fill: %+v", v.Ext(), m.fsys.ViewServing())
		}
		waitFills(t, vc, int64(i+1))
		waitOpen(t, m, 0) // else the open shares the inode with the miss's handle
		before := m.fsys.ViewServing()
		if got := readView(t, p); !bytes.Equal(got, want) {
			t.Fatalf("%s hit: %d bytes differ from the snapshot's %d", v.Ext(), len(got), len(want))
		}
		after := m.fsys.ViewServing()
		if after.RenderedOpens != before.RenderedOpens {
			t.Errorf("%s: the open after the fill rendered (%+v)", v.Ext(), after)
		}
		if after.Passthrough {
			if after.PassthroughOpens != before.PassthroughOpens+1 || after.PassthroughReads != 0 {
				t.Errorf("%s: not served by passthrough: %+v", v.Ext(), after)
			}
		}
	}
	if s := vc.Stats(); s.Files != 2 || s.Hits != 2 {
		t.Fatalf("view cache %+v", s)
	}
	var doc struct {
		Hits      int64 `json:"hits"` // the chunk cache's
		ViewCache struct {
			Dir              string `json:"dir"`
			Files            int    `json:"files"`
			Hits             int64  `json:"hits"`
			Passthrough      bool   `json:"passthrough"`
			PassthroughOpens int64  `json:"passthrough_opens"`
		} `json:"view_cache"`
	}
	if err := json.Unmarshal(readView(t, filepath.Join(m.mnt, ".metadata", "cache.json")), &doc); err != nil {
		t.Fatal(err)
	}
	if v := doc.ViewCache; v.Dir != vc.Dir() || v.Files != 2 || v.Hits != 2 || v.Passthrough != m.fsys.ViewServing().Passthrough || (v.Passthrough && v.PassthroughOpens != 2) {
		t.Fatalf(".metadata/cache.json view_cache %+v", v)
	}
}

// TestViewCacheNewCommit: an open handle on a cached version keeps reading
// it while another process commits; a new open sees the new version, never
// the cached file of the old one.
func TestViewCacheNewCommit(t *testing.T) {
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": 20000})
	p := filepath.Join(m.mnt, "ES_1min.csv")
	old := readView(t, p)
	waitFills(t, vc, 1)
	f, err := os.Open(p) // a hit
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}

	// Another process commits (a store of its own on the same folder).
	other := openTestStore(t, m.st.Dir(), m.logs)
	defer other.Close()
	in := writeFile(t, t.TempDir(), "more.csv", genBars(time.Date(2025, 1, 2, 14, 30, 0, 0, time.UTC), 500, "ES", "ibkr"))
	ingestFile(t, other, "ES_1min", in)

	want := snapshotBytes(t, other, "ES_1min", store.ViewCSV)
	if bytes.Equal(want, old) {
		t.Fatal("the commit changed nothing")
	}
	if got := readView(t, p); !bytes.Equal(got, want) {
		t.Fatalf("open after the commit: %d bytes, want the new version's %d (old: %d)", len(got), len(want), len(old))
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, old) {
		t.Fatalf("handle opened before the commit read %d bytes, want the old version's %d", len(got), len(old))
	}
	// The new version is cached as a file of its own.
	waitFills(t, vc, 2)
	if got := readView(t, p); !bytes.Equal(got, want) {
		t.Fatal("cached new version differs")
	}
	if n := len(cachedFiles(t, vc)); n != 2 {
		t.Fatalf("%d cached files, want 2 (one per version)", n)
	}
}

// TestViewCacheEvictsToBound reads views of three datasets through a cache
// that holds two: the least recently used goes, the bound holds, and an
// open handle of the evicted view still reads it whole.
func TestViewCacheEvictsToBound(t *testing.T) {
	// Three views of one size (same rows), a cache that holds two.
	probe := openTestStore(t, t.TempDir(), io.Discard)
	ingestFile(t, probe, "A", writeFile(t, t.TempDir(), "A.csv", genBars(time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC), 10000, "ES", "ibkr")))
	e, err := probe.Stat("A")
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	bound := 2*e.CSVSize + e.CSVSize/2
	m, vc := cachedMount(t, bound, false, map[string]int{"A": 10000, "B": 10000, "C": 10000})

	wantA := snapshotBytes(t, m.st, "A", store.ViewCSV)
	readView(t, filepath.Join(m.mnt, "A.csv"))
	waitFills(t, vc, 1)
	fileA := cachedFiles(t, vc)
	if len(fileA) != 1 {
		t.Fatalf("cached files %q", fileA)
	}
	fa, err := os.Open(filepath.Join(m.mnt, "A.csv")) // a hit, kept open
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	readView(t, filepath.Join(m.mnt, "B.csv"))
	waitFills(t, vc, 2)
	time.Sleep(20 * time.Millisecond)
	readView(t, filepath.Join(m.mnt, "B.csv")) // B used after A
	readView(t, filepath.Join(m.mnt, "C.csv"))
	waitFills(t, vc, 3)

	s := vc.Stats()
	if s.UsedBytes > bound || s.Files != 2 || s.Evictions != 1 {
		t.Fatalf("view cache %+v, bound %d", s, bound)
	}
	if _, err := os.Stat(fileA[0]); err == nil {
		t.Errorf("A, the least recently used, was not the one evicted")
	}
	if got, err := io.ReadAll(fa); err != nil || !bytes.Equal(got, wantA) {
		t.Fatalf("handle of the evicted view: %d bytes, %v; want %d", len(got), err, len(wantA))
	}
	fa.Close()
	if got := readView(t, filepath.Join(m.mnt, "A.csv")); !bytes.Equal(got, wantA) {
		t.Fatal("A read after its eviction differs")
	}
}

// TestViewCacheDamagedNotServed truncates and corrupts the cached file: the
// next open renders the right bytes and the cache is rebuilt.
func TestViewCacheDamagedNotServed(t *testing.T) {
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": 20000})
	p := filepath.Join(m.mnt, "ES_1min.csv")
	want := readView(t, p)
	waitFills(t, vc, 1)
	damage := []func(string) error{
		func(c string) error { return os.Truncate(c, int64(len(want))/2) },
		func(c string) error {
			f, err := os.OpenFile(c, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("9999"), int64(len(want))/3)
			return err
		},
	}
	for i, d := range damage {
		files := cachedFiles(t, vc)
		if len(files) != 1 {
			t.Fatalf("cached files %q", files)
		}
		time.Sleep(20 * time.Millisecond)
		if err := d(files[0]); err != nil {
			t.Fatal(err)
		}
		if got := readView(t, p); !bytes.Equal(got, want) {
			t.Fatalf("damage %d: read %d bytes that differ from the view's %d", i, len(got), len(want))
		}
		waitFills(t, vc, int64(i+2))
		if got := readView(t, p); !bytes.Equal(got, want) {
			t.Fatalf("damage %d: rebuilt cache serves other bytes", i)
		}
	}
	if s := vc.Stats(); s.Damaged != 2 {
		t.Fatalf("view cache %+v", s)
	}
}

// TestViewCacheWithoutPassthrough serves hits by pread when passthrough is
// off.
func TestViewCacheWithoutPassthrough(t *testing.T) {
	m, vc := cachedMount(t, 1<<30, true, map[string]int{"ES_1min": 20000})
	for i, v := range []store.View{store.ViewCSV, store.ViewParquet} {
		p := filepath.Join(m.mnt, "ES_1min"+v.Ext())
		want := snapshotBytes(t, m.st, "ES_1min", v)
		readView(t, p)
		waitFills(t, vc, int64(i+1))
		if got := readView(t, p); !bytes.Equal(got, want) {
			t.Fatalf("%s: pread hit: %d bytes differ from the snapshot's %d", v.Ext(), len(got), len(want))
		}
	}
	if s := m.fsys.ViewServing(); s.Passthrough || s.PassthroughOpens != 0 || s.PreadOpens != 2 {
		t.Fatalf("serving %+v", s)
	}
}

// TestViewCacheWriteWhilePassthroughReader writes into a dataset whose view
// a passthrough reader holds open: the write merges, the reader keeps its
// version.
func TestViewCacheWriteWhilePassthroughReader(t *testing.T) {
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": 20000})
	p := filepath.Join(m.mnt, "ES_1min.csv")
	old := readView(t, p)
	waitFills(t, vc, 1)
	waitOpen(t, m, 0)
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s := m.fsys.ViewServing(); s.Passthrough && s.PassthroughOpens != 1 {
		t.Fatalf("the reader is not served by passthrough: %+v", s)
	}
	for i, flags := range []int{os.O_WRONLY | os.O_APPEND, os.O_WRONLY | os.O_TRUNC, os.O_RDWR | os.O_CREATE | os.O_TRUNC} {
		w, err := os.OpenFile(p, flags, 0o644)
		if err != nil {
			t.Fatalf("open for writing (flags %#x) while a passthrough reader is open: %v", flags, err)
		}
		rowsText := genRows(time.Date(2025, 3, 1+i, 0, 0, 0, 0, time.UTC), 10, "ES", "ibkr")
		if flags&os.O_APPEND == 0 {
			rowsText = "timestamp,open,high,low,close,volume,symbol,provider\n" + rowsText
		}
		if _, err := w.WriteString(rowsText); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("close of the write (flags %#x): %v", flags, err)
		}
		if got := rows(t, m.st, "ES_1min"); got != int64(20000+10*(i+1)) {
			t.Fatalf("rows after write %d: %d", i, got)
		}
		// A reader of the new version, so that the next writer finds one.
		readView(t, p)
		waitFills(t, vc, int64(i+2))
		waitOpen(t, m, int64(1+i)) // r and the r2 of each earlier round
		r2, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer r2.Close()
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("reader opened before the writes: %d bytes, %v; want the old %d", len(got), err, len(old))
	}
}

// TestViewCacheSharedByMounts: two mounts (two processes' worth of state)
// of one store share a view cache folder: what one filled, the other serves.
func TestViewCacheSharedByMounts(t *testing.T) {
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": 20000})
	want := readView(t, filepath.Join(m.mnt, "ES_1min.csv"))
	waitFills(t, vc, 1)

	vc2, err := cache.OpenViews(vc.Dir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	st2 := openTestStore(t, m.st.Dir(), m.logs)
	fsys2, err := NewFS(st2, Options{ViewCache: vc2, Logger: m.fsys.log})
	if err != nil {
		t.Fatal(err)
	}
	mnt2 := filepath.Join(t.TempDir(), "mnt2")
	if err := os.Mkdir(mnt2, 0o755); err != nil {
		t.Fatal(err)
	}
	srv2, err := fsys2.Mount(mnt2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv2.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		fsys2.Close()
		st2.Close()
	})
	if got := readView(t, filepath.Join(mnt2, "ES_1min.csv")); !bytes.Equal(got, want) {
		t.Fatalf("second mount: %d bytes, want %d", len(got), len(want))
	}
	if s := fsys2.ViewServing(); s.RenderedOpens != 0 || vc2.Stats().Hits != 1 {
		t.Fatalf("second mount rendered instead of using the shared cache: %+v, %+v", s, vc2.Stats())
	}
}

// TestViewCacheVersionsFiles: .versions/NAME/N.csv is the same view as
// NAME.csv at version N, so it is served from the same cached file; after a
// commit, N.csv still shows version N.
func TestViewCacheVersionsFiles(t *testing.T) {
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": 20000})
	want1 := readView(t, filepath.Join(m.mnt, "ES_1min.csv"))
	waitFills(t, vc, 1)
	in := writeFile(t, t.TempDir(), "more.csv", genBars(time.Date(2025, 1, 2, 14, 30, 0, 0, time.UTC), 500, "ES", "ibkr"))
	ingestFile(t, m.st, "ES_1min", in)
	waitOpen(t, m, 0)
	before := m.fsys.ViewServing()
	if got := readView(t, filepath.Join(m.mnt, ".versions", "ES_1min", "1.csv")); !bytes.Equal(got, want1) {
		t.Fatalf(".versions/ES_1min/1.csv: %d bytes, want version 1's %d", len(got), len(want1))
	}
	if s := m.fsys.ViewServing(); s.RenderedOpens != before.RenderedOpens || vc.Stats().Hits != 1 {
		t.Fatalf("1.csv not served from the cached view: %+v, %+v", s, vc.Stats())
	}
	want2 := snapshotBytes(t, m.st, "ES_1min", store.ViewCSV)
	if got := readView(t, filepath.Join(m.mnt, ".versions", "ES_1min", "2.csv")); !bytes.Equal(got, want2) {
		t.Fatalf(".versions/ES_1min/2.csv: %d bytes, want version 2's %d", len(got), len(want2))
	}
	waitFills(t, vc, 2)
	if got := readView(t, filepath.Join(m.mnt, "ES_1min.csv")); !bytes.Equal(got, want2) {
		t.Fatalf("ES_1min.csv after the commit: %d bytes, want %d", len(got), len(want2))
	}
}

// TestViewCacheRealWritersWhilePassthroughReader: real writers (cp over
// the view, cat >> the view, rsync --inplace) into a dataset whose CSV
// view another process holds open through passthrough (a shell's
// redirection, kept open by sleep): each write merges and the reader still
// reads the version it opened, whole.
func TestViewCacheRealWritersWhilePassthroughReader(t *testing.T) {
	needClient(t, "/usr/bin/rsync", "apt-get install rsync")
	m, vc := cachedMount(t, 1<<30, false, map[string]int{"ES_1min": 20000})
	p := filepath.Join(m.mnt, "ES_1min.csv")
	old := readView(t, p)
	waitFills(t, vc, 1)
	waitOpen(t, m, 0)
	// The reader: a process holding the view open on fd 3 until it is
	// told to copy it out.
	out := filepath.Join(t.TempDir(), "reader.csv")
	go1 := filepath.Join(t.TempDir(), "go")
	reader := exec.Command("sh", "-c", `exec 3<"$1"; while [ ! -e "$2" ]; do sleep 0.05; done; cat <&3 >"$3"`, "sh", p, go1, out)
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	defer reader.Process.Kill()
	waitOpen(t, m, 1)
	if s := m.fsys.ViewServing(); s.Passthrough && s.PassthroughOpens != 1 {
		t.Fatalf("the reader is not served by passthrough: %+v", s)
	}
	src := t.TempDir()
	writers := []struct {
		name string
		cmd  func(f string) *exec.Cmd
		head bool
	}{
		{"cp", func(f string) *exec.Cmd { return exec.Command("cp", f, p) }, true},
		{"cat >>", func(f string) *exec.Cmd { return exec.Command("sh", "-c", `cat "$1" >> "$2"`, "sh", f, p) }, false},
		{"rsync --inplace", func(f string) *exec.Cmd { return exec.Command("rsync", "--inplace", f, p) }, true},
	}
	for i, w := range writers {
		text := genRows(time.Date(2025, 3, 1+i, 0, 0, 0, 0, time.UTC), 10, "ES", "ibkr")
		if w.head {
			text = "timestamp,open,high,low,close,volume,symbol,provider\n" + text
		}
		f := filepath.Join(src, fmt.Sprintf("in%d.csv", i))
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := w.cmd(f).CombinedOutput(); err != nil {
			t.Fatalf("%s into the view while a passthrough reader holds it: %v\n%s", w.name, err, b)
		}
		if got := rows(t, m.st, "ES_1min"); got != int64(20000+10*(i+1)) {
			t.Fatalf("rows after %s: %d, want %d", w.name, got, 20000+10*(i+1))
		}
	}
	if err := os.WriteFile(go1, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := reader.Wait(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	if got := readView(t, out); !bytes.Equal(got, old) {
		t.Fatalf("the reader opened before the writes read %d bytes, want the old version's %d", len(got), len(old))
	}
	e, err := m.st.Stat("ES_1min")
	if err != nil {
		t.Fatal(err)
	}
	if got := readView(t, p); int64(len(got)) != e.Size(store.ViewCSV) || bytes.Equal(got, old) {
		t.Fatalf("a new open reads %d bytes, want the new version's %d", len(got), e.Size(store.ViewCSV))
	}
}
