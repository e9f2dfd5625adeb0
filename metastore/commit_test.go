package metastore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCommitHeadLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "yahoo", "AAPL")
	if _, err := Head(OS, dir); !errors.Is(err, ErrNoVersions) {
		t.Fatalf("Head of new dataset: %v, want ErrNoVersions", err)
	}
	if v, err := NextVersion(OS, dir, 0); err != nil || v != 1 {
		t.Fatalf("NextVersion of new dataset = %d, %v; want 1", v, err)
	}
	for v := int64(1); v <= 3; v++ {
		if err := Commit(OS, dir, testManifest(v)); err != nil {
			t.Fatalf("Commit %d: %v", v, err)
		}
	}
	vs, err := Versions(OS, dir)
	if err != nil || len(vs) != 3 || vs[0] != 1 || vs[2] != 3 {
		t.Fatalf("Versions = %v, %v", vs, err)
	}
	head, err := Head(OS, dir)
	if err != nil || head.Version != 3 {
		t.Fatalf("Head = %+v, %v", head, err)
	}
	two, err := Load(OS, dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	manifestsEqual(t, two, testManifest(2))
	if _, err := Load(OS, dir, 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of missing version: %v, want ErrNotFound", err)
	}
	if err := Commit(OS, dir, testManifest(3)); !errors.Is(err, ErrConflict) {
		t.Fatalf("second commit of version 3: %v, want ErrConflict", err)
	}
	assertNoTemps(t, dir)
	if got := ManifestName(42); got != "_log/00000000000000000042.json" {
		t.Fatalf("ManifestName(42) = %q", got)
	}
}

func TestHeadSkipsCorruptTrailingManifest(t *testing.T) {
	tests := []struct {
		name     string
		content  func(valid []byte) []byte
		wantErr  error // nil: head is version 1
		wantNext int64
	}{
		{"torn", func(v []byte) []byte { return v[:len(v)/3] }, nil, 3},
		{"empty", func([]byte) []byte { return nil }, nil, 3},
		{"bit flip", func(v []byte) []byte {
			c := append([]byte(nil), v...)
			c[len(c)/2] ^= 1
			return c
		}, nil, 3},
		{"newer format", func(v []byte) []byte {
			m := testManifest(2)
			m.FormatVersion = 2
			data, _ := encode(m)
			return data
		}, ErrUnsupportedFormat, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Commit(OS, dir, testManifest(1)); err != nil {
				t.Fatal(err)
			}
			bad := tc.content(mustEncode(t, testManifest(2)))
			if err := os.WriteFile(filepath.Join(dir, ManifestName(2)), bad, 0o644); err != nil {
				t.Fatal(err)
			}
			head, err := Head(OS, dir)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Head: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || head.Version != 1 {
				t.Fatalf("Head = %v, %v; want version 1", head, err)
			}
			next, err := NextVersion(OS, dir, head.Version)
			if err != nil || next != tc.wantNext {
				t.Fatalf("NextVersion = %d, %v; want %d", next, err, tc.wantNext)
			}
			m := testManifest(next)
			m.Parent = head.Version
			if err := Commit(OS, dir, m); err != nil {
				t.Fatalf("commit past the corrupt manifest: %v", err)
			}
			if head, err := Head(OS, dir); err != nil || head.Version != next {
				t.Fatalf("Head after commit = %v, %v", head, err)
			}
		})
	}
}

func TestLoadRejectsMisplacedManifest(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, LogDir), 0o755); err != nil {
		t.Fatal(err)
	}
	// A valid manifest of version 1 copied to the name of version 2.
	if err := os.WriteFile(filepath.Join(dir, ManifestName(2)), mustEncode(t, testManifest(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(OS, dir, 2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load: %v, want ErrCorrupt", err)
	}
	if _, err := Head(OS, dir); !errors.Is(err, ErrNoVersions) {
		t.Fatalf("Head: %v, want ErrNoVersions", err)
	}
}

func TestCommitRaceSameVersion(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		if err := Commit(OS, dir, testManifest(1)); err != nil {
			t.Fatal(err)
		}
		const writers = 4
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Go(func() {
				m := testManifest(2)
				m.Source = string(rune('a' + i))
				<-start
				errs[i] = Commit(OS, dir, m)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both committed version 2", round, winner, i)
				}
				winner = i
			case !errors.Is(err, ErrConflict):
				t.Fatalf("round %d: writer %d: %v, want ErrConflict", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		head, err := Head(OS, dir)
		if err != nil || head.Source != string(rune('a'+winner)) {
			t.Fatalf("round %d: head %+v, %v; want the winner's manifest", round, head, err)
		}
		assertNoTemps(t, dir)
	}
}

// TestCommitRetryLoop: two writers each add their commits by
// read-head/commit/retry-on-conflict; every commit lands exactly once on top
// of the previous one.
func TestCommitRetryLoop(t *testing.T) {
	dir := t.TempDir()
	const perWriter = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	conflicts := make([]int, 2)
	for w := range 2 {
		wg.Go(func() {
			for n := 0; n < perWriter; n++ {
				for {
					parent := int64(0)
					head, err := Head(OS, dir)
					if err == nil {
						parent = head.Version
					} else if !errors.Is(err, ErrNoVersions) {
						errs <- err
						return
					}
					m := testManifest(parent + 1)
					m.Source = string(rune('A' + w))
					err = Commit(OS, dir, m)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrConflict) {
						errs <- err
						return
					}
					conflicts[w]++
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	vs, err := Versions(OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2*perWriter {
		t.Fatalf("%d versions, want %d", len(vs), 2*perWriter)
	}
	count := map[string]int{}
	for i, v := range vs {
		if v != int64(i+1) {
			t.Fatalf("versions %v are not 1..%d", vs, 2*perWriter)
		}
		m, err := Load(OS, dir, v)
		if err != nil {
			t.Fatal(err)
		}
		if m.Parent != v-1 {
			t.Fatalf("version %d has parent %d", v, m.Parent)
		}
		count[m.Source]++
	}
	if count["A"] != perWriter || count["B"] != perWriter {
		t.Fatalf("commits per writer %v, want %d each", count, perWriter)
	}
	t.Logf("conflicts retried: %v", conflicts)
}

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
			if err := Commit(OS, dir, testManifest(v)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	// headVersion is 0 when the dataset has no version.
	headVersion := func(t *testing.T, dir string) int64 {
		t.Helper()
		head, err := Head(OS, dir)
		if errors.Is(err, ErrNoVersions) {
			return 0
		}
		if err != nil {
			t.Fatalf("Head: %v", err)
		}
		return head.Version
	}
	counter := NewFaultFS(OS)
	if err := Commit(counter, setup(t), testManifest(next)); err != nil {
		t.Fatal(err)
	}
	kinds := []Op{OpCreate, OpWrite, OpSync, OpClose, OpLink, OpRemove, OpSyncDir, OpMkdir}
	for _, kind := range kinds {
		n := counter.Count(kind)
		if n == 0 {
			t.Fatalf("a commit does no %s", kind)
		}
		for i := 0; i < n; i++ {
			t.Run(fmt.Sprintf("%s#%d/fail", kind, i), func(t *testing.T) {
				dir := setup(t)
				ffs := NewFaultFS(OS)
				ffs.FailAt(kind, i, nil)
				err := Commit(ffs, dir, testManifest(next))
				head := headVersion(t, dir)
				// The last SyncDir is the one after the publishing link.
				afterLink := kind == OpRemove || (kind == OpSyncDir && i == n-1)
				switch {
				case kind == OpRemove:
					// Only the temp's removal failed: the version is
					// published and the leftover is Recover's job.
					if err != nil || head != next {
						t.Fatalf("err %v, head %d; want success and head %d", err, head, next)
					}
				case afterLink:
					if !errors.Is(err, ErrNotDurable) || head != next {
						t.Fatalf("err %v, head %d; want ErrNotDurable and head %d", err, head, next)
					}
				default:
					if !errors.Is(err, ErrInjected) {
						t.Fatalf("Commit: %v, want the injected error", err)
					}
					if head != prior {
						t.Fatalf("head %d after failed commit, want %d", head, prior)
					}
					if _, err := os.Stat(filepath.Join(dir, LogDir)); err == nil {
						assertNoTemps(t, dir)
					}
					// The failed commit left nothing in the way of a retry.
					if err := Commit(OS, dir, testManifest(next)); err != nil {
						t.Fatalf("retry: %v", err)
					}
				}
			})
			t.Run(fmt.Sprintf("%s#%d/crash", kind, i), func(t *testing.T) {
				dir := setup(t)
				ffs := NewFaultFS(OS)
				ffs.CrashAt(kind, i)
				err := Commit(ffs, dir, testManifest(next))
				if err == nil && kind != OpRemove {
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
				v, err := NextVersion(OS, dir, head)
				if err != nil {
					t.Fatal(err)
				}
				m := testManifest(v)
				m.Parent = head
				if err := Commit(OS, dir, m); err != nil {
					t.Fatalf("commit after crash recovery: %v", err)
				}
				if removed, err := Recover(OS, dir, 10, -1, nil); err != nil {
					t.Fatalf("Recover: %v (removed %v)", err, removed)
				}
			})
		}
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, LogDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if isTempName(e.Name()) {
			t.Fatalf("temp file %s left behind", e.Name())
		}
	}
}
