package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	err := c.Fill(context.Background(), key, int64(len(data)), func(_ *os.File, w *FillWriter) error {
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
	err := c.Fill(context.Background(), "huge", 3*size+1, func(_ *os.File, w *FillWriter) error { return nil })
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("fill beyond the bound: %v", err)
	}
}

func TestViewsFailedFillLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c := openViews(t, dir, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	err := c.Fill(ctx, "k", 2000, func(_ *os.File, w *FillWriter) error {
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
	err = c.Fill(context.Background(), "short", 2000, func(_ *os.File, w *FillWriter) error {
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
// hit; a fill that starts with CopyBase of it (whole or its first bytes)
// holds those bytes and then what it writes, under a checksum of all of
// them, and counts as incremental; CopyBase fails if the file was written
// into after OpenBase, or, when it copies part of the file, if the file no
// longer matches its checksum even with its mtime put back.
func TestViewsCopyBase(t *testing.T) {
	c := openViews(t, t.TempDir(), 1<<30)
	data := content("ES_1min", 100_000)
	size := int64(len(data))
	fill(t, c, "a", data)
	if f := c.OpenBase("a", size-1); f != nil {
		t.Fatal("OpenBase of the wrong size")
	}
	fill(t, c, "a", data) // the wrong size removed it
	base := c.OpenBase("a", size)
	if base == nil {
		t.Fatal("OpenBase missed a good file")
	}
	defer base.Close()
	if s := c.Stats(); s.Hits != 0 || s.Misses != 0 || s.Damaged != 1 {
		t.Fatalf("stats %+v: OpenBase counted as a hit or miss", s)
	}
	extend := func(key string, n int64, tail string) error {
		copied := 0
		return c.Fill(context.Background(), key, n+int64(len(tail)), func(_ *os.File, w *FillWriter) error {
			if err := w.CopyBase(base, size, n, func(k int) { copied += k }); err != nil {
				return err
			}
			if int64(copied) != n {
				return fmt.Errorf("progress says %d bytes copied, want %d", copied, n)
			}
			_, err := w.Write([]byte(tail))
			return err
		})
	}
	for _, tc := range []struct {
		key string
		n   int64
	}{{"whole", size}, {"part", 777}} {
		if err := extend(tc.key, tc.n, "and the tail"); err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		want := append(append([]byte(nil), data[:tc.n]...), "and the tail"...)
		f := c.Open(tc.key, int64(len(want)))
		if f == nil {
			t.Fatalf("%s: not cached", tc.key)
		}
		if got := readAll(t, f); !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes cached, want %d", tc.key, len(got), len(want))
		}
		f.Close()
		// Its checksum covers all of it: a check from scratch passes.
		g, err := os.Open(c.Path(tc.key))
		if err != nil || !checkFile(g) {
			t.Fatalf("%s: checksum does not cover the file (%v)", tc.key, err)
		}
		g.Close()
	}
	if s := c.Stats(); s.IncrementalFills != 2 || s.Fills != 4 {
		t.Fatalf("stats %+v, want 2 incremental fills of 4", s)
	}
	if err := c.Fill(context.Background(), "bad", 20, func(_ *os.File, w *FillWriter) error {
		w.Write([]byte("x"))
		return w.CopyBase(base, size, 10, func(int) {})
	}); err == nil {
		t.Fatal("CopyBase after a write")
	}

	// Written into with the mtime put back: copying part of it reads it
	// whole and finds it.
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
	if err := extend("part2", 1000, "x"); err == nil || !strings.Contains(err.Error(), "does not match its checksum") {
		t.Fatalf("CopyBase of part of a file changed after OpenBase: %v", err)
	}
	// Written into: its mtime changed, so it is no longer the file checked.
	time.Sleep(10 * time.Millisecond)
	if err := os.Chtimes(c.Path("a"), time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := extend("whole2", size, "x"); err == nil || !strings.Contains(err.Error(), "not the file that was checked") {
		t.Fatalf("CopyBase of a file changed after OpenBase: %v", err)
	}
	if _, err := os.Stat(c.Path("whole2")); err == nil {
		t.Fatal("a failed fill left its file")
	}
}
