package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCLIExportIntoFIFO: -o naming a FIFO (or a device such as /dev/null)
// writes into it; the temporary-file-and-rename used for regular files
// would replace it with a regular file.
func TestCLIExportIntoFIFO(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	f := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatal(errOut)
	}
	want, _, code := bcfs(t, st, "export", "ES")
	if code != 0 || len(want) < 100 {
		t.Fatalf("export to stdout: code %d, %q", code, want)
	}
	fifo := filepath.Join(t.TempDir(), "out.csv")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		r, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	if _, errOut, code := bcfs(t, st, "export", "-o", fifo, "ES"); code != 0 {
		t.Fatalf("export -o FIFO: code %d: %s", code, errOut)
	}
	if g := <-got; g != want {
		t.Fatalf("read from the FIFO %q, want %q", g, want)
	}
	fi, err := os.Lstat(fifo)
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("after export the FIFO is %v (%v), want it still a FIFO", fi.Mode(), err)
	}
}
