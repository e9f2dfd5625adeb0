package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"bcfs/metastore"
)

func TestFaultFS(t *testing.T) {
	dir := t.TempDir()
	ffs := New(metastore.OS)
	name := filepath.Join(dir, "f")
	write := func() error {
		f, err := ffs.Create(name)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write([]byte("0123456789"))
		return err
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	if ffs.Count(OpCreate) != 1 || ffs.Count(OpWrite) != 1 || ffs.Count(OpCreate|OpWrite|OpClose) != 3 {
		t.Fatalf("counts create %d write %d", ffs.Count(OpCreate), ffs.Count(OpWrite))
	}

	ffs.Reset()
	ffs.FailAt(OpWrite|OpSync, 1, nil)
	if err := write(); err != nil {
		t.Fatalf("op 0 failed: %v", err)
	}
	if err := write(); !errors.Is(err, ErrInjected) {
		t.Fatalf("op 1: %v, want ErrInjected", err)
	}
	if err := write(); err != nil {
		t.Fatalf("op 2 after a plain fault: %v", err)
	}

	ffs.Reset()
	ffs.CrashAt(OpWrite, 0)
	if err := write(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("crash: %v", err)
	}
	if got, _ := os.ReadFile(name); string(got) != "01234" {
		t.Fatalf("torn write left %q, want the first half", got)
	}
	if _, err := ffs.Stat(name); !errors.Is(err, ErrCrashed) || !ffs.Crashed() {
		t.Fatalf("operation after crash: %v", err)
	}
	if _, err := ffs.Open(name); !errors.Is(err, ErrCrashed) {
		t.Fatalf("open after crash: %v", err)
	}
	if err := ffs.Link(name, name+"2"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("link after crash: %v", err)
	}
	if got := (OpLink | OpRename).String(); got != "link|rename" {
		t.Fatalf("Op.String = %q", got)
	}
}
