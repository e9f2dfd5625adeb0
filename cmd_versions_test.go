package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bcfs/metastore"
	"bcfs/store"
)

func vbarsCSV(rows ...string) string {
	return "timestamp,open,high,low,close,volume,symbol,provider\n" + strings.Join(rows, "\n") + "\n"
}

// treeDigest hashes every file of a folder (path, mode, size, bytes, mtime).
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d %d\n", p, info.Mode(), info.Size(), info.ModTime().UnixNano())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestCLIVersions: log, export --version/--as-of, rollback, diff, policy,
// cleanup --dry-run (store bytes identical) and cleanup, through the binary.
func TestCLIVersions(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	in := t.TempDir()
	files := []string{
		vbarsCSV("2024-01-02 10:00:00,1,2,0.5,1.5,100,ES,yahoo", "2024-01-02 10:01:00,1,2,0.5,1.5,100,ES,yahoo"),
		vbarsCSV("2024-01-02 10:01:00,1,2,0.5,1.75,100,ES,ibkr", "2024-01-02 10:02:00,1,2,0.5,1.5,100,ES,ibkr"),
		vbarsCSV("2024-02-02 10:00:00,1,2,0.5,1.5,100,ES,yahoo"),
	}
	var heads []map[string]string
	for i, f := range files {
		p := write(t, in, fmt.Sprintf("v%d.csv", i+1), f)
		if _, e, code := bcfs(t, st, "ingest", "-d", "ES", p); code != 0 {
			t.Fatalf("ingest: %s", e)
		}
		h := map[string]string{}
		for _, f := range []string{"csv", "parquet"} {
			out, e, code := bcfs(t, st, "export", "-f", f, "ES")
			if code != 0 {
				t.Fatal(e)
			}
			h[f] = out
		}
		heads = append(heads, h)
	}
	out, _, code := bcfs(t, st, "log", "--json", "ES")
	var log []struct {
		Version int64           `json:"version"`
		Time    time.Time       `json:"time"`
		Rows    int64           `json:"rows"`
		Source  string          `json:"source"`
		Report  json.RawMessage `json:"report"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &log) != nil || len(log) != 3 || log[0].Version != 3 || !strings.HasSuffix(log[2].Source, "v1.csv") || log[1].Rows != 3 {
		t.Fatalf("log --json: %d %s", code, out)
	}
	if !strings.Contains(string(log[1].Report), `"rows_replaced": 1`) {
		t.Errorf("version 2 report: %s", log[1].Report)
	}
	if out, _, _ := bcfs(t, st, "log", "ES"); !strings.Contains(out, "v2.csv") || !strings.HasPrefix(strings.Split(out, "\n")[1], "3 ") {
		t.Errorf("log:\n%s", out)
	}
	for i, h := range heads {
		for f, want := range h {
			got, e, code := bcfs(t, st, "export", "--version", fmt.Sprint(i+1), "-f", f, "ES")
			if code != 0 || got != want {
				t.Errorf("export --version %d -f %s: exit %d %s; bytes equal %v", i+1, f, code, e, got == want)
			}
		}
	}
	asOf := log[1].Time.Add(time.Millisecond).Format(time.RFC3339Nano)
	if got, _, _ := bcfs(t, st, "export", "--as-of", asOf, "ES"); got != heads[1]["csv"] {
		t.Errorf("export --as-of %s is not version 2", asOf)
	}
	if _, e, code := bcfs(t, st, "export", "--as-of", "2001-01-01", "ES"); code != 1 || !strings.Contains(e, "oldest version kept is 1") {
		t.Errorf("export --as-of before the first commit: %d %s", code, e)
	}
	// Rollback to 1, diff the rollback, undo it.
	if out, e, code := bcfs(t, st, "rollback", "ES", "--to", "1"); code != 0 || !strings.Contains(out, "committed version 4") {
		t.Fatalf("rollback: %d %s %s", code, out, e)
	}
	if got, _, _ := bcfs(t, st, "export", "ES"); got != heads[0]["csv"] {
		t.Error("head after rollback --to 1 is not version 1")
	}
	out, _, _ = bcfs(t, st, "diff", "--json", "ES", "3", "4")
	var d store.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Removed != 2 || d.Changed != 1 || d.Added != 0 ||
		d.ChangedRows[0].ProviderBefore != "ibkr" || d.ChangedRows[0].ProviderAfter != "yahoo" {
		t.Errorf("diff 3 4: %s", out)
	}
	if out, _, _ := bcfs(t, st, "diff", "ES", "3", "4"); !strings.Contains(out, "added 0, removed 2, changed 1, unchanged 1") {
		t.Errorf("diff:\n%s", out)
	}
	if _, e, code := bcfs(t, st, "rollback", "ES", "--to", "3"); code != 0 {
		t.Fatal(e)
	}
	if got, _, _ := bcfs(t, st, "export", "-f", "parquet", "ES"); got != heads[2]["parquet"] {
		t.Error("undoing the rollback does not give version 3 back")
	}
	// Policies and cleanup.
	if _, e, code := bcfs(t, st, "policy", "add", "E*", "--keep-versions", "2"); code != 0 {
		t.Fatal(e)
	}
	if _, e, code := bcfs(t, st, "policy", "add", "X", "--keep-history", "3w"); code != 1 || !strings.Contains(e, "3w") {
		t.Errorf("a bad DUR: %d %s", code, e)
	}
	if out, _, _ := bcfs(t, st, "policy", "ls", "--json"); !strings.Contains(out, `"pattern": "E*"`) || !strings.Contains(out, `"keep_versions": 2`) {
		t.Errorf("policy ls --json:\n%s", out)
	}
	// ES's versions hold several files in January 2024 (appends): cleanup
	// compacts them into version 6 first, then keeps 5 and 6.
	before := treeDigest(t, st)
	out, e, code := bcfs(t, st, "cleanup", "--dry-run", "--grace", "0s", "--json")
	if code != 0 || !strings.Contains(out, `"versions_removed": 4`) || !strings.Contains(out, `"partitions_compacted": 1`) {
		t.Errorf("cleanup --dry-run: %d %s %s", code, out, e)
	}
	if treeDigest(t, st) != before {
		t.Fatal("cleanup --dry-run changed the store")
	}
	out, e, code = bcfs(t, st, "cleanup", "--grace", "0s", "--json")
	var rep store.CleanupReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.VersionsRemoved != 4 || rep.PartitionsCompacted != 1 || rep.FilesDeleted == 0 || rep.SpaceFreedBytes == 0 {
		t.Fatalf("cleanup: %d %s %s", code, out, e)
	}
	if _, e, code := bcfs(t, st, "export", "--version", "2", "ES"); code != 1 || !strings.Contains(e, "oldest version kept is 5") {
		t.Errorf("export of a removed version: %d %s", code, e)
	}
	if out, _, _ := bcfs(t, st, "stats", "--json", "cleanup"); !strings.Contains(out, `"versions_removed": 4`) {
		t.Errorf(".metadata/cleanup.json:\n%s", out)
	}
	if _, e, code := bcfs(t, st, "policy", "rm", "E*"); code != 0 {
		t.Fatal(e)
	}
	if _, e, code := bcfs(t, st, "policy", "rm", "E*"); code != 1 || !strings.Contains(e, "not found") {
		t.Errorf("policy rm twice: %d %s", code, e)
	}
	if out, e, code := bcfs(t, st, "verify"); code != 0 {
		t.Fatalf("verify: %s %s", out, e)
	}
}

// TestCLICleanupKill9 kills bcfs cleanup processes at random points; each
// time the store verifies (every retained version) and every kept version
// exports, and a final cleanup completes the policy.
func TestCLICleanupKill9(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := t.TempDir()
	t0 := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	const versions = 60
	for i := 0; i < versions; i++ {
		var rows []string
		for j := 0; j < 50; j++ {
			ts := t0.Add(time.Duration(i*50+j) * 24 * time.Hour / 10).Format("2006-01-02 15:04:05")
			rows = append(rows, ts+",1,2,0.5,1.5,100,ES,ibkr")
		}
		p := write(t, in, fmt.Sprintf("%d.csv", i), vbarsCSV(rows...))
		if _, err := s.Ingest(context.Background(), "ES", p, store.IngestOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if _, e, code := bcfs(t, dir, "policy", "add", "*", "--keep-versions", "1", "--drop-rows-older-than", "900d"); code != 0 {
		t.Fatal(e)
	}
	for i, delay := range []time.Duration{100, 250, 400, 550, 700, 2500} {
		cmd := exec.Command(bcfsBin, "--store", dir, "cleanup", "--grace", "0s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if out, e, code := bcfs(t, dir, "verify"); code != 0 {
			t.Fatalf("after kill %d (%v, %v): verify exit %d: %s %s", i, delay, err, code, out, e)
		}
		out, _, _ := bcfs(t, dir, "log", "--json", "ES")
		var log []struct{ Version int64 }
		if err := json.Unmarshal([]byte(out), &log); err != nil || len(log) == 0 {
			t.Fatalf("log after kill: %s", out)
		}
		for _, v := range []int64{log[0].Version, log[len(log)-1].Version} {
			if _, e, code := bcfs(t, dir, "export", "-f", "parquet", "--version", fmt.Sprint(v), "ES"); code != 0 {
				t.Fatalf("after kill %d: export --version %d: %s", i, v, e)
			}
		}
		t.Logf("kill after %v: %d versions left (%v)", delay*time.Millisecond, len(log), err)
	}
	if out, e, code := bcfs(t, dir, "cleanup", "--grace", "0s"); code != 0 {
		t.Fatalf("final cleanup: %s %s", out, e)
	}
	out, _, _ := bcfs(t, dir, "log", "--json", "ES")
	var log []struct {
		Version int64
		Rows    int64
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || len(log) != 1 {
		t.Fatalf("after the final cleanup: %s", out)
	}
	if out, e, code := bcfs(t, dir, "verify"); code != 0 {
		t.Fatalf("verify: %s %s", out, e)
	}
}

// TestPeriodicCleanup: the mount's --cleanup-every runner applies the
// policies on its schedule, logs each run and stops when asked.
func TestPeriodicCleanup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := t.TempDir()
	for i := 0; i < 3; i++ {
		p := write(t, in, fmt.Sprintf("%d.csv", i), vbarsCSV(fmt.Sprintf("2024-01-0%d 10:00:00,1,2,0.5,1.5,100,ES,ibkr", i+1)))
		if _, err := s.Ingest(context.Background(), "ES", p, store.IngestOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPolicy(metastore.RetentionPolicy{Pattern: "ES", KeepVersions: 1}); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	stop := startPeriodicCleanup(s, "1s", log)
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := s.Log("ES")
		if err == nil && len(l) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no periodic cleanup within 10s: %d versions", len(l))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	mu.Lock()
	defer mu.Unlock()
	// The three days went to January's partition as appends: the cleanup
	// compacts them (version 4) and keeps that one.
	if !strings.Contains(logs.String(), "periodic cleanup") || !strings.Contains(logs.String(), "versions_removed=3") ||
		!strings.Contains(logs.String(), "partitions_compacted=1") {
		t.Errorf("log:\n%s", logs.String())
	}
	if rep, err := s.LastCleanup(); err != nil || rep == nil || rep.VersionsRemoved != 3 || rep.PartitionsCompacted != 1 {
		t.Errorf("last cleanup report: %+v %v", rep, err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
