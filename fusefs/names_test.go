package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"bcfs/store"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		dir, name string
		kind      store.Kind
		dataset   string
		view      store.View
	}{
		{"", "ES.csv", store.KindView, "ES", store.ViewCSV},
		{"yahoo", "AAPL.parquet", store.KindView, "yahoo/AAPL", store.ViewParquet},
		{"a/b", "x.y.csv", store.KindView, "a/b/x.y", store.ViewCSV},
		{"", ".~lock.ES.csv#", store.KindScratch, "", 0},
		{"", ".ES.csv.swp", store.KindScratch, "", 0},
		{"", "ES.csv~", store.KindScratch, "", 0},
		{"", "4913", store.KindScratch, "", 0},
		{"", "lu123.tmp", store.KindScratch, "", 0},
		{"", ".hidden.csv", store.KindScratch, "", 0},
		{"", ".csv", store.KindScratch, "", 0},
		{"", "a=b.csv", store.KindInvalid, "", 0},
		{"", "_x.parquet", store.KindInvalid, "", 0},
		{"", "back\\slash.csv", store.KindInvalid, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.dir+"/"+tc.name, func(t *testing.T) {
			n := store.ParseName(tc.dir, tc.name)
			kind, ds, v := n.Kind, n.Dataset, n.View
			if kind != tc.kind || ds != tc.dataset || v != tc.view {
				t.Fatalf("classify = %v %q %v, want %v %q %v", kind, ds, v, tc.kind, tc.dataset, tc.view)
			}
		})
	}
}

// FuzzClassify: never panics; a view name always maps back to itself.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"ES.csv", ".~lock.x#", "a/b.parquet", "", ".csv", "x.csv.csv", "..csv", "a\x00.csv"} {
		f.Add("", s)
		f.Add("yahoo", s)
	}
	f.Fuzz(func(t *testing.T, dir, name string) {
		n := store.ParseName(dir, name)
		ds, v := n.Dataset, n.View
		if n.Kind != store.KindView {
			return
		}
		if err := store.ValidName(ds); err != nil {
			t.Fatalf("view %q has invalid dataset %q: %v", name, ds, err)
		}
		if _, base := splitDataset(ds); !strings.Contains(name, "/") && base+v.Ext() != name {
			t.Fatalf("%q -> %q%s does not round-trip", name, ds, v.Ext())
		}
	})
}

func TestViewInoDistinct(t *testing.T) {
	seen := map[uint64]string{}
	for _, name := range []string{"ES", "ES2", "yahoo/ES"} {
		for version := int64(1); version <= 50; version++ {
			for _, v := range []store.View{store.ViewCSV, store.ViewParquet} {
				e := store.Entry{Name: name, Version: version}
				ino := viewIno(e, v)
				key := fmt.Sprint(name, version, v)
				if ino&inoFlag == 0 || ino == 1 {
					t.Fatalf("%s: ino %x lacks the hash flag", key, ino)
				}
				if prev, ok := seen[ino]; ok {
					t.Fatalf("%s and %s share ino %x", prev, key, ino)
				}
				seen[ino] = key
			}
		}
	}
}

func TestTranslateError(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"nil", nil, 0},
		{"bad input", fmt.Errorf("line 3: %w", store.ErrBadInput), syscall.EINVAL},
		{"not found", store.ErrNotFound, syscall.ENOENT},
		{"os not exist", &fs.PathError{Op: "open", Path: "x", Err: os.ErrNotExist}, syscall.ENOENT},
		{"exists", fmt.Errorf("b: %w", store.ErrExists), syscall.EEXIST},
		{"not empty", store.ErrNotEmpty, syscall.ENOTEMPTY},
		{"invalid name", store.ErrInvalidName, syscall.EINVAL},
		{"read-only", store.ErrReadOnly, syscall.EROFS},
		{"canceled", context.Canceled, syscall.EINTR},
		{"raw errno", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, syscall.ENOSPC},
		{"unexpected", errors.New("boom"), syscall.EIO},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := translateError(log, "op", "x", tc.err); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkReadCSVView measures sequential reads of a CSV view through the
// kernel (after the first pass the page cache serves it, as it would a real reader).
func BenchmarkReadCSVView(b *testing.B) {
	b.ReportAllocs()
	needFuseB(b)
	root := b.TempDir()
	st, err := store.Open(filepath.Join(root, "store"), store.Options{CacheBytes: 64 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	src := filepath.Join(root, "ES.csv")
	if err := os.WriteFile(src, []byte(genBars(day, 200000, "ES", "ibkr")), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Ingest(context.Background(), "ES", src, store.IngestOptions{}); err != nil {
		b.Fatal(err)
	}
	mnt := filepath.Join(root, "mnt")
	os.Mkdir(mnt, 0o755)
	srv, err := Mount(mnt, st, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Unmount()
	e, _ := st.Stat("ES")
	b.SetBytes(e.CSVSize)
	buf := make([]byte, 1<<20)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(filepath.Join(mnt, "ES.csv"))
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for {
			k, err := f.Read(buf)
			n += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
		if n != e.CSVSize {
			b.Fatalf("read %d of %d bytes", n, e.CSVSize)
		}
	}
}

func needFuseB(b *testing.B) {
	if _, err := os.Stat("/dev/fuse"); err != nil || os.Geteuid() != 0 {
		b.Skip("needs /dev/fuse and root")
	}
}
