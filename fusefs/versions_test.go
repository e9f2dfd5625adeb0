package fusefs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"bcfs/metastore"
	"bcfs/metastore/faultfs"
	"bcfs/store"
)

// TestVersionsFolder ingests several versions (one through the mount), and
// checks that every .versions/NAME/N.csv|.parquet equals the export taken
// when N was the head and export --version N, with exact sizes; that @TIME
// names resolve but are not listed; that a new commit shows at once; and
// that nothing there can be changed.
func TestVersionsFolder(t *testing.T) {
	type shot map[store.View][]byte
	var heads []shot
	var times []time.Time
	take := func(st *store.Store, name string) {
		heads = append(heads, shot{store.ViewCSV: snapshotBytes(t, st, name, store.ViewCSV), store.ViewParquet: snapshotBytes(t, st, name, store.ViewParquet)})
		e, _ := st.Stat(name)
		times = append(times, e.Committed)
	}
	t0 := time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC)
	m := mount(t, Options{}, func(st *store.Store) {
		dir := t.TempDir()
		ingestFile(t, st, "yahoo/ES", writeFile(t, dir, "a.csv", genBars(t0, 500, "ES", "yahoo")))
		take(st, "yahoo/ES")
		time.Sleep(10 * time.Millisecond)
		ingestFile(t, st, "yahoo/ES", writeFile(t, dir, "b.csv", genBars(t0.Add(400*time.Minute), 300, "ES", "ibkr")))
		take(st, "yahoo/ES")
		ingestFile(t, st, "yahoo", writeFile(t, dir, "y.csv", genBars(t0, 10, "Y", "yahoo")))
	})
	time.Sleep(10 * time.Millisecond)
	// A third version through the mount itself.
	if err := os.WriteFile(filepath.Join(m.mnt, "yahoo/ES.csv"), []byte(genBars(t0.Add(2000*time.Minute), 100, "ES", "ibkr")), 0o644); err != nil {
		t.Fatal(err)
	}
	take(m.st, "yahoo/ES")

	root, err := readDirNames(m.mnt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(root, ".versions") {
		t.Errorf("root listing %q lacks .versions (ls -a shows it)", root)
	}
	if l, _ := m.st.List(); len(l) != 2 {
		t.Errorf("datasets %v: .versions must not be one", l)
	}
	top, err := readDirNames(filepath.Join(m.mnt, ".versions"))
	if err != nil || !slices.Equal(top, []string{"yahoo"}) {
		t.Fatalf(".versions lists %q, %v", top, err)
	}
	vdir := filepath.Join(m.mnt, ".versions/yahoo/ES")
	names, err := readDirNames(vdir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.csv", "1.parquet", "2.csv", "2.parquet", "3.csv", "3.parquet", "log.json"}
	if !slices.Equal(names, want) {
		t.Fatalf(".versions/yahoo/ES lists %q, want %q", names, want)
	}
	if names, _ := readDirNames(filepath.Join(m.mnt, ".versions/yahoo")); !slices.Equal(names, []string{"1.csv", "1.parquet", "ES", "log.json"}) {
		t.Errorf(".versions/yahoo lists %q", names)
	}
	for i, h := range heads {
		for _, v := range []store.View{store.ViewCSV, store.ViewParquet} {
			p := filepath.Join(vdir, fmt.Sprintf("%d%s", i+1, v.Ext()))
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != int64(len(h[v])) || !bytes.Equal(got, h[v]) {
				t.Errorf("%s: %d bytes (stat %d), want the %d bytes of the head when it was committed", p, len(got), fi.Size(), len(h[v]))
			}
			sn, err := m.st.PinVersion("yahoo/ES", int64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			var exp bytes.Buffer
			if _, err := sn.WriteTo(v, &exp); err != nil {
				t.Fatal(err)
			}
			sn.Release()
			if !bytes.Equal(exp.Bytes(), got) {
				t.Errorf("%s differs from export --version %d", p, i+1)
			}
		}
	}
	// @TIME resolves to the newest version at or before it.
	at := filepath.Join(vdir, "@"+times[1].Add(time.Millisecond).Format(time.RFC3339Nano)+".csv")
	if got, err := os.ReadFile(at); err != nil || !bytes.Equal(got, heads[1][store.ViewCSV]) {
		t.Errorf("%s: %d bytes, %v; want version 2", at, len(got), err)
	}
	if got, err := os.ReadFile(filepath.Join(vdir, "@"+time.Now().UTC().Format(time.DateOnly)+".parquet")); err != nil || !bytes.Equal(got, heads[2][store.ViewParquet]) {
		t.Errorf("@today.parquet: %d bytes, %v; want version 3", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(vdir, "@2001-01-01.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("@2001-01-01.csv: %v, want ENOENT (before the first commit)", err)
	}
	var log []struct {
		Version int64  `json:"version"`
		Source  string `json:"source"`
		Rows    int64  `json:"rows"`
	}
	if b, err := os.ReadFile(filepath.Join(vdir, "log.json")); err != nil || json.Unmarshal(b, &log) != nil || len(log) != 3 || log[0].Version != 3 || log[0].Source != "ES.csv" || log[2].Source != "a.csv" {
		t.Errorf("log.json: %+v, %v", log, err)
	}
	// A new commit through the same mount shows at once.
	if err := os.WriteFile(filepath.Join(m.mnt, "yahoo/ES.csv"), []byte(genBars(t0.Add(5000*time.Minute), 10, "ES", "ibkr")), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(vdir, "4.csv")); err != nil || !bytes.Equal(got, snapshotBytes(t, m.st, "yahoo/ES", store.ViewCSV)) {
		t.Errorf("4.csv right after the commit: %d bytes, %v", len(got), err)
	}
	if names, _ := readDirNames(vdir); !slices.Contains(names, "4.parquet") {
		t.Errorf("listing after the commit: %q", names)
	}
	// Read-only: writes, truncation, deletes, renames, mkdir.
	p1 := filepath.Join(vdir, "1.csv")
	if _, err := os.OpenFile(p1, os.O_WRONLY, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("open for write: %v, want EROFS", err)
	}
	for what, err := range map[string]error{
		"create":           os.WriteFile(filepath.Join(vdir, "9.csv"), []byte("x"), 0o644),
		"truncate":         os.Truncate(p1, 0),
		"unlink":           os.Remove(p1),
		"rename out":       os.Rename(p1, filepath.Join(m.mnt, "x.csv")),
		"rename in":        os.Rename(filepath.Join(m.mnt, "yahoo/ES.csv"), filepath.Join(vdir, "9.csv")),
		"mkdir":            os.Mkdir(filepath.Join(vdir, "d"), 0o755),
		"rename .versions": os.Rename(filepath.Join(m.mnt, ".versions"), filepath.Join(m.mnt, "v")),
	} {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	// A real client: cp -a of the whole folder gets every version.
	out := t.TempDir()
	if b, err := exec.Command("cp", "-a", vdir, out).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, b)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "ES", "2.parquet")); !bytes.Equal(got, heads[1][store.ViewParquet]) {
		t.Errorf("cp -a copy of 2.parquet differs")
	}
	if rows(t, m.st, "yahoo/ES") == 0 {
		t.Error("dataset lost rows")
	}
}

// TestOpenViewsSurviveCleanup opens a view and an old version through the
// mount, then another Store on the same folder (as another process would)
// drops that version and the old rows and removes their files at once. Both
// open files read to the end with the bytes they had.
func TestOpenViewsSurviveCleanup(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Minute)
	m := mount(t, Options{}, func(st *store.Store) {
		dir := t.TempDir()
		for i := 0; i < 3; i++ {
			ingestFile(t, st, "ES", writeFile(t, dir, fmt.Sprintf("%d.csv", i), genBars(now.Add(-time.Duration(10-i)*24*time.Hour), 2000, "ES", "ibkr")))
		}
	})
	wantOld := snapshotBytes(t, m.st, "ES", store.ViewCSV)
	sn, err := m.st.PinVersion("ES", 1)
	if err != nil {
		t.Fatal(err)
	}
	var v1 bytes.Buffer
	if _, err := sn.WriteTo(store.ViewParquet, &v1); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	head, err := os.Open(filepath.Join(m.mnt, "ES.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer head.Close()
	old, err := os.Open(filepath.Join(m.mnt, ".versions/ES/1.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	first := make([]byte, 10)
	if _, err := head.Read(first); err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(m.st.Dir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.AddPolicy(metastore.RetentionPolicy{Pattern: "*", KeepVersions: 1, DropRowsOlderThan: "9d"}); err != nil {
		t.Fatal(err)
	}
	rep, err := other.Cleanup(context.Background(), store.CleanupOptions{Grace: time.Nanosecond})
	other.Close()
	if err != nil || rep.VersionsRemoved != 3 || rep.RowsDropped == 0 || rep.FilesDeleted == 0 {
		t.Fatalf("cleanup: %+v, %v", rep, err)
	}
	rest, err := io.ReadAll(head)
	if err != nil {
		t.Fatalf("reading the open view after cleanup: %v", err)
	}
	if got := append(first, rest...); !bytes.Equal(got, wantOld) {
		t.Errorf("open ES.csv read %d bytes after cleanup, want the %d it had", len(got), len(wantOld))
	}
	if got, err := io.ReadAll(old); err != nil || !bytes.Equal(got, v1.Bytes()) {
		t.Errorf("open .versions/ES/1.parquet after its version was removed: %d bytes, %v", len(got), err)
	}
	// New opens see the new state.
	if names, _ := readDirNames(filepath.Join(m.mnt, ".versions/ES")); !slices.Equal(names, []string{"4.csv", "4.parquet", "log.json"}) {
		t.Errorf(".versions/ES after cleanup lists %q", names)
	}
	eventually(t, func() error {
		b, err := os.ReadFile(filepath.Join(m.mnt, "ES.csv"))
		if err != nil || bytes.Equal(b, wantOld) {
			return fmt.Errorf("ES.csv still the old version (%v)", err)
		}
		return nil
	})
}

// TestVersionsListingOpensNoManifest lists .versions/ES with 40 versions
// (readdir, as ls does; the kernel may ask READDIRPLUS) and counts the
// store's file opens: none. Stat'ing the names then reads manifests.
func TestVersionsListingOpensNoManifest(t *testing.T) {
	needFuse(t)
	root := t.TempDir()
	ffs := faultfs.New(metastore.OS)
	st, err := store.Open(filepath.Join(root, "store"), store.Options{FS: ffs, CacheBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	t0 := time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC)
	const n = 40
	for i := 0; i < n; i++ {
		ingestFile(t, st, "ES", writeFile(t, dir, fmt.Sprintf("%d.csv", i), genBars(t0.Add(time.Duration(i)*time.Hour), 3, "ES", "ibkr")))
	}
	fsys, err := NewFS(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(root, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := fsys.Mount(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = srv.Unmount()
		fsys.Close()
	}()
	vdir := filepath.Join(mnt, ".versions", "ES")
	if _, err := os.Stat(vdir); err != nil {
		t.Fatal(err)
	}
	ffs.Reset()
	for round := 0; round < 2; round++ {
		names, err := readDirNames(vdir)
		if err != nil || len(names) != 2*n+1 {
			t.Fatalf("listing: %d names, %v", len(names), err)
		}
	}
	if opens := ffs.Count(faultfs.OpOpen); opens != 0 {
		t.Errorf("listing .versions/ES opened %d files, want none", opens)
	}
	if lists := ffs.Count(faultfs.OpList); lists > 20 {
		t.Errorf("listing twice made %d list/stat calls", lists)
	}
	if out, err := exec.Command("ls", "-l", vdir).CombinedOutput(); err != nil || strings.Count(string(out), ".parquet") != n {
		t.Fatalf("ls -l: %v %s", err, out)
	}
	if ffs.Count(faultfs.OpOpen) < n {
		t.Errorf("ls -l opened %d files; stat of %d versions should read their manifests (is the counter working?)", ffs.Count(faultfs.OpOpen), n)
	}
}
