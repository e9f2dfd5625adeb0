package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bcfs/metastore"
)

// TestFailedFirstIngestIsFindable: a name that never committed still gets
// .metadata/NAME.json with its last_error (file, line, column, value), the
// failure is in errors.json, and another Store on the same folder (another
// process) sees both; no dataset or folder appears.
func TestFailedFirstIngestIsFindable(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.csv", yahooCSV+"2024-01-05,13,15,12,oops,14,400\n")
	if _, err := st.Ingest(context.Background(), "new/X", bad, IngestOptions{Source: "X.csv"}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("bad ingest: %v, want ErrBadInput", err)
	}
	if _, err := st.Stat("new/X"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat after failed first ingest: %v", err)
	}
	if folders, _ := st.Folders(); slices.Contains(folders, "new/X") {
		t.Fatalf("failed first ingest left a folder: %v", folders)
	}
	other, err := Open(st.dir, Options{}) // a second process on the same store
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, s := range []*Store{st, other} {
		if k, err := s.MetadataKind("new/X.json"); k != MetaFile || err != nil {
			t.Fatalf("kind of new/X.json = %v, %v", k, err)
		}
		if k, err := s.MetadataKind("new"); k != MetaDir || err != nil {
			t.Fatalf("kind of new = %v, %v", k, err)
		}
		if _, dirs, err := s.MetadataDir(""); err != nil || !slices.Contains(dirs, "new") {
			t.Fatalf("root dirs %v, %v", dirs, err)
		}
		if files, _, err := s.MetadataDir("new"); err != nil || !slices.Equal(files, []string{"X.json"}) {
			t.Fatalf("new/ files %v, %v", files, err)
		}
		doc, err := s.MetadataDoc("new/X.json")
		if err != nil {
			t.Fatal(err)
		}
		var d metastore.DatasetDoc
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		le := d.LastError
		if le == nil || d.Version != 0 || d.Filepath != "new/X" {
			t.Fatalf("doc of a failed first ingest:\n%s", doc)
		}
		if le.File != "X.csv" || le.Line != 5 || le.Column != 5 || le.Value != "oops" || le.Dataset != "new/X" {
			t.Fatalf("last_error %+v, want X.csv line 5 column 5 value oops", le)
		}
		var fails []metastore.LastError
		doc, err = s.MetadataDoc(DocErrors)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(doc, &fails); err != nil {
			t.Fatal(err)
		}
		if len(fails) != 1 || fails[0] != *le {
			t.Fatalf("errors.json %+v, want [%+v]", fails, le)
		}
	}
	// Once the name commits its document is the dataset's, with the
	// failure kept as its last error.
	ingest(t, st, "new/X", writeFile(t, dir, "good.csv", yahooCSV), IngestOptions{})
	doc, err := other.MetadataDoc("new/X.json")
	if err != nil {
		t.Fatal(err)
	}
	var d metastore.DatasetDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if d.Version != 1 || d.RowCount != 3 {
		t.Fatalf("doc after commit: version %d rows %d", d.Version, d.RowCount)
	}
}

// TestFailureOfExistingDataset: a failed merge into a dataset records its
// last_error and the store's log, and changes no data.
func TestFailureOfExistingDataset(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "A", writeFile(t, dir, "a.csv", yahooCSV), IngestOptions{})
	bad := writeFile(t, dir, "b.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n2024-02-01,1,2,3,1.5,1.5,10\n")
	if _, err := st.Ingest(context.Background(), "A", bad, IngestOptions{Source: "A.csv"}); err == nil {
		t.Fatal("OHLC-inconsistent row accepted")
	}
	fails, err := st.Failures()
	if err != nil || len(fails) != 1 {
		t.Fatalf("failures %+v, %v", fails, err)
	}
	if f := fails[0]; f.Dataset != "A" || f.File != "A.csv" || f.Line != 2 || f.Error == "" {
		t.Fatalf("failure %+v, want A.csv line 2", f)
	}
	doc, err := st.datasetDoc("A")
	if err != nil || doc.LastError == nil || *doc.LastError != fails[0] || doc.RowCount != 3 {
		t.Fatalf("doc %+v, %v", doc, err)
	}
	// A failure recorded by another process shows in this one's (cached)
	// log at once.
	other, err := Open(st.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Ingest(context.Background(), "B", bad, IngestOptions{Source: "B.csv"}); err == nil {
		t.Fatal("bad file accepted")
	}
	if fails, err := st.Failures(); err != nil || len(fails) != 2 || fails[1].Dataset != "B" {
		t.Fatalf("failures after another process failed: %+v, %v", fails, err)
	}
	if k, err := st.MetadataKind("B.json"); k != MetaFile || err != nil {
		t.Fatalf("B.json: %v, %v", k, err)
	}
}

// TestFailureLogIsBounded: the store keeps the newest MaxFailures failures.
func TestFailureLogIsBounded(t *testing.T) {
	st := newTestStore(t, Options{})
	bad := writeFile(t, t.TempDir(), "bad.csv", "not,a,bar,file\n1,2,3,4\n")
	n := metastore.MaxFailures + 5
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("D%03d", i)
		if _, err := st.Ingest(context.Background(), name, bad, IngestOptions{Source: name + ".csv"}); err == nil {
			t.Fatal("bad file accepted")
		}
	}
	fails, err := st.Failures()
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != metastore.MaxFailures {
		t.Fatalf("%d failures kept, want %d", len(fails), metastore.MaxFailures)
	}
	if fails[0].Dataset != "D005" || fails[len(fails)-1].Dataset != fmt.Sprintf("D%03d", n-1) {
		t.Fatalf("kept %s..%s, want the newest", fails[0].Dataset, fails[len(fails)-1].Dataset)
	}
	ents, err := os.ReadDir(filepath.Join(st.dir, metastore.FailuresDir))
	if err != nil || len(ents) != metastore.MaxFailures {
		t.Fatalf("%d files in the failure log, %v", len(ents), err)
	}
	if k, _ := st.MetadataKind("D000.json"); k != MetaNone {
		t.Fatalf("a dropped failure still answers: %v", k)
	}
}

// TestMetadataKindAndDir: what each name in .metadata/ is, read one folder
// at a time.
func TestMetadataKindAndDir(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	for _, n := range []string{"A", "yahoo", "yahoo/AAPL", "deep/er/B"} {
		ingest(t, st, n, writeFile(t, dir, "x.csv", yahooCSV), IngestOptions{})
	}
	if err := st.Mkdir("empty"); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]MetaKind{
		"A.json": MetaFile, "A": MetaNone, "yahoo.json": MetaFile, "yahoo": MetaDir,
		"yahoo/AAPL.json": MetaFile, "yahoo/AAPL": MetaNone, "deep": MetaDir, "deep/er": MetaDir,
		"deep.json": MetaNone, "deep/er/B.json": MetaFile, "empty": MetaDir, "nope.json": MetaNone,
		"yahoo/index.json": MetaNone, "../x.json": MetaNone, "A.csv": MetaNone,
	}
	for _, d := range fixedDocs { // index.json, errors.json, ...
		kinds[d] = MetaFile
	}
	for p, want := range kinds {
		if got, err := st.MetadataKind(p); got != want || err != nil {
			t.Errorf("MetadataKind(%q) = %v, %v; want %v", p, got, err, want)
		}
		got, doc, err := st.MetadataLookup(p)
		if got != want || err != nil || (want == MetaFile) != (doc != nil) {
			t.Errorf("MetadataLookup(%q) = %v, %d bytes, %v; want %v", p, got, len(doc), err, want)
		}
		if want == MetaFile && p != DocCache {
			if again, err := st.MetadataDoc(p); err != nil || string(again) != string(doc) {
				t.Errorf("MetadataLookup(%q) rendered another document than MetadataDoc: %v", p, err)
			}
		}
	}
	for prefix, want := range map[string][2][]string{
		"":        {sorted(append([]string{"A.json", "yahoo.json"}, fixedDocs...)), {"deep", "empty", "yahoo"}},
		"yahoo":   {{"AAPL.json"}, nil},
		"deep":    {nil, {"er"}},
		"deep/er": {{"B.json"}, nil},
	} {
		files, dirs, err := st.MetadataDir(prefix)
		if err != nil || !slices.Equal(files, want[0]) || !slices.Equal(dirs, want[1]) {
			t.Errorf("MetadataDir(%q) = %v %v, %v; want %v %v", prefix, files, dirs, err, want[0], want[1])
		}
	}
	names, err := st.MetadataNames()
	if err != nil {
		t.Fatal(err)
	}
	want := append(sorted(fixedDocs), "A.json", "deep/er/B.json", "yahoo.json", "yahoo/AAPL.json")
	if !slices.Equal(names, want) {
		t.Fatalf("MetadataNames = %v, want %v", names, want)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestMetadataDocRecent: index.json for a size may come from a recent
// rendering; MetadataDoc (what an open reads) is always current.
func TestMetadataDocRecent(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "A", writeFile(t, dir, "a.csv", yahooCSV), IngestOptions{})
	first, err := st.MetadataDoc(DocIndex)
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, st, "B", writeFile(t, dir, "b.csv", yahooCSV), IngestOptions{})
	if got, err := st.MetadataDocRecent(DocIndex, time.Hour); err != nil || string(got) != string(first) {
		t.Fatalf("recent index.json: %v\n%s", err, got)
	}
	fresh, err := st.MetadataDoc(DocIndex)
	if err != nil || !strings.Contains(string(fresh), `"B"`) {
		t.Fatalf("index.json after B: %v\n%s", err, fresh)
	}
	if got, _ := st.MetadataDocRecent(DocIndex, time.Hour); string(got) != string(fresh) {
		t.Fatal("a fresh rendering did not replace the remembered one")
	}
	if got, _ := st.MetadataDocRecent("B.json", time.Hour); !strings.Contains(string(got), `"filepath": "B"`) {
		t.Fatalf("B.json: %s", got)
	}
}
