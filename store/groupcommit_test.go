package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"bcfs/metastore"
)

// syncfsFS is the DirFS of a store whose syncfs handles a test controls:
// before each Sync (numbered from 1) it calls before, whose error, if
// any, the Sync returns instead of syncing.
type syncfsFS struct {
	metastore.FS
	mu     sync.Mutex // protects syncs
	syncs  int
	before func(n int) error
}

func (f *syncfsFS) OpenSyncfs(name string) (metastore.Syncfs, error) {
	inner, err := f.FS.(metastore.SyncfsOpener).OpenSyncfs(name)
	if err != nil {
		return nil, err
	}
	return &ctlSyncfs{f, inner}, nil
}

func (f *syncfsFS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}

type ctlSyncfs struct {
	f     *syncfsFS
	inner metastore.Syncfs
}

func (s *ctlSyncfs) Sync() error {
	s.f.mu.Lock()
	s.f.syncs++
	n := s.f.syncs
	s.f.mu.Unlock()
	if s.f.before != nil {
		if err := s.f.before(n); err != nil {
			return err
		}
	}
	return s.inner.Sync()
}

func (s *ctlSyncfs) Close() error { return s.inner.Close() }

// newSyncfsStore opens a store on a syncfsFS, and its commit group.
func newSyncfsStore(t *testing.T, before func(n int) error) (*Store, *syncfsFS, *CommitGroup) {
	t.Helper()
	dir := t.TempDir()
	dfs := metastore.DirFS(dir)
	t.Cleanup(func() { dfs.(interface{ Close() error }).Close() })
	fsys := &syncfsFS{FS: dfs, before: before}
	st, err := Open(dir, Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer st.Close()
		checkInvariants(t, st)
	})
	g := st.NewCommitGroup(64)
	if g == nil {
		t.Fatal("no commit group on a local store")
	}
	return st, fsys, g
}

// waitQueued waits until the group being published and the commits
// queued behind it hold n commits in all, and returns how many are queued.
func waitQueued(g *CommitGroup, n int) (int, error) {
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		q, p := len(g.queue), g.publishing
		g.mu.Unlock()
		if q+p == n {
			return q, nil
		}
		if time.Now().After(deadline) {
			return q, fmt.Errorf("%d commits publishing and %d queued, want %d in all", p, q, n)
		}
	}
}

// groupInputs writes a file per dataset d0..d(n-1) with prices of its own
// (round r changes some rows and adds one).
func groupInputs(t *testing.T, dir string, n, r int) []string {
	t.Helper()
	var files []string
	for i := range n {
		var b bytes.Buffer
		b.WriteString("Date,Open,High,Low,Close,Volume\n")
		for d := range 5 + r {
			p := float64(10+i) + float64(d)/4 + float64(r)/8
			fmt.Fprintf(&b, "2023-12-%02d,%g,%g,%g,%g,%d\n", 20+d, p, p+1, p-1, p+0.5, 100*(i+1)+d)
		}
		files = append(files, writeFile(t, dir, fmt.Sprintf("d%d-r%d.csv", i, r), b.String()))
	}
	return files
}

// ingestAll ingests files[i] into dataset d<i>, all at once, and returns
// each ingest's result and error.
func ingestAll(st *Store, files []string, opt IngestOptions) ([]*IngestResult, []error) {
	res, errs := make([]*IngestResult, len(files)), make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = st.Ingest(context.Background(), fmt.Sprintf("d%d", i), f, opt)
		}()
	}
	wg.Wait()
	return res, errs
}

// TestGroupCommitLikeOneByOne: 20 datasets ingested at once through a
// commit group, twice, give the versions and views that ingesting them
// one after another gives; the 19 that arrive while the first syncs are
// published as one group (4 syncfs in all per round).
func TestGroupCommitLikeOneByOne(t *testing.T) {
	const n = 20
	var g *CommitGroup
	base, queued := 0, 0
	grouped, fsys, g0 := newSyncfsStore(t, func(k int) error {
		if k == base+1 { // the first group waits for the others to queue
			var err error
			queued, err = waitQueued(g, n)
			return err
		}
		return nil
	})
	g = g0
	plain := newTestStore(t, Options{})
	src := t.TempDir()
	for r := range 2 {
		files := groupInputs(t, src, n, r)
		base = fsys.count()
		res, errs := ingestAll(grouped, files, IngestOptions{Group: g})
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, %s: %v", r, files[i], err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		for i, f := range files {
			if !res[i].Committed || res[i].Version != int64(r+1) {
				t.Errorf("round %d, %s: committed %v version %d, want version %d", r, f, res[i].Committed, res[i].Version, r+1)
			}
			ingest(t, plain, fmt.Sprintf("d%d", i), f, IngestOptions{})
		}
		if got := fsys.count() - base; got != 4 || queued == 0 {
			t.Errorf("round %d: %d syncfs for %d datasets, want 4 (a group of %d, then one of %d)", r, got, n, n-queued, queued)
		}
	}
	for i := range n {
		name := fmt.Sprintf("d%d", i)
		e, err := grouped.Stat(name)
		if err != nil || e.Version != 2 {
			t.Fatalf("%s: %+v, %v", name, e, err)
		}
		for _, v := range []View{ViewCSV, ViewParquet} {
			if a, b := readView(t, grouped, name, v), readView(t, plain, name, v); !bytes.Equal(a, b) {
				t.Errorf("%s%s differs from one by one:\n%s\n%s", name, v.Ext(), a, b)
			}
		}
	}
}

// TestGroupCommitSyncfsFails: when the first syncfs of a group fails, no
// dataset of that group is published (they stay absent, no file left),
// each ingest returns the syncfs error, not a conflict; the next group
// still commits.
func TestGroupCommitSyncfsFails(t *testing.T) {
	const n = 6
	injected := errors.New("syncfs: input/output error (injected)")
	var g *CommitGroup
	st, _, g0 := newSyncfsStore(t, func(k int) error {
		switch k {
		case 1: // group 1: the others queue, then it fails
			if _, err := waitQueued(g, n); err != nil {
				return err
			}
			return injected
		case 2: // group 2's first syncfs (group 1 stopped at its first)
			return injected
		}
		return nil
	})
	g = g0
	_, errs := ingestAll(st, groupInputs(t, t.TempDir(), n, 0), IngestOptions{Group: g})
	for i, err := range errs {
		name := fmt.Sprintf("d%d", i)
		if !errors.Is(err, injected) || errors.Is(err, metastore.ErrConflict) || errors.Is(err, metastore.ErrNotDurable) {
			t.Errorf("%s: error %v, want the syncfs error", name, err)
		}
		if _, err := st.Stat(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Stat after a failed syncfs: %v, want ErrNotFound", name, err)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(st.Dir(), metastore.DatasetsDir)); err != nil || len(ents) != 0 {
		t.Errorf("datasets/ after failed groups: %v, %v", ents, err)
	}
	// The failure was the groups', not the store's: the next ingests commit.
	res, errs := ingestAll(st, groupInputs(t, t.TempDir(), n, 0), IngestOptions{Group: g})
	for i, err := range errs {
		if err != nil || res[i].Version != 1 {
			t.Errorf("d%d after the failures: %+v, %v", i, res[i], err)
		}
	}
}

// TestGroupCommitBadFileFailsAlone: a bad file among datasets committing
// in groups fails only its own dataset.
func TestGroupCommitBadFileFailsAlone(t *testing.T) {
	st, _, g := newSyncfsStore(t, nil)
	src := t.TempDir()
	files := groupInputs(t, src, 8, 0)
	files[3] = writeFile(t, src, "bad.csv", "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,2,0.5,x,10\n")
	res, errs := ingestAll(st, files, IngestOptions{Group: g})
	for i, err := range errs {
		switch {
		case i == 3 && !errors.Is(err, ErrBadInput):
			t.Errorf("bad file: %v, want ErrBadInput", err)
		case i != 3 && (err != nil || res[i].Version != 1):
			t.Errorf("d%d: %+v, %v", i, res[i], err)
		}
	}
	if _, err := st.Stat("d3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("d3 after its bad file: %v", err)
	}
}

// TestGroupCommitConflict: another writer (another Store on the folder,
// as another process) commits version 1 of a dataset while its group
// syncs; the group's link then conflicts, the ingest merges again onto
// the other writer's version and commits version 2 holding both rows.
func TestGroupCommitConflict(t *testing.T) {
	src := t.TempDir()
	var other *Store
	otherFile := writeFile(t, src, "other.csv", "Date,Open,High,Low,Close,Volume\n2024-03-01,5,6,4,5.5,50\n")
	st, _, g := newSyncfsStore(t, func(k int) error {
		if k == 1 {
			_, err := other.Ingest(context.Background(), "X", otherFile, IngestOptions{})
			return err
		}
		return nil
	})
	var err error
	if other, err = Open(st.Dir(), Options{}); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	res, err := st.Ingest(context.Background(), "X", writeFile(t, src, "mine.csv", yahooCSV), IngestOptions{Group: g})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.Retries != 1 {
		t.Errorf("version %d after %d retries, want version 2 after 1", res.Version, res.Retries)
	}
	e, err := st.Stat("X")
	if err != nil || e.Rows != 4 || e.Version != 2 {
		t.Errorf("X: %d rows version %d (%v), want 4 rows (3 mine, 1 the other writer's) version 2", e.Rows, e.Version, err)
	}
}
