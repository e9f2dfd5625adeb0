package store

import (
	"path"
	"slices"
	"testing"
)

// TestListFolderAgreesWithFullListing: reading one folder at a time gives
// the same datasets and folders as List and Folders, which walk the store.
func TestListFolderAgreesWithFullListing(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	for _, n := range []string{"A", "yahoo", "yahoo/AAPL", "yahoo/MSFT", "deep/er/B", "deep/C", "x/y/z/D"} {
		ingest(t, st, n, writeFile(t, dir, "x.csv", yahooCSV), IngestOptions{})
	}
	for _, f := range []string{"empty", "deep/er/empty", "A/sub"} {
		if err := st.Mkdir(f); err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	folders, err := st.Folders()
	if err != nil {
		t.Fatal(err)
	}
	parent := func(p string) string {
		if d := path.Dir(p); d != "." {
			return d
		}
		return ""
	}
	for _, f := range append([]string{""}, folders...) {
		var wantDS, wantF, gotDS []string
		for _, e := range all {
			if parent(e.Name) == f {
				wantDS = append(wantDS, e.Name)
			}
		}
		for _, g := range folders {
			if parent(g) == f {
				wantF = append(wantF, g)
			}
		}
		ds, fs, err := st.ListFolder(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ds {
			gotDS = append(gotDS, e.Name)
			if e.Version != 1 || e.Rows != 3 || e.CSVSize == 0 {
				t.Errorf("entry %+v", e)
			}
		}
		if !slices.Equal(gotDS, wantDS) || !slices.Equal(fs, wantF) {
			t.Errorf("ListFolder(%q) = %v %v; want %v %v", f, gotDS, fs, wantDS, wantF)
		}
		if ok, err := st.FolderExists(f); !ok || err != nil {
			t.Errorf("FolderExists(%q) = %v, %v", f, ok, err)
		}
	}
	for _, n := range []string{"yahoo/AAPL", "deep/C", "nope", "deep/nope", "../x", "A/_log"} {
		if ok, err := st.FolderExists(n); ok || err != nil {
			t.Errorf("FolderExists(%q) = %v, %v; want false", n, ok, err)
		}
	}
}
