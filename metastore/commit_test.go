package metastore

import (
	"errors"
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
			m.FormatVersion = FormatMultiFile + 1
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
