package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/backend/s3test"
)

// s3cli runs bcfs on a store on S3 with its own work folder (a machine).
type s3cli struct {
	t     *testing.T
	store string
	work  string
}

func newS3CLI(t *testing.T, store string) s3cli {
	return s3cli{t: t, store: store, work: t.TempDir()}
}

func (c s3cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	return bcfs(c.t, c.store, append([]string{"--work-dir", c.work}, args...)...)
}

func (c s3cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("bcfs %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// barsCSV makes n one-minute bars from t0, one symbol.
func barsCSV(t0 time.Time, n int, symbol string) string {
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
	for i := 0; i < n; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute)
		fmt.Fprintf(&b, "%s,%d,%d.5,%d,%d.25,%d,%s\n", ts.Format("2006-01-02 15:04:05"), 100+i%7, 101+i%7, 99+i%7, 100+i%7, 10+i, symbol)
	}
	return b.String()
}

func statsOf(t *testing.T, c s3cli, name string) (rows, version int64) {
	t.Helper()
	var doc struct {
		RowCount int64 `json:"row_count"`
		Version  int64 `json:"version"`
	}
	out := c.ok("stats", "--json", name)
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return doc.RowCount, doc.Version
}

// TestS3StoreCommands runs every command on a store kept in a bucket of a
// real S3 server, and checks that nothing lands on the local disk but the
// work folder.
func TestS3StoreCommands(t *testing.T) {
	srv := s3test.Start(t, "desk")
	cwd := t.TempDir()
	t.Chdir(cwd)
	c := newS3CLI(t, "s3://desk/bars")
	src := t.TempDir()
	t0 := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	c.ok("ingest", "--dataset", "ES", write(t, src, "a.csv", barsCSV(t0, 100, "ES")))
	c.ok("ingest", "--dataset", "ES", write(t, src, "b.csv", barsCSV(t0.Add(24*time.Hour), 50, "ES")))
	c.ok("ingest", "--dataset", "yahoo/AAPL", write(t, src, "c.csv", barsCSV(t0, 10, "AAPL")))
	if rows, v := statsOf(t, c, "ES"); rows != 150 || v != 2 {
		t.Fatalf("ES: %d rows version %d, want 150 and 2", rows, v)
	}
	if out := c.ok("ls"); !strings.Contains(out, "yahoo/AAPL") || !strings.Contains(out, "ES ") {
		t.Fatalf("ls:\n%s", out)
	}
	c.ok("settings", "ES", "--ohlc-check", "warn")
	if out := c.ok("log", "ES"); !strings.Contains(out, "settings") || strings.Count(out, "\n") != 4 {
		t.Fatalf("log:\n%s", out)
	}
	c.ok("verify")
	exported := c.ok("export", "ES")
	if n := strings.Count(exported, "\n"); n != 151 {
		t.Fatalf("export: %d lines, want 151", n)
	}
	// A second machine (its own work folder) sees the same store.
	c2 := newS3CLI(t, "s3://desk/bars")
	if got := c2.ok("export", "ES"); got != exported {
		t.Fatal("a second work folder exports other bytes")
	}
	// The objects are in the bucket, under the prefix; nothing in cwd.
	for _, p := range []string{"bars/bcfs.json", "bars/datasets/ES/_log/00000000000000000003.json", "bars/datasets/yahoo/AAPL/_log/00000000000000000001.json"} {
		if _, err := os.Stat(filepath.Join(srv.Dir(), "desk", p)); err != nil {
			t.Errorf("object %s: %v", p, err)
		}
	}
	if ents, _ := os.ReadDir(cwd); len(ents) != 0 {
		t.Fatalf("the command made %v in the working folder", ents)
	}
	// Backup to a folder, restore into a local store and into another
	// prefix of the bucket: byte-identical.
	bk := filepath.Join(t.TempDir(), "bk")
	c.ok("backup", "target", "add", "bk", "file://"+bk)
	c.ok("backup")
	c.ok("backup", "verify")
	local := filepath.Join(t.TempDir(), "local")
	if out, errOut, code := bcfs(t, local, "restore", "--from", "file://"+bk); code != 0 {
		t.Fatalf("restore into a local store: %d\n%s%s", code, out, errOut)
	}
	if got, _, _ := bcfs(t, local, "export", "ES"); got != exported {
		t.Fatal("the local restore exports other bytes")
	}
	// The reverse: a local store backs up to S3, restored into a store on S3.
	if _, errOut, code := bcfs(t, local, "backup", "target", "add", "s3bk", "s3://desk/backup"); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := bcfs(t, local, "backup"); code != 0 {
		t.Fatal(errOut)
	}
	c3 := newS3CLI(t, "s3://desk/restored")
	c3.ok("restore", "--from", "s3://desk/backup")
	if got := c3.ok("export", "ES"); got != exported {
		t.Fatal("the S3 restore exports other bytes")
	}
	c3.ok("verify")
	// A missing bucket is a clear error, not a local folder.
	_, errOut, code := newS3CLI(t, "s3://nosuchbucket/x").run("ls")
	if code == 0 || !strings.Contains(errOut, "nosuchbucket") {
		t.Fatalf("missing bucket: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(cwd, "s3:")); err == nil {
		t.Fatal("a local folder s3: was made")
	}
}

// TestS3StoreServerStoppedMidIngest stops the server while an ingest is
// uploading partition files: the ingest fails naming the bucket, the store
// keeps its previous version; after a restart the same ingest succeeds.
func TestS3StoreServerStoppedMidIngest(t *testing.T) {
	srv := s3test.Start(t, "desk")
	c := newS3CLI(t, "s3://desk/bars")
	src := t.TempDir()
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	c.ok("ingest", "--dataset", "D", write(t, src, "first.csv", barsCSV(t0, 10, "X")))
	c.ok("settings", "D", "--partition", "day")
	// 600 days, one partition file each: many uploads before the commit.
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
	for d := 1; d <= 600; d++ {
		fmt.Fprintf(&b, "%s,1,2,0.5,1.5,%d,X\n", t0.AddDate(0, 0, d).Format("2006-01-02 15:04:05"), d)
	}
	big := write(t, src, "big.csv", b.String())
	_, before := statsOf(t, c, "D")

	cmd := exec.Command(bcfsBin, "--store", c.store, "--work-dir", c.work, "ingest", "--dataset", "D", big)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop the server once the first new partition file is stored.
	dataDir := filepath.Join(srv.Dir(), "desk", "bars", "datasets", "D")
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(dataDir, "year=202*", "month=*", "day=*", "*.parquet"))
		if len(m) > 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no partition upload seen in 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.Stop()
	err := cmd.Wait()
	if err == nil {
		t.Fatal("the ingest succeeded with the server stopped")
	}
	if !strings.Contains(errOut.String(), `bucket "desk"`) {
		t.Fatalf("the error does not name the bucket:\n%s", errOut.String())
	}
	srv.Restart()
	if rows, v := statsOf(t, c, "D"); v != before || rows != 10 {
		t.Fatalf("after the failed ingest: version %d (%d rows), want %d (10 rows)", v, rows, before)
	}
	c.ok("verify", "D")
	c.ok("ingest", "--dataset", "D", big)
	if rows, v := statsOf(t, c, "D"); v != before+1 || rows != 610 {
		t.Fatalf("after the retried ingest: version %d (%d rows), want %d (610 rows)", v, rows, before+1)
	}
	c.ok("verify", "D")
}
