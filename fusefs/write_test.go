package fusefs

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bcfs/store"
)

var day = time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC)

// TestWritePaths drives the ways a user writes a dataset through the mount
// and checks the resulting row counts.
func TestWritePaths(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 100, "ES", "ibkr")))
	})
	src := t.TempDir()
	sh := func(script string) error {
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		if err != nil {
			return errors.New(string(out) + err.Error())
		}
		return nil
	}
	cases := []struct {
		name     string
		run      func(t *testing.T) error
		dataset  string
		wantRows int64
	}{
		{"cp new dataset into folder", func(t *testing.T) error {
			if err := os.Mkdir(filepath.Join(m.mnt, "cme"), 0o755); err != nil {
				return err
			}
			p := writeFile(t, src, "NQ.csv", genBars(day, 50, "NQ", "ibkr"))
			return sh("cp " + p + " " + m.mnt + "/cme/")
		}, "cme/NQ", 50},
		{"cp merges into existing", func(t *testing.T) error {
			p := writeFile(t, src, "ES2.csv", genBars(day.Add(50*time.Minute), 100, "ES", "ibkr"))
			return sh("cp " + p + " " + m.mnt + "/ES.csv")
		}, "ES", 150},
		{"redirect > merges, never truncates the dataset", func(t *testing.T) error {
			p := writeFile(t, src, "ES3.csv", genBars(day.Add(24*time.Hour), 10, "ES", "ibkr"))
			return sh("cat " + p + " > " + m.mnt + "/ES.csv")
		}, "ES", 160},
		{"append headerless rows with >>", func(t *testing.T) error {
			p := writeFile(t, src, "rows.csv", genRows(day.Add(48*time.Hour), 7, "ES", "ibkr"))
			return sh("cat " + p + " >> " + m.mnt + "/ES.csv")
		}, "ES", 167},
		{"open for write without writes changes nothing", func(t *testing.T) error {
			f, err := os.OpenFile(filepath.Join(m.mnt, "ES.csv"), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				return err
			}
			return f.Close()
		}, "ES", 167},
		{"parquet written into a new name", func(t *testing.T) error {
			b := snapshotBytes(t, m.st, "ES", store.ViewParquet)
			return os.WriteFile(filepath.Join(m.mnt, "ES_copy.parquet"), b, 0o644)
		}, "ES_copy", 167},
		{"truncate of a write handle resets the spool", func(t *testing.T) error {
			f, err := os.OpenFile(filepath.Join(m.mnt, "ES.csv"), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.WriteString("garbage that would not parse\n"); err != nil {
				return err
			}
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.WriteAt([]byte(genBars(day.Add(72*time.Hour), 3, "ES", "ibkr")), 0); err != nil {
				return err
			}
			return f.Close()
		}, "ES", 170},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(t); err != nil {
				t.Fatal(err)
			}
			if got := rows(t, m.st, tc.dataset); got != tc.wantRows {
				t.Fatalf("%s has %d rows, want %d", tc.dataset, got, tc.wantRows)
			}
			v := store.ViewCSV
			if strings.HasSuffix(tc.name, "parquet written into a new name") {
				v = store.ViewParquet
			}
			// The writer's own next stat sees the new version at once.
			e, _ := m.st.Stat(tc.dataset)
			fi, err := os.Stat(filepath.Join(m.mnt, tc.dataset+v.Ext()))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != e.Size(v) {
				t.Fatalf("stat after write: size %d, store says %d", fi.Size(), e.Size(v))
			}
		})
	}
}

// TestBadCopy: a rejected file makes cp fail and leaves the dataset as it
// was; the reason is in .metadata.
func TestBadCopy(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 100, "ES", "ibkr")))
	})
	cases := []struct{ name, content string }{
		{"high below low", "timestamp,open,high,low,close,volume\n2024-02-01 00:00:00,10,5,9,10,1\n"},
		{"unparsable timestamp", "timestamp,open,high,low,close,volume\nnot-a-time,10,11,9,10,1\n"},
		{"missing close column", "timestamp,open,high,low,volume\n2024-02-01 00:00:00,10,11,9,1\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshotBytes(t, m.st, "ES", store.ViewCSV)
			e0, _ := m.st.Stat("ES")
			p := writeFile(t, t.TempDir(), "bad.csv", tc.content)
			out, err := exec.Command("cp", p, filepath.Join(m.mnt, "ES.csv")).CombinedOutput()
			if err == nil {
				t.Fatalf("cp of a bad file succeeded: %s", out)
			}
			if !strings.Contains(string(out), "Invalid argument") {
				t.Errorf("cp said %q, want EINVAL", out)
			}
			e1, _ := m.st.Stat("ES")
			if e1.Version != e0.Version {
				t.Fatalf("version moved %d -> %d", e0.Version, e1.Version)
			}
			after, err := os.ReadFile(filepath.Join(m.mnt, "ES.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Fatal("bytes changed after a rejected write")
			}
			doc, err := os.ReadFile(filepath.Join(m.mnt, ".metadata", "ES.json"))
			if err != nil {
				t.Fatal(err)
			}
			var meta struct {
				LastError any `json:"last_error"`
			}
			if err := json.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("metadata: %v", err)
			}
			if meta.LastError == nil {
				t.Fatalf("last_error empty after rejected write: %s", doc)
			}
			t.Logf("last_error: %v", meta.LastError)
		})
	}
}

// TestConcurrentWriters: two writers through the mount and an ingest from a
// second Store on the same folder (as the CLI does) all land.
func TestConcurrentWriters(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 10, "ES", "ibkr")))
	})
	src := t.TempDir()
	const n = 3000
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 2; i++ {
		p := writeFile(t, src, "w"+itoa(i)+".csv", genBars(day.Add(time.Duration(i+1)*7*24*time.Hour), n, "ES", "ibkr"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := exec.Command("cp", p, filepath.Join(m.mnt, "ES.csv")).CombinedOutput(); err != nil {
				errs <- errors.New(string(out) + err.Error())
			}
		}()
	}
	cli := openTestStore(t, m.st.Dir(), m.logs)
	defer cli.Close()
	p := writeFile(t, src, "cli.csv", genBars(day.Add(21*24*time.Hour), n, "ES", "ibkr"))
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := cli.Ingest(t.Context(), "ES", p, store.IngestOptions{Source: "cli.csv"}); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := rows(t, m.st, "ES"), int64(10+3*n); got != want {
		t.Fatalf("ES has %d rows, want %d", got, want)
	}
	// The CLI's commit shows through the mount within the cache timeout.
	eventually(t, func() error {
		e, _ := m.st.Stat("ES")
		fi, err := os.Stat(filepath.Join(m.mnt, "ES.csv"))
		if err != nil {
			return err
		}
		if fi.Size() != e.CSVSize {
			return errors.New("mount still shows an old size")
		}
		return nil
	})
}

// TestNamespace covers rm, mv, mkdir, rmdir and refused names.
func TestNamespace(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		dir := t.TempDir()
		ingestFile(t, st, "A", writeFile(t, dir, "A.csv", genBars(day, 10, "A", "ibkr")))
		ingestFile(t, st, "B", writeFile(t, dir, "B.csv", genBars(day, 10, "B", "ibkr")))
	})
	p := func(s string) string { return filepath.Join(m.mnt, s) }
	cases := []struct {
		name    string
		op      func() error
		wantErr error
		check   func() error
	}{
		{"mkdir folder", func() error { return os.Mkdir(p("x"), 0o755) }, nil,
			func() error { return statIsDir(p("x")) }},
		{"mkdir existing", func() error { return os.Mkdir(p("x"), 0o755) }, syscall.EEXIST, nil},
		{"mkdir reserved name", func() error { return os.Mkdir(p("a=b"), 0o755) }, syscall.EINVAL, nil},
		{"mv dataset into folder", func() error { return os.Rename(p("A.csv"), p("x/A2.csv")) }, nil,
			func() error { return statNot(p("A.parquet"), p("x/A2.parquet")) }},
		{"mv across views renames", func() error { return os.Rename(p("B.csv"), p("C.parquet")) }, nil,
			func() error { return statNot(p("B.csv"), p("C.csv")) }},
		{"mv dataset onto a scratch name keeps a copy", func() error { return os.Rename(p("C.csv"), p("C.csv~")) }, nil,
			func() error { return statNot(p("C.parquet"), p("C.csv~")) }},
		{"mv scratch copy back merges", func() error { return os.Rename(p("C.csv~"), p("B.csv")) }, nil,
			func() error { return statNot(p("C.csv~"), p("B.parquet")) }},
		{"mv onto existing dataset merges", func() error { return os.Rename(p("B.csv"), p("x/A2.csv")) }, nil,
			func() error { return statNot(p("B.csv"), p("x/A2.parquet")) }},
		{"rmdir non-empty", func() error { return os.Remove(p("x")) }, syscall.ENOTEMPTY, nil},
		{"rm dataset via parquet", func() error { return os.Remove(p("x/A2.parquet")) }, nil,
			func() error {
				// The sibling name may stay cached for the entry timeout.
				eventually(t, func() error { return statNot(p("x/A2.csv"), p("x")) })
				return nil
			}},
		{"rmdir empty", func() error { return os.Remove(p("x")) }, nil,
			func() error { return statNot(p("x"), p(".trash")) }},
		{"rm missing", func() error { return os.Remove(p("nope.csv")) }, syscall.ENOENT, nil},
		{"metadata is read-only", func() error { return os.WriteFile(p(".metadata/index.json"), nil, 0o644) }, syscall.EACCES, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if tc.check != nil {
				if err := tc.check(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func statIsDir(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New(p + " is not a folder")
	}
	return nil
}

// statNot checks that gone does not exist and present does.
// statNot checks from another process: the process that removed a view
// may still unlink the dataset's other view for a moment (store.Namespace.Gone).
func statNot(gone, present string) error {
	if exec.Command("test", "-e", gone).Run() == nil {
		return errors.New(gone + " still there")
	}
	_, err := os.Stat(present)
	return err
}

// TestReadOnly: every write fails with EROFS, reads work.
func TestReadOnly(t *testing.T) {
	m := mount(t, Options{ReadOnly: true}, func(st *store.Store) {
		ingestFile(t, st, "A", writeFile(t, t.TempDir(), "A.csv", genBars(day, 10, "A", "ibkr")))
	})
	p := func(s string) string { return filepath.Join(m.mnt, s) }
	cases := []struct {
		name string
		op   func() error
	}{
		{"create", func() error { return os.WriteFile(p("N.csv"), []byte("x"), 0o644) }},
		{"write existing", func() error { return os.WriteFile(p("A.csv"), []byte("x"), 0o644) }},
		{"scratch", func() error { return os.WriteFile(p("x.tmp"), []byte("x"), 0o644) }},
		{"rm", func() error { return os.Remove(p("A.csv")) }},
		{"mv", func() error { return os.Rename(p("A.csv"), p("B.csv")) }},
		{"mkdir", func() error { return os.Mkdir(p("d"), 0o755) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, syscall.EROFS) {
				t.Fatalf("got %v, want EROFS", err)
			}
		})
	}
	if b, err := os.ReadFile(p("A.csv")); err != nil || len(b) == 0 {
		t.Fatalf("read: %d bytes, %v", len(b), err)
	}
}

// TestDrain: after Drain, writes are refused with EROFS and reads still work.
func TestDrain(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 10, "ES", "ibkr")))
	})
	// A handle opened before the drain: its flush must be refused too.
	f, err := os.OpenFile(filepath.Join(m.mnt, "ES.csv"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(genBars(day.Add(time.Hour), 5, "ES", "ibkr")); err != nil {
		t.Fatal(err)
	}
	if err := m.fsys.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("close after drain: %v, want EROFS", err)
	}
	if err := os.WriteFile(filepath.Join(m.mnt, "N.csv"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("create after drain: %v, want EROFS", err)
	}
	if got := rows(t, m.st, "ES"); got != 10 {
		t.Fatalf("rows %d, want 10", got)
	}
	if _, err := os.ReadFile(filepath.Join(m.mnt, "ES.csv")); err != nil {
		t.Fatalf("read after drain: %v", err)
	}
}
