package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// treeDigest maps every file under dir (relative path) to its SHA-256.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d files, want %d\nwant %v\ngot  %v", len(got), len(want), want, got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s differs after restore", k)
		}
	}
}

func threeVersions(t *testing.T, st *Store, name string) {
	t.Helper()
	src := t.TempDir()
	ingest(t, st, name, writeFile(t, src, "a.csv", yahooCSV), IngestOptions{})
	ingest(t, st, name, writeFile(t, src, "b.csv", "Date,Open,High,Low,Close,Volume\n2024-02-05,1,2,0.5,1.5,10\n"), IngestOptions{})
	ingest(t, st, name, writeFile(t, src, "c.csv", "Date,Open,High,Low,Close,Volume\n2024-03-05,1,2,0.5,1.5,10\n"), IngestOptions{})
}

func TestTrashRestoreEveryVersionByteIdentical(t *testing.T) {
	st := newTestStore(t, Options{})
	threeVersions(t, st, "yahoo/ES")
	before := treeDigest(t, st.datasetDir("yahoo/ES"))
	if err := st.Delete("yahoo/ES"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat("yahoo/ES"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
	list, err := st.TrashList()
	if err != nil || len(list) != 1 {
		t.Fatalf("trash %v %v", list, err)
	}
	if e := list[0]; e.Name != "yahoo/ES" || e.Versions != 3 || e.HeadVersion != 3 || e.Rows != 5 {
		t.Fatalf("entry %+v", e)
	}
	if _, _, err := st.TrashRestore("yahoo/ES", ""); err != nil {
		t.Fatal(err)
	}
	sameTree(t, before, treeDigest(t, st.datasetDir("yahoo/ES")))
	if e, err := st.Stat("yahoo/ES"); err != nil || e.Version != 3 || e.Rows != 5 {
		t.Fatalf("after restore %+v %v", e, err)
	}
	if list, _ := st.TrashList(); len(list) != 0 {
		t.Fatalf("trash not empty after restore: %v", list)
	}
}

func TestTrashRestoreAsAndRefuseTakenName(t *testing.T) {
	st := newTestStore(t, Options{})
	threeVersions(t, st, "ES")
	before := treeDigest(t, st.datasetDir("ES"))
	if err := st.Delete("ES"); err != nil {
		t.Fatal(err)
	}
	threeVersions(t, st, "ES") // a new ES takes the name
	if _, _, err := st.TrashRestore("ES", ""); !errors.Is(err, ErrExists) {
		t.Fatalf("restore onto a taken name: %v", err)
	}
	if _, _, err := st.TrashRestore("ES", "ES_old"); err != nil {
		t.Fatal(err)
	}
	sameTree(t, before, treeDigest(t, st.datasetDir("ES_old")))
	e, err := st.Stat("ES_old")
	if err != nil || e.Rows != 5 {
		t.Fatalf("ES_old %+v %v", e, err)
	}
	// The restored copy takes new versions under its new name.
	ingest(t, st, "ES_old", writeFile(t, t.TempDir(), "d.csv", "Date,Open,High,Low,Close,Volume\n2024-04-05,1,2,0.5,1.5,10\n"), IngestOptions{})
	if e, _ := st.Stat("ES_old"); e.Version != 4 || e.Rows != 6 {
		t.Fatalf("ES_old after ingest %+v", e)
	}
}

// A dataset that holds other datasets goes to the trash alone; restoring it
// leaves them in place.
func TestTrashNestedDataset(t *testing.T) {
	st := newTestStore(t, Options{})
	threeVersions(t, st, "A")
	threeVersions(t, st, "A/B")
	before := treeDigest(t, st.datasetDir("A"))
	if err := st.Delete("A"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat("A/B"); err != nil {
		t.Fatalf("A/B after deleting A: %v", err)
	}
	if _, _, err := st.TrashRestore("A", ""); err != nil {
		t.Fatal(err)
	}
	sameTree(t, before, treeDigest(t, st.datasetDir("A")))
}

// A crash in the middle of either move is finished by the next Open.
func TestTrashCrashRecovery(t *testing.T) {
	st := newTestStore(t, Options{})
	threeVersions(t, st, "A")
	threeVersions(t, st, "A/B")
	before := treeDigest(t, st.datasetDir("A"))
	// Delete crashed after the rename, before moving A/B back.
	e, err := st.Trash("A", "test")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(st.trashEntryDir(e.ID), trashDataDir)
	if err := os.Rename(st.datasetDir("A/B"), filepath.Join(data, "B")); err != nil {
		t.Fatal(err)
	}
	e.Moving, e.Target = "delete", "A"
	if err := st.writeTrashEntry(e); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.TrashList(); len(list) != 0 {
		t.Fatalf("an unfinished move is listed: %v", list)
	}
	st2, err := Open(st.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := st2.Stat("A/B"); err != nil {
		t.Fatalf("A/B not recovered: %v", err)
	}
	if _, _, err := st2.TrashRestore("A", ""); err != nil {
		t.Fatal(err)
	}
	sameTree(t, before, treeDigest(t, st.datasetDir("A")))
}

func TestTrashEmptyOlderThan(t *testing.T) {
	st := newTestStore(t, Options{})
	threeVersions(t, st, "Old")
	threeVersions(t, st, "New")
	if err := st.Delete("Old"); err != nil {
		t.Fatal(err)
	}
	list, _ := st.TrashList()
	list[0].DeletedAt = time.Now().Add(-48 * time.Hour)
	if err := st.writeTrashEntry(&list[0]); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete("New"); err != nil {
		t.Fatal(err)
	}
	gone, err := st.TrashEmpty(24 * time.Hour)
	if err != nil || len(gone) != 1 || gone[0].Name != "Old" {
		t.Fatalf("emptied %v %v", gone, err)
	}
	// Reopening the store (recovery) never empties the trash.
	st2, err := Open(st.Dir(), Options{Grace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if list, _ := st2.TrashList(); len(list) != 1 || list[0].Name != "New" {
		t.Fatalf("trash after reopen %v", list)
	}
	if gone, _ := st2.TrashEmpty(0); len(gone) != 1 {
		t.Fatalf("empty all: %v", gone)
	}
}
