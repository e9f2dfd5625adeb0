package metastore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"bcfs/backend"
	"bcfs/backend/s3test"
)

func newTestObjFS(t *testing.T, cache *DiskCache) (*ObjFS, *backend.S3) {
	t.Helper()
	b, err := backend.NewS3(context.Background(), "desk", "bars", backend.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewObjFS(b, t.TempDir(), cache)
	if err != nil {
		t.Fatal(err)
	}
	return o, b
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestObjFSDiskCacheBound reads partition files worth several times the
// cache through it: every byte is right and the cache folder never holds
// more than its bound, also after a restart with a smaller bound.
func TestObjFSDiskCacheBound(t *testing.T) {
	s3test.Start(t, "desk")
	cacheDir := t.TempDir()
	const bound = 2*CacheBlock + CacheBlock/2
	cache, err := OpenDiskCache(cacheDir, bound)
	if err != nil {
		t.Fatal(err)
	}
	o, b := newTestObjFS(t, cache)
	rng := rand.New(rand.NewPCG(1, 2))
	var names []string
	var contents [][]byte
	for i := 0; i < 6; i++ {
		data := make([]byte, 3*CacheBlock/2+rng.IntN(CacheBlock))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		key := "datasets/D/year=2024/" + uuid.NewString() + ".parquet"
		if err := b.Put(context.Background(), key, backend.Bytes(data)); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Join(o.Root(), filepath.FromSlash(key)))
		contents = append(contents, data)
	}
	total := 0
	for _, c := range contents {
		total += len(c)
	}
	if total < 3*bound {
		t.Fatalf("test data %d bytes is not several times the bound %d", total, bound)
	}
	read := func(i int) {
		t.Helper()
		f, err := o.Open(names[i])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got := make([]byte, len(contents[i]))
		for off := 0; off < len(got); off += 1 << 20 {
			end := min(off+1<<20, len(got))
			if n, err := f.ReadAt(got[off:end], int64(off)); n != end-off || (err != nil && err != io.EOF) {
				t.Fatalf("file %d at %d: %d bytes, %v", i, off, n, err)
			}
		}
		if !bytes.Equal(got, contents[i]) {
			t.Fatalf("file %d: bytes differ", i)
		}
		if n := dirBytes(t, cacheDir); n > bound {
			t.Fatalf("after file %d the cache folder holds %d bytes, bound %d", i, n, bound)
		}
	}
	for i := range names {
		read(i)
	}
	misses := cache.Misses()
	read(len(names) - 1) // the newest blocks are still there
	if cache.Misses() != misses || cache.Hits() == 0 {
		t.Fatalf("re-reading the last file: misses %d -> %d, hits %d", misses, cache.Misses(), cache.Hits())
	}
	read(0) // evicted long ago: fetched again
	if cache.Misses() == misses {
		t.Fatal("re-reading an evicted file did not fetch it")
	}
	// A restart with a smaller bound trims the folder.
	small, err := OpenDiskCache(cacheDir, CacheBlock)
	if err != nil {
		t.Fatal(err)
	}
	if n := dirBytes(t, cacheDir); n > CacheBlock || small.Used() != n {
		t.Fatalf("after reopening with a bound of one block: folder %d bytes, cache counts %d", n, small.Used())
	}
}

// TestObjFSCommitPointAndJournal: the second commit of one version loses
// (ErrConflict); each commit records itself in the journal, which another
// process learns with one poll.
func TestObjFSCommitPointAndJournal(t *testing.T) {
	s3test.Start(t, "desk")
	a, _ := newTestObjFS(t, nil)
	watcher, _ := newTestObjFS(t, nil)
	if ents, err := watcher.PollJournal(context.Background()); err != nil || len(ents) != 0 {
		t.Fatalf("first poll: %v %v", ents, err)
	}
	dir := DatasetDir(a.Root(), "yahoo/AAPL")
	m := testManifest(1)
	if err := Commit(a, dir, m); err != nil {
		t.Fatal(err)
	}
	if err := Commit(a, dir, m); !errors.Is(err, ErrConflict) {
		t.Fatalf("second commit of version 1: %v, want ErrConflict", err)
	}
	if err := Commit(a, dir, testManifest(2)); err != nil {
		t.Fatal(err)
	}
	head, err := Head(watcher, DatasetDir(watcher.Root(), "yahoo/AAPL"))
	if err != nil || head.Version != 2 {
		t.Fatalf("head from another work folder: %v %v", head, err)
	}
	ents, err := watcher.PollJournal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 || ents[0].Dataset != "yahoo/AAPL" || ents[0].Version != 1 || ents[1].Version != 2 || ents[0].Op != "commit" {
		t.Fatalf("journal entries %+v, want commits 1 and 2 of yahoo/AAPL", ents)
	}
	if ents, err := watcher.PollJournal(context.Background()); err != nil || len(ents) != 0 {
		t.Fatalf("a poll with no new commit: %v %v", ents, err)
	}
	// Nothing of the commit stayed in the work folder's staging.
	if ents, _ := os.ReadDir(filepath.Join(a.Root(), WorkStaging)); len(ents) != 0 {
		t.Fatalf("staging holds %v", ents)
	}
	if n, err := a.CompactJournal(context.Background(), 0); err != nil || n != 2 {
		t.Fatalf("compaction removed %d entries: %v", n, err)
	}
}

// failingStore fails the nth copy or delete (counted together): a crash in
// the middle of a move.
type failingStore struct {
	*backend.S3
	n, seen int
}

var errCrash = errors.New("crash")

func (f *failingStore) step() error {
	f.seen++
	if f.seen == f.n {
		return errCrash
	}
	return nil
}

func (f *failingStore) CopyObject(ctx context.Context, src, dst string) error {
	if err := f.step(); err != nil {
		return err
	}
	return f.S3.CopyObject(ctx, src, dst)
}

func (f *failingStore) Delete(ctx context.Context, name string) error {
	if err := f.step(); err != nil {
		return err
	}
	return f.S3.Delete(ctx, name)
}

// TestObjFSMoveNeverLosesADataset moves a dataset of two versions (as
// delete-to-trash does) and stops the move at every copy and delete in
// turn: each time the dataset is whole, every version with every
// partition file, under its old name or its new one.
func TestObjFSMoveNeverLosesADataset(t *testing.T) {
	s3test.Start(t, "desk")
	base, b := newTestObjFS(t, nil)
	whole := func(o *ObjFS, dir string) bool {
		vs, err := Versions(o, dir)
		if err != nil || len(vs) != 2 {
			return false
		}
		for _, v := range vs {
			m, err := Load(o, dir, v)
			if err != nil {
				return false
			}
			for _, p := range m.Partitions {
				if _, err := o.Stat(filepath.Join(dir, filepath.FromSlash(p.Path))); err != nil {
					return false
				}
			}
		}
		return true
	}
	for n := 1; ; n++ {
		prefix := "run" + uuid.NewString()[:8]
		src := filepath.Join(base.Root(), prefix, "datasets", "ES")
		dst := filepath.Join(base.Root(), prefix, "trash", "x", "data")
		for v := int64(1); v <= 2; v++ {
			m := testManifest(v)
			if v == 2 {
				m.Partitions[1].Path = m.Partitions[1].Key + "/" + uuid.NewString() + ".parquet"
			}
			for _, p := range m.Partitions {
				if err := b.Put(context.Background(), prefix+"/datasets/ES/"+p.Path, backend.Bytes([]byte(p.Path))); err != nil {
					t.Fatal(err)
				}
			}
			if err := Commit(base, src, m); err != nil {
				t.Fatal(err)
			}
		}
		f := &failingStore{S3: b, n: n}
		o, err := NewObjFS(f, base.Root(), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = o.Rename(src, dst)
		if !whole(base, src) && !whole(base, dst) {
			t.Fatalf("move stopped at step %d (%v): the dataset is whole neither at its old nor its new place", n, err)
		}
		if err == nil {
			if whole(base, src) || !whole(base, dst) {
				t.Fatal("a finished move left the source or lacks the destination")
			}
			if n < 8 {
				t.Fatalf("the move took only %d steps", n)
			}
			return
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("step %d: %v", n, err)
		}
	}
}
