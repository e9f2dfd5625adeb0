package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/backend/s3test"
)

// TestS3AppendsAndCompaction: daily updates into a store on S3 append
// files to the year partition; export, every version, verify, backup and
// restore show the same bytes as a local store with appends off
// (BCFS_APPEND=0); cleanup --dry-run reports the compaction due, bcfs
// compact folds the files, and the export stays byte-identical.
func TestS3AppendsAndCompaction(t *testing.T) {
	srv := s3test.Start(t, "desk")
	c := newS3CLI(t, "s3://desk/bars")
	peer := filepath.Join(t.TempDir(), "peer")
	peerOK := func(args ...string) string {
		t.Helper()
		t.Setenv("BCFS_APPEND", "0")
		defer t.Setenv("BCFS_APPEND", "1")
		out, errOut, code := bcfs(t, peer, args...)
		if code != 0 {
			t.Fatalf("peer bcfs %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	src := t.TempDir()
	t0 := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	files := []string{write(t, src, "base.csv", barsCSV(t0, 600, "ES"))}
	for d := 1; d <= 3; d++ {
		files = append(files, write(t, src, fmt.Sprintf("d%d.csv", d), barsCSV(t0.AddDate(0, 0, d), 100, "ES")))
	}
	for _, f := range files {
		c.ok("ingest", "--dataset", "ES", f)
		peerOK("ingest", "--dataset", "ES", f)
	}
	month := filepath.Join(srv.Dir(), "desk", "bars", "datasets", "ES", "year=2024", "*.parquet")
	if m, _ := filepath.Glob(month); len(m) != 4 {
		t.Fatalf("objects of the 2024 partition: %d, want 4 (one per update; auto granularity is year)", len(m))
	}
	if m, _ := filepath.Glob(filepath.Join(peer, "datasets", "ES", "year=2024", "*.parquet")); len(m) < 1 {
		t.Fatal("the peer store has no partition file")
	}
	exported := c.ok("export", "ES")
	if n := strings.Count(exported, "\n"); n != 901 {
		t.Fatalf("export: %d lines, want 901", n)
	}
	if want := peerOK("export", "ES"); exported != want {
		t.Fatal("the S3 store with appends exports other bytes than the full-rewrite peer")
	}
	for v := 1; v <= 4; v++ {
		if got, want := c.ok("export", "--version", fmt.Sprint(v), "ES"), peerOK("export", "--version", fmt.Sprint(v), "ES"); got != want {
			t.Fatalf("version %d differs from the peer's", v)
		}
	}
	c.ok("verify")
	if out := c.ok("cleanup", "--dry-run", "--json"); !strings.Contains(out, `"partitions_compacted": 1`) {
		t.Fatalf("cleanup --dry-run:\n%s", out)
	}
	if out := c.ok("compact", "--dry-run", "ES"); !strings.Contains(out, "would fold 4 files of 1 partition(s) into 1") {
		t.Fatalf("compact --dry-run: %s", out)
	}
	if out := c.ok("compact", "ES"); !strings.Contains(out, "folded 4 files of 1 partition(s) into 1") || !strings.Contains(out, "version 5") {
		t.Fatalf("compact: %s", out)
	}
	if got := c.ok("export", "ES"); got != exported {
		t.Fatal("compaction changed the export")
	}
	if _, errOut, code := c.run("compact", "NOPE"); code == 0 || !strings.Contains(errOut, "NOPE") {
		t.Fatalf("compact of a missing dataset: exit %d: %s", code, errOut)
	}
	if out := c.ok("log", "ES"); !strings.Contains(out, "compaction") {
		t.Fatalf("log:\n%s", out)
	}
	if out := c.ok("cleanup", "--json", "--grace", "1ms"); !strings.Contains(out, `"partitions_compacted": 0`) {
		t.Fatalf("cleanup after compact:\n%s", out)
	}
	c.ok("verify")
	// Backup and restore into a local store: every version byte-identical.
	bk := filepath.Join(t.TempDir(), "bk")
	c.ok("backup", "target", "add", "bk", "file://"+bk)
	c.ok("backup")
	local := filepath.Join(t.TempDir(), "local")
	if out, errOut, code := bcfs(t, local, "restore", "--from", "file://"+bk); code != 0 {
		t.Fatalf("restore: %d\n%s%s", code, out, errOut)
	}
	for v := 1; v <= 5; v++ {
		if got, _, _ := bcfs(t, local, "export", "--version", fmt.Sprint(v), "ES"); got != c.ok("export", "--version", fmt.Sprint(v), "ES") {
			t.Fatalf("restored version %d differs", v)
		}
	}
}
