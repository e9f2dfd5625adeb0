package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// content is a view's bytes for key k: distinct per key.
func content(k string, n int) []byte {
	return bytes.Repeat([]byte(k+","), n/(len(k)+1)+1)[:n]
}

func fill(t *testing.T, c *Views, key string, data []byte) {
	t.Helper()
	err := c.Fill(context.Background(), key, int64(len(data)), func(_ *os.File, w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		t.Fatalf("fill %s: %v", key, err)
	}
}

func readAll(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openViews(t *testing.T, dir string, max int64) *Views {
	t.Helper()
	c, err := OpenViews(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestViewsFillOpen(t *testing.T) {
	c := openViews(t, t.TempDir(), 1<<20)
	data := content("ES_1min", 100_000)
	if f := c.Open("a", int64(len(data))); f != nil {
		t.Fatal("hit on an empty cache")
	}
	fill(t, c, "a", data)
	f := c.Open("a", int64(len(data)))
	if f == nil {
		t.Fatal("miss after fill")
	}
	defer f.Close()
	if got := readAll(t, f); !bytes.Equal(got, data) {
		t.Fatalf("cached bytes differ: %d bytes, want %d", len(got), len(data))
	}
	// Another process sharing the folder checks the file before serving it.
	other := openViews(t, c.Dir(), 1<<20)
	g := other.Open("a", int64(len(data)))
	if g == nil {
		t.Fatal("other process: miss on a good file")
	}
	g.Close()
	if s := c.Stats(); s.Fills != 1 || s.Hits != 1 || s.Files != 1 || s.UsedBytes != int64(len(data)) {
		t.Fatalf("stats %+v", s)
	}
	// The key names the size, so a file of another size is damage.
	if f := c.Open("a", int64(len(data))+1); f != nil {
		t.Fatal("served a file whose size is not the view's")
	}
	if s := c.Stats(); s.Files != 0 || s.Damaged != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestViewsDamagedNotServed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(p string) error
	}{
		{"truncated", func(p string) error { return os.Truncate(p, 5000) }},
		{"flipped byte", func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{'#'}, 777)
			return err
		}},
		{"no checksum", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			os.Remove(p)
			return os.WriteFile(p, b, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openViews(t, t.TempDir(), 1<<20)
			data := content("x", 10_000)
			fill(t, c, "k", data)
			// Verified once by this process at the fill...
			if f := c.Open("k", int64(len(data))); f == nil {
				t.Fatal("miss after fill")
			} else {
				f.Close()
			}
			// ...and checked again once the file changed.
			time.Sleep(20 * time.Millisecond) // a new mtime
			if err := tc.damage(c.Path("k")); err != nil {
				t.Fatal(err)
			}
			if f := c.Open("k", int64(len(data))); f != nil {
				f.Close()
				t.Fatal("damaged file served")
			}
			if _, err := os.Stat(c.Path("k")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("damaged file kept: %v", err)
			}
			if c.Stats().Damaged != 1 {
				t.Fatalf("stats %+v", c.Stats())
			}
			fill(t, c, "k", data) // rebuilt
			f := c.Open("k", int64(len(data)))
			if f == nil {
				t.Fatal("miss after refill")
			}
			defer f.Close()
			if !bytes.Equal(readAll(t, f), data) {
				t.Fatal("refilled bytes differ")
			}
		})
	}
}

func TestViewsLRUBound(t *testing.T) {
	const size = 1000
	c := openViews(t, t.TempDir(), 3*size)
	for _, k := range []string{"a", "b", "c"} {
		fill(t, c, k, content(k, size))
		time.Sleep(20 * time.Millisecond) // distinct access times, whatever the clock tick
	}
	// a is used again, so b is now the least recently used.
	fa := c.Open("a", size)
	if fa == nil {
		t.Fatal("miss on a")
	}
	defer fa.Close()
	fill(t, c, "d", content("d", size))
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		_, err := os.Stat(c.Path(k))
		if got := err == nil; got != want {
			t.Errorf("%s cached: %v, want %v", k, got, want)
		}
	}
	if s := c.Stats(); s.UsedBytes > 3*size || s.Evictions != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Everything else goes for a view as big as the cache; an open file
	// stays readable after its eviction.
	fill(t, c, "big", content("big", 3*size))
	if s := c.Stats(); s.Files != 1 || s.UsedBytes != 3*size {
		t.Fatalf("stats %+v", s)
	}
	if got := readAll(t, fa); !bytes.Equal(got, content("a", size)) {
		t.Fatal("evicted file read differently through its open descriptor")
	}
	err := c.Fill(context.Background(), "huge", 3*size+1, func(_ *os.File, w io.Writer) error { return nil })
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("fill beyond the bound: %v", err)
	}
}

func TestViewsFailedFillLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c := openViews(t, dir, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	err := c.Fill(ctx, "k", 2000, func(_ *os.File, w io.Writer) error {
		if _, err := w.Write(make([]byte, 1000)); err != nil {
			return err
		}
		cancel()
		_, err := w.Write(make([]byte, 1000))
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("fill: %v", err)
	}
	err = c.Fill(context.Background(), "short", 2000, func(_ *os.File, w io.Writer) error {
		_, err := w.Write(make([]byte, 1999))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "1999") {
		t.Fatalf("short fill: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestViewsStaleTempRemoved(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, tmpPrefix+"999999999-x")
	live := filepath.Join(dir, tmpPrefix+"1-y") // pid 1 runs
	for _, p := range []string{dead, live} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	openViews(t, dir, 1<<20)
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file of a dead process kept: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("temp file of a live process removed: %v", err)
	}
}

func TestViewsFolderRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "views")
	c := openViews(t, dir, 1<<20)
	fill(t, c, "a", content("a", 1000))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if f := c.Open("a", 1000); f != nil {
		t.Fatal("hit after the folder was removed")
	}
	fill(t, c, "a", content("a", 1000))
	f := c.Open("a", 1000)
	if f == nil {
		t.Fatal("miss after a fill into the removed folder")
	}
	f.Close()
}

// TestViewsCopyBase: OpenBase checks a file as Open does without counting a
// hit; CopyBase copies it whole, and fails when the
// bytes changed after OpenBase (here with the mtime put back, so that only
// the copy's checksum can tell).
func TestViewsCopyBase(t *testing.T) {
	c := openViews(t, t.TempDir(), 1<<20)
	data := content("ES_1min", 100_000)
	fill(t, c, "a", data)
	if f := c.OpenBase("a", int64(len(data))-1); f != nil {
		t.Fatal("OpenBase of the wrong size")
	}
	fill(t, c, "a", data) // the wrong size removed it
	f := c.OpenBase("a", int64(len(data)))
	if f == nil {
		t.Fatal("OpenBase missed a good file")
	}
	defer f.Close()
	if s := c.Stats(); s.Hits != 0 || s.Misses != 0 || s.Damaged != 1 {
		t.Fatalf("stats %+v: OpenBase counted as a hit or miss", s)
	}
	var buf bytes.Buffer
	if n, err := CopyBase(&buf, f, int64(len(data)), int64(len(data))); err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("CopyBase: %d bytes, %v", n, err)
	}
	buf.Reset()
	if n, err := CopyBase(&buf, f, int64(len(data)), 777); err != nil || n != 777 || !bytes.Equal(buf.Bytes(), data[:777]) {
		t.Fatalf("CopyBase of 777 bytes: %d bytes, %v", n, err)
	}
	if _, err := CopyBase(io.Discard, f, int64(len(data))+1, 10); err == nil {
		t.Fatal("CopyBase of a size the file does not have")
	}
	st, err := os.Stat(c.Path("a"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(c.Path("a"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("XX"), 5000); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.Chtimes(c.Path("a"), st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	// Changed past the bytes copied: the copy still fails.
	if _, err := CopyBase(io.Discard, f, int64(len(data)), 1000); err == nil || !strings.Contains(err.Error(), "changed while it was copied") {
		t.Fatalf("CopyBase of a file changed after OpenBase: %v", err)
	}
}
