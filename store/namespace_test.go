package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseName(t *testing.T) {
	cases := []struct {
		dir, name string
		kind      Kind
		ds        string
		view      View
	}{
		{"", "ES.csv", KindView, "ES", ViewCSV},
		{"yahoo", "AAPL.parquet", KindView, "yahoo/AAPL", ViewParquet},
		{"", "ES.csv.csv", KindView, "ES.csv", ViewCSV},
		{"", ".ES.csv", KindScratch, "", 0},
		{"", "ES.csv~", KindScratch, "", 0},
		{"", "ES.csv.bak", KindScratch, "", 0},
		{"", ".~lock.ES.csv#", KindScratch, "", 0},
		{"", "~$ES.csv", KindScratch, "", 0},
		{"yahoo", "~$AAPL.parquet", KindScratch, "", 0},
		{"", "a=b.csv", KindInvalid, "", 0},
		{"", "_x.csv", KindInvalid, "", 0},
		{"", ".metadata", KindReserved, "", 0},
		{"", ".trash", KindReserved, "", 0},
		{"sub", ".trash", KindScratch, "", 0},
		{"", ".csv", KindScratch, "", 0},
	}
	for _, c := range cases {
		n := ParseName(c.dir, c.name)
		if n.Kind != c.kind || n.Dataset != c.ds || (c.kind == KindView && n.View != c.view) {
			t.Errorf("ParseName(%q, %q) = %+v, want kind %v dataset %q view %v", c.dir, c.name, n, c.kind, c.ds, c.view)
		}
	}
}

// nsFixture is a store with datasets A (3 rows), B (3 rows), folder f with
// f/C, an empty folder e and a scratch file notes.txt.
func nsFixture(t *testing.T) (*Namespace, *Store) {
	t.Helper()
	st := newTestStore(t, Options{})
	src := t.TempDir()
	for _, n := range []string{"A", "B", "f/C"} {
		ingest(t, st, n, writeFile(t, src, "x.csv", yahooCSV), IngestOptions{})
	}
	if err := st.Mkdir("e"); err != nil {
		t.Fatal(err)
	}
	ns := NewNamespace(st)
	if err := os.WriteFile(ns.ScratchPath("notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	return ns, st
}

func mustClassify(t *testing.T, ns *Namespace, dir, name string) Name {
	t.Helper()
	n, err := ns.Classify(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func rows(st *Store, name string) int64 {
	e, err := st.Stat(name)
	if err != nil {
		return -1
	}
	return e.Rows
}

func TestNamespaceUnlinkPerKind(t *testing.T) {
	const pid, other = 100, 200
	cases := []struct {
		name    string
		dir, nm string
		want    error
		check   func(t *testing.T, ns *Namespace, st *Store)
	}{
		{"view goes to the trash", "", "A.csv", nil, func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "A") != -1 {
				t.Fatal("A still there")
			}
			if l, _ := st.TrashList(); len(l) != 1 || l[0].Name != "A" || l[0].Rows != 3 {
				t.Fatalf("trash %+v", l)
			}
			// rm A.csv A.parquet: the second name of the same dataset.
			if err := ns.Unlink(mustClassify(t, ns, "", "A.parquet"), pid); err != nil {
				t.Fatalf("second view: %v", err)
			}
			if err := ns.Unlink(mustClassify(t, ns, "", "A.parquet"), pid); !errors.Is(err, ErrNotFound) {
				t.Fatalf("third unlink: %v", err)
			}
		}},
		{"nested view", "f", "C.parquet", nil, func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "f/C") != -1 {
				t.Fatal("f/C still there")
			}
		}},
		{"missing view", "", "Z.csv", ErrNotFound, nil},
		{"folder", "", "f", ErrIsFolder, nil},
		{"metadata", "", ".metadata", ErrNotPermitted, nil},
		{"scratch", "", "notes.txt", nil, func(t *testing.T, ns *Namespace, st *Store) {
			if _, err := os.Stat(ns.ScratchPath("notes.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("scratch file still there")
			}
		}},
		{"missing scratch", "", "nope.txt", os.ErrNotExist, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns, st := nsFixture(t)
			err := ns.Unlink(mustClassify(t, ns, c.dir, c.nm), pid)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("unlink: %v, want %v", err, c.want)
			}
			if c.check != nil {
				c.check(t, ns, st)
			}
		})
	}
	t.Run("other process's second view is not found", func(t *testing.T) {
		ns, _ := nsFixture(t)
		if err := ns.Unlink(mustClassify(t, ns, "", "A.csv"), pid); err != nil {
			t.Fatal(err)
		}
		if err := ns.Unlink(mustClassify(t, ns, "", "A.parquet"), other); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v", err)
		}
	})
}

func TestNamespaceRecreateIsOverwrite(t *testing.T) {
	const pid, other = 100, 200
	ns, st := nsFixture(t)
	clock := time.Now()
	ns.now = func() time.Time { return clock }
	a := mustClassify(t, ns, "", "A.csv")
	if err := ns.Unlink(a, pid); err != nil {
		t.Fatal(err)
	}
	// Another process creating the name makes a new dataset.
	if ok, _, err := ns.PrepareWrite(a, other); ok || err != nil {
		t.Fatalf("other process: exists %v err %v", ok, err)
	}
	// The remover creating it again gets the dataset back.
	if ok, restored, err := ns.PrepareWrite(a, pid); !ok || !restored || err != nil {
		t.Fatalf("same process: exists %v restored %v err %v", ok, restored, err)
	}
	if ok, restored, err := ns.PrepareWrite(a, pid); !ok || restored || err != nil {
		t.Fatalf("existing: exists %v restored %v err %v", ok, restored, err)
	}
	if rows(st, "A") != 3 {
		t.Fatalf("A has %d rows after recreate", rows(st, "A"))
	}
	// Past the window a create is a create.
	if err := ns.Unlink(a, pid); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(RecreateWindow + time.Second)
	if ok, _, err := ns.PrepareWrite(a, pid); ok || err != nil {
		t.Fatalf("after window: exists %v err %v", ok, err)
	}
	if l, _ := st.TrashList(); len(l) != 1 {
		t.Fatalf("trash %v", l)
	}
}

func TestNamespaceRenamePerKind(t *testing.T) {
	const pid = 100
	ctx := context.Background()
	cases := []struct {
		name      string
		sdir, src string
		ddir, dst string
		flags     RenameFlags
		want      error
		action    string
		check     func(t *testing.T, ns *Namespace, st *Store)
	}{
		{"view onto same dataset", "", "A.csv", "", "A.parquet", RenameFlags{}, nil, "noop", func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "A") != 3 {
				t.Fatal("A changed")
			}
		}},
		{"view onto free name, other extension", "", "A.parquet", "", "Y.csv", RenameFlags{}, nil, "rename", func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "A") != -1 || rows(st, "Y") != 3 {
				t.Fatal("not renamed")
			}
		}},
		{"view into folder", "", "A.csv", "f", "A.csv", RenameFlags{}, nil, "rename", func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "f/A") != 3 {
				t.Fatal("not moved")
			}
		}},
		{"view onto existing dataset merges", "", "A.csv", "", "B.csv", RenameFlags{}, nil, "merge", func(t *testing.T, ns *Namespace, st *Store) {
			// A's rows carry symbol A, so they add to B's (as cp A.csv B.csv would).
			if rows(st, "A") != -1 || rows(st, "B") != 6 {
				t.Fatalf("A %d B %d", rows(st, "A"), rows(st, "B"))
			}
			if l, _ := st.TrashList(); len(l) != 1 || l[0].Name != "A" || !strings.Contains(l[0].Reason, "merged into B") {
				t.Fatalf("trash %+v", l)
			}
		}},
		{"noreplace onto existing dataset", "", "A.csv", "", "B.csv", RenameFlags{NoReplace: true}, ErrExists, "", nil},
		{"view onto folder", "", "A.csv", "", "f", RenameFlags{}, ErrIsFolder, "", nil},
		{"view to backup name", "", "A.csv", "", "A.csv.bak", RenameFlags{}, nil, "backup", func(t *testing.T, ns *Namespace, st *Store) {
			b, err := os.ReadFile(ns.ScratchPath("A.csv.bak"))
			if err != nil || strings.Count(string(b), "\n") != 4 {
				t.Fatalf("backup %q %v", b, err)
			}
			if rows(st, "A") != -1 {
				t.Fatal("A still there")
			}
			// The editor writes A.csv again: the dataset comes back and merges.
			if ok, _, err := ns.PrepareWrite(mustClassify(t, ns, "", "A.csv"), pid); !ok || err != nil {
				t.Fatalf("recreate %v %v", ok, err)
			}
		}},
		{"scratch onto view ingests", "", "new.txt", "", "B.csv", RenameFlags{}, nil, "ingest", func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "B") != 4 {
				t.Fatalf("B has %d rows", rows(st, "B"))
			}
		}},
		{"scratch onto scratch", "", "notes.txt", "", "n2.txt", RenameFlags{}, nil, "scratch", nil},
		{"scratch onto folder", "", "notes.txt", "", "f", RenameFlags{}, ErrIsFolder, "", nil},
		{"folder rename", "", "f", "", "g", RenameFlags{}, nil, "folder", func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "g/C") != 3 || rows(st, "f/C") != -1 {
				t.Fatal("folder not moved")
			}
		}},
		{"folder onto empty folder", "", "f", "", "e", RenameFlags{}, nil, "folder", func(t *testing.T, ns *Namespace, st *Store) {
			if rows(st, "e/C") != 3 {
				t.Fatal("folder not moved")
			}
		}},
		{"folder into itself", "", "f", "f", "sub", RenameFlags{}, ErrNotPermitted, "", nil},
		{"folder onto view name", "", "f", "", "f.csv", RenameFlags{}, ErrNotPermitted, "", nil},
		{"folder onto scratch file", "", "f", "", "notes.txt", RenameFlags{}, ErrNotFolder, "", nil},
		{"into .metadata", "", "A.csv", "", ".metadata", RenameFlags{}, ErrNotPermitted, "", nil},
		{"exchange of views", "", "A.csv", "", "B.csv", RenameFlags{Exchange: true}, ErrNotPermitted, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns, st := nsFixture(t)
			if err := os.WriteFile(ns.ScratchPath("new.txt"), []byte("Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-05,1,2,0.5,1.5,1.5,10\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := ns.Rename(ctx, mustClassify(t, ns, c.sdir, c.src), mustClassify(t, ns, c.ddir, c.dst), pid, c.flags)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("rename: %v, want %v", err, c.want)
			}
			if res.Action != c.action {
				t.Fatalf("action %q, want %q", res.Action, c.action)
			}
			if c.check != nil {
				c.check(t, ns, st)
			}
		})
	}
}

func TestNamespaceCreatingListsViewNames(t *testing.T) {
	ns, _ := nsFixture(t)
	end := ns.BeginCreate("yahoo/NEW", ViewCSV)
	end2 := ns.BeginCreate("NEW2", ViewParquet)
	if got := ns.Creating("yahoo"); len(got) != 1 || got[0] != "NEW.csv" {
		t.Fatalf("creating in yahoo: %v", got)
	}
	if got := ns.Creating(""); len(got) != 1 || got[0] != "NEW2.parquet" {
		t.Fatalf("creating in root: %v", got)
	}
	end()
	end()
	end2()
	if got := ns.Creating("yahoo"); len(got) != 0 {
		t.Fatalf("after end: %v", got)
	}
}

func TestNamespaceMkdirRmdir(t *testing.T) {
	ns, st := nsFixture(t)
	if err := ns.Mkdir(mustClassify(t, ns, "", "x.csv")); !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("mkdir x.csv: %v", err)
	}
	if err := ns.Mkdir(mustClassify(t, ns, "", "notes.txt")); !errors.Is(err, ErrExists) {
		t.Fatalf("mkdir over scratch: %v", err)
	}
	if err := ns.Rmdir(mustClassify(t, ns, "", "f")); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("rmdir f: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(ns.ScratchPath("e/x")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ns.Rmdir(mustClassify(t, ns, "", "e")); err != nil {
		t.Fatalf("rmdir e: %v", err)
	}
	if ok, _ := ns.FolderExists("e"); ok {
		t.Fatal("e still there")
	}
	_ = st
}
