package fusefs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"bcfs/formats/formatstest"
	"bcfs/store"
)

// TestViewsMatchSnapshot reads every view through the mount with read,
// pread and mmap and compares with the snapshot bytes (what export writes).
func TestViewsMatchSnapshot(t *testing.T) {
	data := formatstest.SharedData(t)
	inputs := []struct{ name, path string }{
		{"yahoo/CALM", filepath.Join(data, "yfinance/tests/data/CALM-1d-no-bad-divs.csv")},
		{"yhoo", filepath.Join(data, "backtrader/datas/yhoo-1996-2014.txt")},
		{"index/day001", filepath.Join(data, "backtrader/datas/2006-day-001.txt")},
	}
	m := mount(t, Options{}, func(st *store.Store) {
		for _, in := range inputs {
			ingestFile(t, st, in.name, in.path)
		}
		p := writeFile(t, t.TempDir(), "ES.csv", genBars(time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC), 3000, "ES", "ibkr"))
		ingestFile(t, st, "ES_1min", p)
	})

	names, err := readDirNames(m.mnt)
	if err != nil {
		t.Fatal(err)
	}
	wantRoot := []string{".metadata", ".trash", ".versions", "ES_1min.csv", "ES_1min.parquet", "index", "yahoo", "yhoo.csv", "yhoo.parquet"}
	if !slices.Equal(names, wantRoot) {
		t.Fatalf("root listing = %q, want %q", names, wantRoot)
	}

	for _, ds := range []string{"yahoo/CALM", "yhoo", "index/day001", "ES_1min"} {
		e, err := m.st.Stat(ds)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []store.View{store.ViewCSV, store.ViewParquet} {
			t.Run(ds+v.Ext(), func(t *testing.T) {
				p := filepath.Join(m.mnt, ds+v.Ext())
				want := snapshotBytes(t, m.st, ds, v)
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() != e.Size(v) || fi.Size() != int64(len(want)) {
					t.Fatalf("stat size %d, entry %d, bytes %d", fi.Size(), e.Size(v), len(want))
				}
				if !fi.ModTime().Equal(e.Committed.Truncate(time.Nanosecond)) && fi.ModTime().Unix() != e.Committed.Unix() {
					t.Errorf("mtime %v, committed %v", fi.ModTime(), e.Committed)
				}
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("read: %d bytes differ from snapshot's %d", len(got), len(want))
				}
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				size := int64(len(want))
				for _, off := range []int64{0, 1, size / 3, size / 2, size - 17, size - 1} {
					buf := make([]byte, 4096)
					n, err := f.ReadAt(buf, off)
					if err != nil && err != io.EOF {
						t.Fatalf("pread at %d: %v", off, err)
					}
					end := min(size, off+4096)
					if !bytes.Equal(buf[:n], want[off:end]) {
						t.Fatalf("pread at %d: got %d bytes, mismatch", off, n)
					}
				}
				if n, err := f.ReadAt(make([]byte, 10), size); n != 0 || err != io.EOF {
					t.Fatalf("pread at EOF: %d, %v", n, err)
				}
				mm, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
				if err != nil {
					t.Fatalf("mmap: %v", err)
				}
				defer syscall.Munmap(mm)
				if !bytes.Equal(mm, want) {
					t.Fatal("mmap bytes differ from snapshot")
				}
			})
		}
	}
}

func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// TestReaderKeepsVersion: a reader that opened a view before a commit reads
// the old bytes to the end; a new open sees the new version.
func TestReaderKeepsVersion(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 14, 30, 0, 0, time.UTC)
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "a.csv", genBars(t0, 5000, "ES", "ibkr")))
	})
	for _, v := range []store.View{store.ViewCSV, store.ViewParquet} {
		t.Run(v.Ext(), func(t *testing.T) {
			old := snapshotBytes(t, m.st, "ES", v)
			f, err := os.Open(filepath.Join(m.mnt, "ES"+v.Ext()))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			first := make([]byte, len(old)/2)
			if _, err := io.ReadFull(f, first); err != nil {
				t.Fatal(err)
			}
			// Commit more rows through the mount while f is open.
			more := genBars(t0.Add(24*time.Hour*time.Duration(1+v)), 1000, "ES", "ibkr")
			if err := os.WriteFile(filepath.Join(m.mnt, "ES.csv"), []byte(more), 0o644); err != nil {
				t.Fatalf("write: %v", err)
			}
			rest, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := append(first, rest...); !bytes.Equal(got, old) {
				t.Fatalf("old reader got %d bytes, want the %d old bytes", len(got), len(old))
			}
			now, err := os.ReadFile(filepath.Join(m.mnt, "ES"+v.Ext()))
			if err != nil {
				t.Fatal(err)
			}
			if want := snapshotBytes(t, m.st, "ES", v); !bytes.Equal(now, want) {
				t.Fatalf("new open read %d bytes, want %d of the new version", len(now), len(want))
			}
			if len(now) <= len(old) {
				t.Fatalf("new version not larger: %d <= %d", len(now), len(old))
			}
		})
	}
}
