package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestCLIExportToStdoutFile: stdout redirected to a regular file gets the
// view written at its offsets after what the file held, and the offset it
// shares with the shell ends after the view, so that the next write goes
// after it (`{ echo; bcfs export; echo; } > f`); a file opened for
// appending (>>) gets the same bytes.
func TestCLIExportToStdoutFile(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	f := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatal(errOut)
	}
	want, _, code := bcfs(t, st, "export", "ES")
	if code != 0 || !strings.HasPrefix(want, "timestamp,open,") || strings.Count(want, "\n") != 3 {
		t.Fatalf("export to a pipe: code %d, %q", code, want)
	}
	for _, flag := range []int{os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND} {
		p := filepath.Join(t.TempDir(), "out.csv")
		out, err := os.OpenFile(p, os.O_CREATE|flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.WriteString("before\n"); err != nil {
			t.Fatal(err)
		}
		var errOut strings.Builder
		cmd := exec.Command(bcfsBin, "--store", st, "export", "ES")
		cmd.Stdout, cmd.Stderr = out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("export > file: %v: %s", err, errOut.String())
		}
		if _, err := out.WriteString("after\n"); err != nil {
			t.Fatal(err)
		}
		out.Close()
		got, err := os.ReadFile(p)
		if err != nil || string(got) != "before\n"+want+"after\n" {
			t.Fatalf("flags %#x: file holds %q, want the view between the lines (%v)", flag, got, err)
		}
	}
}
