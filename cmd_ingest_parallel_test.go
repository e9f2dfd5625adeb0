package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestCLIIngestDirParallel ingests a folder of real yfinance files (sub-folders
// name the datasets) with --jobs 4, plus a second folder whose file merges
// into one of the same datasets after the first, and a bad file; it expects
// (OHLC violations of the real files accepted with --ohlc-check warn)
// every good dataset equal to a one-file-at-a-time ingest, the bad file named
// with exit 1, and the others committed.
func TestCLIIngestDirParallel(t *testing.T) {
	srcDir := "/work/shared/data/yfinance/tests/data"
	all, _ := filepath.Glob(filepath.Join(srcDir, "*-1d-*.csv"))
	sort.Strings(all)
	if len(all) < 12 {
		t.Fatalf("test data missing: %d yfinance files in %s", len(all), srcDir)
	}
	all = all[:12]
	in, in2 := t.TempDir(), t.TempDir()
	copyTo := func(src, dst string) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	var seqFiles []string // the order a sequential ingest uses
	for i, f := range all {
		sub := []string{"eu", "uk", "us"}[i%3]
		seqFiles = append(seqFiles, copyTo(f, filepath.Join(in, sub, filepath.Base(f))))
	}
	// A second file for eu/<first>: the same dates, other prices, so which
	// file merged last shows in the result.
	first := filepath.Join("eu", filepath.Base(all[0]))
	b, _ := os.ReadFile(all[0])
	later := strings.ReplaceAll(string(b), ".5", ".7")
	if later == string(b) {
		t.Fatal("the replacement changed nothing")
	}
	if err := os.MkdirAll(filepath.Join(in2, "eu"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in2, first), []byte(later), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(in, "bad", "B.csv")
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,2,0.5,x,10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "README.md"), []byte("not data\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	par := filepath.Join(t.TempDir(), "par")
	out, errOut, code := bcfs(t, par, "ingest", "--jobs", "4", "--ohlc-check", "warn", in, in2)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a bad file)\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, bad) || strings.Count(errOut, "bcfs: ") != 1 {
		t.Fatalf("stderr does not name the bad file once:\n%s", errOut)
	}
	if n := strings.Count(out, "committed version"); n != len(all)+1 {
		t.Fatalf("%d commits reported, want %d:\n%s", n, len(all)+1, out)
	}

	seq := filepath.Join(t.TempDir(), "seq")
	for _, f := range append(seqFiles, filepath.Join(in2, first)) {
		rel, _ := filepath.Rel(in, f)
		if strings.HasPrefix(rel, "..") {
			rel, _ = filepath.Rel(in2, f)
		}
		name := filepath.ToSlash(strings.TrimSuffix(rel, ".csv"))
		if _, errOut, code := bcfs(t, seq, "ingest", "--jobs", "1", "--ohlc-check", "warn", "--dataset", name, f); code != 0 {
			t.Fatalf("sequential ingest of %s: %s", f, errOut)
		}
	}
	lines := 0
	for _, f := range seqFiles {
		rel, _ := filepath.Rel(in, f)
		name := filepath.ToSlash(strings.TrimSuffix(rel, ".csv"))
		want, errOut, code := bcfs(t, seq, "export", name)
		if code != 0 {
			t.Fatal(errOut)
		}
		got, errOut, code := bcfs(t, par, "export", name)
		if code != 0 {
			t.Fatalf("%s: %s", name, errOut)
		}
		lines += strings.Count(got, "\n")
		if got != want {
			gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
			for i := range min(len(gl), len(wl)) {
				if gl[i] != wl[i] {
					t.Fatalf("%s: parallel ingest differs from sequential at line %d:\n%s\n%s", name, i+1, gl[i], wl[i])
				}
			}
			t.Fatalf("%s: parallel ingest differs from sequential (%d vs %d bytes)", name, len(got), len(want))
		}
	}
	if lines < 1000 {
		t.Fatalf("only %d lines exported in all", lines)
	}
	if ls, _, _ := bcfs(t, par, "ls"); strings.Contains(ls, "bad/B") || !strings.Contains(ls, "uk/") {
		t.Fatal("the bad file's dataset exists")
	}
	got, _, _ := bcfs(t, par, "export", filepath.ToSlash(strings.TrimSuffix(first, ".csv")))
	if !strings.Contains(got, ".7") {
		t.Fatal("the second folder's file did not merge after the first")
	}
}
