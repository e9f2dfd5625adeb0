package metastore

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// manifestWith returns version v whose partitions are the given files (slash
// paths "year=2024/month=MM/<uuid>.parquet", one per month, sorted).
func manifestWith(v int64, paths ...string) *Manifest {
	m := testManifest(v)
	tmpl := m.Partitions[0]
	m.Partitions, m.RowCount = nil, 0
	for _, p := range paths {
		part := tmpl
		part.Path = p
		part.Key = filepath.ToSlash(filepath.Dir(p))
		m.Partitions = append(m.Partitions, part)
		m.RowCount += part.Rows
	}
	return m
}

func partPath(month string) string {
	return "year=2024/month=" + month + "/" + uuid.NewString() + ".parquet"
}

func TestRecover(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	a, b, c, d, e := partPath("01"), partPath("02"), partPath("02"), partPath("02"), partPath("01")
	unrefOld, unrefYoung, pinned := partPath("03"), partPath("03"), partPath("04")
	nested := "sub/year=2024/month=01/" + uuid.NewString() + ".parquet"
	keepAlways := []string{
		"year=2024/month=01/notes.txt",                            // not a partition name
		"year=2024/month=01/data.parquet",                         // not a uuid
		"other/" + uuid.NewString() + ".parquet",                  // not a partition folder
		uuid.NewString() + ".parquet",                             // not inside a partition folder
		"year=2024/month=01/" + uuid.NewString() + ".parquet.bak", // wrong extension
		nested,                                // another dataset nested in this one
		"sub/_log/" + ManifestName(1)[5:],     // its manifest
		LastErrorFile,                         // not garbage
		unrefYoung,                            // younger than grace
		pinned,                                // pinned by a snapshot
		"_log/.tmp-" + "not-a-uuid" + ".json", // not our temp name
	}
	oldTemps := []string{
		"_log/.tmp-" + uuid.NewString() + ".json",
		".tmp-" + uuid.NewString() + "." + LastErrorFile,
	}
	youngTemp := "_log/.tmp-" + uuid.NewString() + ".json"

	tomb := func(v int64) string { return LogDir + "/" + droppedPrefix + manifestBase(v) }
	tests := []struct {
		name        string
		drop        []int64
		wantRemoved []string // besides oldTemps
		wantKept    []string // besides keepAlways and youngTemp
	}{
		{"drop 1 2", []int64{2, 1}, []string{b, c, unrefOld, tomb(1), tomb(2)},
			[]string{a, d, e, ManifestName(3), ManifestName(4)}},
		{"drop 1 2 3", []int64{1, 2, 3}, []string{a, b, c, unrefOld, tomb(1), tomb(2), tomb(3)},
			[]string{d, e, ManifestName(4)}},
		{"keep all", nil, []string{unrefOld},
			[]string{a, b, c, d, e, ManifestName(1), ManifestName(4)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for v, m := range []*Manifest{manifestWith(1, a, b), manifestWith(2, a, c), manifestWith(3, a, d), manifestWith(4, e, d)} {
				if err := Commit(OS, dir, m); err != nil {
					t.Fatalf("commit %d: %v", v+1, err)
				}
			}
			for _, f := range slices.Concat([]string{a, b, c, d, e, unrefOld}, keepAlways, oldTemps) {
				touch(t, dir, f, old)
			}
			touch(t, dir, youngTemp, time.Now())
			touch(t, dir, unrefYoung, time.Now())

			if err := DropVersions(OS, dir, tc.drop); err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.drop {
				if _, err := os.Stat(filepath.Join(dir, ManifestName(v))); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("version %d still there after DropVersions: %v", v, err)
				}
			}
			// Young tombstones keep their files.
			if young, err := Recover(OS, dir, 10*time.Minute, map[string]bool{pinned: true}); err != nil || len(young) != len(oldTemps)+1 {
				t.Fatalf("Recover with young tombstones removed %v, %v; want the temps and unrefOld", young, err)
			}
			slices.Sort(tc.drop)
			for _, v := range tc.drop {
				touch(t, dir, tomb(v), old)
			}
			for _, f := range oldTemps {
				touch(t, dir, f, old)
			}
			removed, err := Recover(OS, dir, 10*time.Minute, map[string]bool{pinned: true})
			removed = append(removed, filepath.Join(dir, filepath.FromSlash(unrefOld)))
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			want := slices.Concat(tc.wantRemoved, oldTemps)
			for i := range want {
				want[i] = filepath.Join(dir, filepath.FromSlash(want[i]))
			}
			slices.Sort(want)
			slices.Sort(removed)
			if !slices.Equal(removed, want) {
				t.Fatalf("removed\n %v\nwant\n %v", removed, want)
			}
			for _, f := range want {
				if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s still there: %v", f, err)
				}
			}
			for _, f := range slices.Concat(tc.wantKept, keepAlways, []string{youngTemp}) {
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
					t.Errorf("kept file %s: %v", f, err)
				}
			}
			if head, err := Head(OS, dir); err != nil || head.Version != 4 {
				t.Fatalf("Head after Recover = %v, %v", head, err)
			}
			// A second run finds nothing more.
			if again, err := Recover(OS, dir, 10*time.Minute, map[string]bool{pinned: true}); err != nil || len(again) != 0 {
				t.Fatalf("second Recover removed %v, %v", again, err)
			}
		})
	}
}

func TestRecoverCorruptManifestKeepsData(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
	}{
		{"corrupt head", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ManifestName(3)), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"newer format", func(t *testing.T, dir string) {
			m := testManifest(3)
			m.FormatVersion = FormatMultiFile + 1
			data, err := encode(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ManifestName(3)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			old := time.Now().Add(-time.Hour)
			a, b := partPath("01"), partPath("01")
			for v, m := range []*Manifest{manifestWith(1, a), manifestWith(2, b)} {
				if err := Commit(OS, dir, m); err != nil {
					t.Fatalf("commit %d: %v", v+1, err)
				}
			}
			tc.corrupt(t, dir)
			tmp := "_log/.tmp-" + uuid.NewString() + ".json"
			for _, f := range []string{a, b, tmp} {
				touch(t, dir, f, old)
			}
			removed, err := Recover(OS, dir, time.Minute, nil)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Recover: %v, want ErrCorrupt", err)
			}
			if len(removed) != 1 || removed[0] != filepath.Join(dir, tmp) {
				t.Fatalf("removed %v, want only the temp file", removed)
			}
			for _, f := range []string{a, b, ManifestName(1), ManifestName(2)} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}

func TestRecoverWithoutVersionsRemovesNoData(t *testing.T) {
	dir := t.TempDir()
	f := partPath("01")
	touch(t, dir, f, time.Now().Add(-time.Hour))
	removed, err := Recover(OS, dir, time.Minute, nil)
	if err != nil || len(removed) != 0 {
		t.Fatalf("Recover = %v, %v; want nothing removed", removed, err)
	}
}

func touch(t *testing.T, dir, rel string, mtime time.Time) {
	t.Helper()
	name := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(name, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
