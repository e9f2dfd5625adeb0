package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"bcfs/backend/s3test"
)

// TestErrorsCommand: a failed ingest of a new name is listed by `bcfs
// errors` (text and JSON) with its file, line, column and value, and the
// dataset's metadata has it as last_error although the name never committed.
func TestErrorsCommand(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	dir := t.TempDir()
	if _, stderr, code := bcfs(t, store, "ingest", "-d", "ok", write(t, dir, "ok.csv", ibkrCSV)); code != 0 {
		t.Fatalf("ingest: %d %s", code, stderr)
	}
	if out, _, code := bcfs(t, store, "errors"); code != 0 || !strings.Contains(out, "no failed writes") {
		t.Fatalf("errors on a clean store: %d %q", code, out)
	}
	bad := write(t, dir, "bad.csv", ibkrCSV+"20240102  09:32:00,101.5,102,xyz,101,100,101,5\n")
	if _, _, code := bcfs(t, store, "ingest", "-d", "fresh", bad); code != 1 {
		t.Fatalf("bad ingest exit %d, want 1", code)
	}
	out, stderr, code := bcfs(t, store, "errors", "--json")
	if code != 0 {
		t.Fatalf("errors --json: %d %s", code, stderr)
	}
	var fails []struct {
		Dataset, File, Value, Error string
		Line                        int64
		Column                      int
	}
	if err := json.Unmarshal([]byte(out), &fails); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(fails) != 1 || fails[0].Dataset != "fresh" || fails[0].Line != 4 || fails[0].Column != 4 || fails[0].Value != "xyz" ||
		!strings.HasSuffix(fails[0].File, "bad.csv") {
		t.Fatalf("errors --json = %s", out)
	}
	out, _, code = bcfs(t, store, "errors")
	if code != 0 || !strings.Contains(out, "fresh") || !strings.Contains(out, `"xyz"`) || !strings.Contains(out, "bad.csv:4") {
		t.Fatalf("errors: %d %s", code, out)
	}
	if out, _, _ := bcfs(t, store, "errors", "ok"); !strings.Contains(out, "no failed writes") {
		t.Fatalf("errors ok: %s", out)
	}
	out, _, code = bcfs(t, store, "stats", "--json", "fresh")
	if code != 0 || !strings.Contains(out, `"last_error": {`) || !strings.Contains(out, `"xyz"`) {
		t.Fatalf("stats fresh: %d %s", code, out)
	}
}

// TestErrorsCommandOnS3: failures are recorded in a store kept in a bucket
// and another process (another machine's work folder) lists them, bounded.
func TestErrorsCommandOnS3(t *testing.T) {
	s3test.Start(t, "errs")
	t.Chdir(t.TempDir())
	a, b := newS3CLI(t, "s3://errs/bars"), newS3CLI(t, "s3://errs/bars")
	src := t.TempDir()
	a.ok("ingest", "--dataset", "ok", write(t, src, "ok.csv", ibkrCSV))
	bad := write(t, src, "bad.csv", ibkrCSV+"20240102  09:32:00,101.5,102,xyz,101,100,101,5\n")
	if _, _, code := a.run("ingest", "--dataset", "fresh", bad); code != 1 {
		t.Fatalf("bad ingest exit %d, want 1", code)
	}
	if _, _, code := a.run("ingest", "--dataset", "ok", bad); code != 1 {
		t.Fatalf("bad ingest exit %d, want 1", code)
	}
	var fails []struct {
		Dataset, Value string
		Line           int64
	}
	out := b.ok("errors", "--json")
	if err := json.Unmarshal([]byte(out), &fails); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(fails) != 2 || fails[0].Dataset != "fresh" || fails[1].Dataset != "ok" || fails[1].Value != "xyz" || fails[1].Line != 4 {
		t.Fatalf("errors --json on S3 = %s", out)
	}
	if out := b.ok("stats", "--json", "fresh"); !strings.Contains(out, `"xyz"`) {
		t.Fatalf("stats fresh on S3: %s", out)
	}
}
