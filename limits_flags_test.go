package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The memory limits are settable from the command line (and the
// environment): a 2 MiB field is refused under --max-record-mb 1, with the
// limit in the message and nothing committed, and accepted under the default.
func TestCLIMemoryLimitFlags(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,note\n")
	fmt.Fprintf(&b, "2024-01-02 00:00:00,1,2,0.5,1,100,%s\n", strings.Repeat("x", 2<<20))
	b.WriteString("2024-01-02 00:01:00,1,2,0.5,1,100,small\n")
	f := filepath.Join(dir, "wide.csv")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	_, stderr, code := bcfs(t, st, "ingest", f, "--max-record-mb", "1")
	if code != 1 || !strings.Contains(stderr, "record limit of 1 MiB") || !strings.Contains(stderr, "wide.csv") {
		t.Fatalf("--max-record-mb 1: exit %d, stderr %q; want exit 1 naming the file and the 1 MiB limit", code, stderr)
	}
	if _, _, code := bcfs(t, st, "export", "wide"); code != 1 {
		t.Fatalf("export after a refused ingest: exit %d, want 1 (no dataset)", code)
	}

	t.Setenv("BCFS_MAX_RECORD_MB", "1")
	if _, stderr, code := bcfs(t, st, "ingest", f); code != 1 || !strings.Contains(stderr, "record limit of 1 MiB") {
		t.Fatalf("BCFS_MAX_RECORD_MB=1: exit %d, stderr %q; want exit 1 naming the limit", code, stderr)
	}
	t.Setenv("BCFS_MAX_RECORD_MB", "")

	if _, stderr, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatalf("default limits: exit %d, stderr %q", code, stderr)
	}
	out, _, code := bcfs(t, st, "export", "wide")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, strings.Repeat("x", 2<<20)) {
		t.Fatalf("export: exit %d, %d lines; want the header and both rows with the whole field", code, strings.Count(out, "\n"))
	}

	if _, stderr, code := bcfs(t, st, "ingest", f, "--max-batch-mb", "-1"); code != 1 || !strings.Contains(stderr, "--max-batch-mb") {
		t.Fatalf("--max-batch-mb -1: exit %d, stderr %q; want a usage error", code, stderr)
	}
}
