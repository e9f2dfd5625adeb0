package metastore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"bcfs/metastore"
	"bcfs/metastore/faultfs"
)

// TestCommitFaults fails each operation of a commit in turn, then crashes
// at each one, and checks what a reader sees: for the first version of a new
// dataset (which also creates _log) and for a later one.
func TestCommitFaults(t *testing.T) {
	for _, prior := range []int64{0, 2} {
		t.Run(fmt.Sprintf("after %d versions", prior), func(t *testing.T) {
			testCommitFaults(t, prior)
		})
	}
}

func testCommitFaults(t *testing.T, prior int64) {
	next := prior + 1
	setup := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "ds")
		for v := int64(1); v <= prior; v++ {
			if err := metastore.Commit(metastore.OS, dir, metastore.TestManifest(v)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	// headVersion is 0 when the dataset has no version.
	headVersion := func(t *testing.T, dir string) int64 {
		t.Helper()
		head, err := metastore.Head(metastore.OS, dir)
		if errors.Is(err, metastore.ErrNoVersions) {
			return 0
		}
		if err != nil {
			t.Fatalf("Head: %v", err)
		}
		return head.Version
	}
	counter := faultfs.New(metastore.OS)
	if err := metastore.Commit(counter, setup(t), metastore.TestManifest(next)); err != nil {
		t.Fatal(err)
	}
	kinds := []faultfs.Op{faultfs.OpCreate, faultfs.OpWrite, faultfs.OpSync, faultfs.OpClose, faultfs.OpLink, faultfs.OpRemove, faultfs.OpSyncDir, faultfs.OpMkdir}
	for _, kind := range kinds {
		n := counter.Count(kind)
		if n == 0 {
			t.Fatalf("a commit does no %s", kind)
		}
		for i := 0; i < n; i++ {
			t.Run(fmt.Sprintf("%s#%d/fail", kind, i), func(t *testing.T) {
				dir := setup(t)
				ffs := faultfs.New(metastore.OS)
				ffs.FailAt(kind, i, nil)
				err := metastore.Commit(ffs, dir, metastore.TestManifest(next))
				head := headVersion(t, dir)
				// The last SyncDir is the one after the publishing link.
				afterLink := kind == faultfs.OpRemove || (kind == faultfs.OpSyncDir && i == n-1)
				switch {
				case kind == faultfs.OpRemove:
					// Only the temp's removal failed: the version is
					// published and the leftover is Recover's job.
					if err != nil || head != next {
						t.Fatalf("err %v, head %d; want success and head %d", err, head, next)
					}
				case afterLink:
					if !errors.Is(err, metastore.ErrNotDurable) || head != next {
						t.Fatalf("err %v, head %d; want metastore.ErrNotDurable and head %d", err, head, next)
					}
				default:
					if !errors.Is(err, faultfs.ErrInjected) {
						t.Fatalf("Commit: %v, want the injected error", err)
					}
					if head != prior {
						t.Fatalf("head %d after failed commit, want %d", head, prior)
					}
					if _, err := os.Stat(filepath.Join(dir, metastore.LogDir)); err == nil {
						metastore.AssertNoTemps(t, dir)
					}
					// The failed commit left nothing in the way of a retry.
					if err := metastore.Commit(metastore.OS, dir, metastore.TestManifest(next)); err != nil {
						t.Fatalf("retry: %v", err)
					}
				}
			})
			t.Run(fmt.Sprintf("%s#%d/crash", kind, i), func(t *testing.T) {
				dir := setup(t)
				ffs := faultfs.New(metastore.OS)
				ffs.CrashAt(kind, i)
				err := metastore.Commit(ffs, dir, metastore.TestManifest(next))
				if err == nil && kind != faultfs.OpRemove {
					t.Fatal("Commit succeeded through a crash")
				}
				// Reopen after the crash with the plain filesystem.
				head := headVersion(t, dir)
				if head != prior && head != next {
					t.Fatalf("head %d after crash, want %d or %d", head, prior, next)
				}
				if head == prior && err == nil {
					t.Fatalf("commit reported success but version %d is not there", next)
				}
				v, err := metastore.NextVersion(metastore.OS, dir, head)
				if err != nil {
					t.Fatal(err)
				}
				m := metastore.TestManifest(v)
				m.Parent = head
				if err := metastore.Commit(metastore.OS, dir, m); err != nil {
					t.Fatalf("commit after crash recovery: %v", err)
				}
				if removed, err := metastore.Recover(metastore.OS, dir, -1, nil); err != nil {
					t.Fatalf("Recover: %v (removed %v)", err, removed)
				}
			})
		}
	}
}

// TestLastErrorFaults: a failed write keeps the previous document whole.
func TestLastErrorFaults(t *testing.T) {
	dir := t.TempDir()
	if err := metastore.WriteLastError(metastore.OS, dir, &metastore.LastError{Source: "kept"}); err != nil {
		t.Fatal(err)
	}
	for _, op := range []faultfs.Op{faultfs.OpCreate, faultfs.OpWrite, faultfs.OpSync, faultfs.OpRename} {
		ffs := faultfs.New(metastore.OS)
		ffs.FailAt(op, 0, nil)
		if err := metastore.WriteLastError(ffs, dir, &metastore.LastError{Source: "lost"}); !errors.Is(err, faultfs.ErrInjected) {
			t.Fatalf("%s fault: %v", op, err)
		}
		if got, err := metastore.ReadLastError(metastore.OS, dir); err != nil || got.Source != "kept" {
			t.Fatalf("after %s fault: %+v, %v", op, got, err)
		}
	}
}

// recordFS records, in order, the fsyncs of files and folders and the links
// done through it.
type recordFS struct {
	metastore.FS
	mu  sync.Mutex
	ops []string
}

func (r *recordFS) add(op string) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

type recordFile struct {
	metastore.File
	r    *recordFS
	name string
}

func (f recordFile) Sync() error {
	err := f.File.Sync()
	if err == nil {
		f.r.add("sync " + f.name)
	}
	return err
}

func (r *recordFS) wrap(f metastore.File, err error, name string) (metastore.File, error) {
	if err != nil {
		return nil, err
	}
	return recordFile{f, r, name}, nil
}
func (r *recordFS) Create(name string) (metastore.File, error) {
	f, err := r.FS.Create(name)
	return r.wrap(f, err, name)
}
func (r *recordFS) Open(name string) (metastore.File, error) {
	f, err := r.FS.Open(name)
	return r.wrap(f, err, name)
}
func (r *recordFS) OpenFile(name string, flag int, perm os.FileMode) (metastore.File, error) {
	f, err := r.FS.OpenFile(name, flag, perm)
	return r.wrap(f, err, name)
}
func (r *recordFS) SyncDir(name string) error {
	err := r.FS.SyncDir(name)
	if err == nil {
		r.add("syncdir " + name)
	}
	return err
}
func (r *recordFS) Link(oldname, newname string) error {
	err := r.FS.Link(oldname, newname)
	if err == nil {
		r.add("link " + oldname)
	}
	return err
}

// TestCommitFilesSyncsBeforeLink: CommitFiles fsyncs the new files it is
// given (written without fsync, as the store writes partitions), the
// folders holding them, the dataset dir, the extra folders and the temp
// manifest, all before the link that publishes the version; a failure of
// any of those fsyncs publishes nothing.
func TestCommitFilesSyncsBeforeLink(t *testing.T) {
	setup := func(t *testing.T) (root, dir string, files []string) {
		root = t.TempDir()
		dir = filepath.Join(root, "datasets", "vendor", "AAPL")
		for _, p := range metastore.TestManifest(1).Partitions {
			f := filepath.Join(dir, filepath.FromSlash(p.Path))
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte("PAR1 "+p.Key), 0o644); err != nil { // no fsync
				t.Fatal(err)
			}
			files = append(files, f)
		}
		return root, dir, files
	}
	root, dir, files := setup(t)
	extra := []string{filepath.Join(root, "datasets", "vendor"), filepath.Join(root, "datasets")}
	rec := &recordFS{FS: metastore.OS}
	if err := metastore.CommitFiles(rec, dir, metastore.TestManifest(1), files, extra); err != nil {
		t.Fatal(err)
	}
	link := slices.IndexFunc(rec.ops, func(op string) bool { return strings.HasPrefix(op, "link ") })
	if link < 0 {
		t.Fatalf("no link: %q", rec.ops)
	}
	before := rec.ops[:link]
	tmp := "sync " + strings.TrimPrefix(rec.ops[link], "link ")
	want := []string{tmp, "syncdir " + dir}
	for _, f := range files {
		want = append(want, "sync "+f, "syncdir "+filepath.Dir(f))
	}
	for _, d := range extra {
		want = append(want, "syncdir "+d)
	}
	for _, w := range want {
		if !slices.Contains(before, w) {
			t.Errorf("%q is not done before the link; before it: %q", w, before)
		}
	}
	if after := rec.ops[link+1:]; len(after) != 1 || after[0] != "syncdir "+filepath.Join(dir, metastore.LogDir) {
		t.Errorf("after the link: %q, want only the fsync of _log", after)
	}
	if head, err := metastore.Head(metastore.OS, dir); err != nil || head.Version != 1 {
		t.Fatalf("Head = %v, %v", head, err)
	}

	// Each of those fsyncs failing in turn: nothing is published.
	counter := faultfs.New(metastore.OS)
	_, dir, files = setup(t)
	if err := metastore.CommitFiles(counter, dir, metastore.TestManifest(1), files, nil); err != nil {
		t.Fatal(err)
	}
	n := counter.Count(faultfs.OpSync | faultfs.OpSyncDir)
	if n < 2*len(files)+2 {
		t.Fatalf("%d fsyncs for %d files", n, len(files))
	}
	for i := 0; i < n-1; i++ { // the last is _log's, after the link
		_, dir, files := setup(t)
		ffs := faultfs.New(metastore.OS)
		ffs.FailAt(faultfs.OpSync|faultfs.OpSyncDir, i, nil)
		if err := metastore.CommitFiles(ffs, dir, metastore.TestManifest(1), files, nil); !errors.Is(err, faultfs.ErrInjected) {
			t.Fatalf("fsync #%d failing: %v, want the injected error", i, err)
		}
		if _, err := metastore.Head(metastore.OS, dir); !errors.Is(err, metastore.ErrNoVersions) {
			t.Fatalf("fsync #%d failed, yet Head: %v", i, err)
		}
		metastore.AssertNoTemps(t, dir)
	}
}
