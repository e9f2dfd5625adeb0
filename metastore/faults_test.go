package metastore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
