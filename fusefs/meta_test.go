package fusefs

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bcfs/store"
)

// TestFailedWriteIsFindable: cp of a bad file onto a new name fails, no
// dataset appears, and .metadata/ has the name's document with last_error
// (file, line, column, value) and the failure in errors.json; find lists
// both.
func TestFailedWriteIsFindable(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 10, "ES", "ibkr")))
	})
	bad := writeFile(t, t.TempDir(), "bad.csv", genBars(day, 3, "NQ", "ibkr")+"2024-01-02 15:00:00,1,2,0.5,zzz,10,NQ,ibkr\n")
	if err := os.MkdirAll(filepath.Join(m.mnt, "fut"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", bad, filepath.Join(m.mnt, "fut", "NQ.csv")).CombinedOutput(); err == nil {
		t.Fatalf("cp of a bad file succeeded: %s", out)
	}
	if _, err := m.st.Stat("fut/NQ"); err == nil {
		t.Fatal("a failed first write made a dataset")
	}
	type failure struct {
		Dataset, File, Value, Error string
		Line                        int64
		Column                      int
	}
	check := func(f *failure) {
		t.Helper()
		if f == nil || f.Dataset != "fut/NQ" || f.File != "NQ.csv" || f.Line != 5 || f.Column != 5 || f.Value != "zzz" {
			t.Fatalf("failure %+v, want fut/NQ NQ.csv line 5 column 5 value zzz", f)
		}
	}
	var doc struct {
		Version   int64    `json:"version"`
		LastError *failure `json:"last_error"`
	}
	b, err := os.ReadFile(filepath.Join(m.mnt, ".metadata", "fut", "NQ.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if doc.Version != 0 {
		t.Fatalf("version %d of a name that never committed", doc.Version)
	}
	check(doc.LastError)
	var fails []failure
	b, err = os.ReadFile(filepath.Join(m.mnt, ".metadata", "errors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fails); err != nil || len(fails) != 1 {
		t.Fatalf("errors.json %s: %v", b, err)
	}
	check(&fails[0])
	out, err := exec.Command("find", filepath.Join(m.mnt, ".metadata")).CombinedOutput()
	if err != nil {
		t.Fatalf("find: %v: %s", err, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		got = append(got, strings.TrimPrefix(l, filepath.Join(m.mnt, ".metadata")))
	}
	// The fixed documents (index.json, errors.json, ...), the dataset, the
	// failed name and its folder.
	fixed, _, err := m.st.MetadataDir("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "/fut", "/fut/NQ.json"}
	for _, f := range fixed {
		want = append(want, "/"+f)
	}
	for _, f := range []string{"/ES.json", "/errors.json", "/index.json"} {
		if !slices.Contains(want, f) {
			t.Fatalf(".metadata/ has no %s: %v", f, fixed)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("find .metadata = %v, want %v", got, want)
	}
	// Every size ls reports is the size a read returns.
	for _, p := range want[1:] {
		p = filepath.Join(m.mnt, ".metadata", p)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() || strings.HasSuffix(p, "cache.json") || strings.HasSuffix(p, "backups.json") || strings.HasSuffix(p, "cleanup.json") { // cache.json counts reads
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil || int64(len(b)) != fi.Size() {
			t.Fatalf("%s: size %d, read %d bytes, %v", p, fi.Size(), len(b), err)
		}
	}
}
