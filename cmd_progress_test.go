package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	var buf testLog
	var done atomic.Int64
	done.Store(50 << 20)
	stop := runProgress(&buf, "ingest big.csv", 200<<20, &done, 0, time.Millisecond)
	waitFor(t, 10*time.Second, "a progress line", func() bool { return strings.Contains(buf.String(), "%") })
	stop()
	out := buf.String()
	if !strings.Contains(out, "\r\x1b[Kingest big.csv 52 MB of 210 MB (25%), ") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Fatalf("progress output %q", out)
	}
	// A run shorter than the delay draws nothing.
	var quiet testLog
	runProgress(&quiet, "x", 1, &done, time.Hour, time.Millisecond)()
	if quiet.String() != "" {
		t.Fatalf("short run drew %q", quiet.String())
	}
}

// TestCLIProgressOnlyOnATerminal runs a long ingest with stderr on a
// pseudo-terminal (script(1)) and on a pipe.
func TestCLIProgressOnlyOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		requireOrSkip(t, "script(1) missing (apt-get install bsdutils)")
	}
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&b, "%s,1.5,2.25,1.25,2,%d,ES\n", t0.Add(time.Duration(i)*time.Minute).Format(time.DateTime), i)
	}
	big := write(t, dir, "big.csv", b.String())
	st := filepath.Join(dir, "store")
	cmd := exec.Command("script", "-qefc", bcfsBin+" --store "+st+" ingest --dry-run "+big, "/dev/null")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ingest "+big+" ") || !strings.Contains(out.String(), "%), ") {
		t.Fatalf("no progress on a terminal:\n%q", out.String())
	}
	_, errOut, code := bcfs(t, st, "ingest", "--dry-run", big)
	if code != 0 || errOut != "" {
		t.Fatalf("stderr on a pipe: exit %d %q", code, errOut)
	}
}
