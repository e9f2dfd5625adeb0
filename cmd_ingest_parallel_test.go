package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"bcfs/metastore"
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

// TestCLIIngestBatchesAgree ingests days of vendor drops (dayNN/sK.csv:
// four datasets of six overlapping, conflicting files each, one file bad)
// three ways: one file after another (--jobs 1 --files-per-commit 1), one
// commit per dataset on one worker (--jobs 1), and on four workers
// (--jobs 4). The exports must be byte-identical, the bad file named with
// its line and value in each, its rows absent, every good file reported,
// and the batched version's log naming its files.
func TestCLIIngestBatchesAgree(t *testing.T) {
	in := t.TempDir()
	var days []string
	hdr := "timestamp,open,high,low,close,volume,symbol,provider\n"
	providers := []string{"yahoo", "barchart", "ibkr", "yahoo", "", "barchart"}
	var bad string
	for d := 0; d < 6; d++ {
		day := filepath.Join(in, fmt.Sprintf("day%02d", d))
		days = append(days, day)
		if err := os.MkdirAll(day, 0o755); err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 4; s++ {
			var b strings.Builder
			b.WriteString(hdr)
			for k := 0; k < 40; k++ {
				// Each day covers 40 days from 10*d: consecutive days
				// overlap by 30, with other prices and providers.
				ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 10*d+k)
				p := providers[(d+k+s)%len(providers)]
				fmt.Fprintf(&b, "%s,%d,%d,%d,%d.5,%d,S%d,%s\n", ts.Format("2006-01-02"), 10+d, 20+d, 5, 10+d, 100*d+k, s, p)
			}
			if d == 3 && s == 2 {
				b.WriteString("2025-06-01,1,2,0.5,x1.5,10,S2,yahoo\n")
				bad = filepath.Join(day, "s2.csv")
			}
			if err := os.WriteFile(filepath.Join(day, fmt.Sprintf("s%d.csv", s)), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var exports [3][4]string
	for i, flags := range [][]string{{"--jobs", "1", "--files-per-commit", "1"}, {"--jobs", "1"}, {"--jobs", "4"}} {
		st := filepath.Join(t.TempDir(), "st")
		out, errOut, code := bcfs(t, st, append(append([]string{"ingest"}, flags...), days...)...)
		if code != 1 {
			t.Fatalf("%v: exit %d, want 1 (a bad file)\n%s%s", flags, code, out, errOut)
		}
		if !strings.Contains(errOut, bad+":42:") || !strings.Contains(errOut, "x1.5") || strings.Count(errOut, "bcfs: ") != 1 {
			t.Fatalf("%v: stderr does not name the bad file, line and value once:\n%s", flags, errOut)
		}
		if n := strings.Count(out, "committed version") + strings.Count(out, "no change, still version"); n != 23 {
			t.Fatalf("%v: %d files reported merged, want 23:\n%s", flags, n, out)
		}
		for s := 0; s < 4; s++ {
			got, errOut, code := bcfs(t, st, "export", fmt.Sprintf("s%d", s))
			if code != 0 {
				t.Fatalf("%v: %s", flags, errOut)
			}
			if n := strings.Count(got, "\n"); n != 1+90 {
				t.Fatalf("%v: s%d has %d lines, want 91", flags, s, n)
			}
			exports[i][s] = got
		}
		if strings.Contains(exports[i][2], "2025-06-01") {
			t.Fatalf("%v: the bad file's rows landed", flags)
		}
		log, _, _ := bcfs(t, st, "log", "s0")
		versions := strings.Count(log, "\n") - 1
		switch i {
		case 0:
			if versions != 6 {
				t.Fatalf("one after another made %d versions of s0, want 6:\n%s", versions, log)
			}
		default:
			if versions != 1 || !strings.Contains(log, "day00/s0.csv and 5 more files") {
				t.Fatalf("%v: want one version naming its files:\n%s", flags, log)
			}
		}
	}
	for s := 0; s < 4; s++ {
		if exports[1][s] != exports[0][s] || exports[2][s] != exports[0][s] {
			t.Fatalf("s%d: the exports differ:\none after another:\n%s\n--jobs 1:\n%s\n--jobs 4:\n%s", s, exports[0][s], exports[1][s], exports[2][s])
		}
	}
	if !strings.Contains(exports[0][0], ",ibkr\n") || !strings.Contains(exports[0][0], ",barchart\n") {
		t.Fatalf("no provider conflicts in the data:\n%s", exports[0][0])
	}
}

// symbolFolder copies n real yfinance daily files into in/v<i%5>/, under
// names of their own: n datasets of one file each, as a vendor's folder of
// symbols is. It returns the dataset names, sorted.
func symbolFolder(t *testing.T, in string, n int) []string {
	t.Helper()
	all, _ := filepath.Glob("/work/shared/data/yfinance/tests/data/*-1d-*.csv")
	sort.Strings(all)
	if len(all) < 10 {
		t.Fatalf("test data missing: %d yfinance daily files", len(all))
	}
	var names []string
	for i := range n {
		b, err := os.ReadFile(all[i%len(all)])
		if err != nil {
			t.Fatal(err)
		}
		sub := fmt.Sprintf("v%d", i%5)
		base := fmt.Sprintf("F%d-%s", i, filepath.Base(all[i%len(all)]))
		if err := os.MkdirAll(filepath.Join(in, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, sub, base), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, sub+"/"+strings.TrimSuffix(base, ".csv"))
	}
	sort.Strings(names)
	return names
}

// TestCLIIngestManyDatasetsGroupCommit ingests a folder of 30 one-file
// datasets with --jobs 4 (commits published in groups, one syncfs for
// many datasets) and one after another (--jobs 1 --files-per-commit 1,
// each commit fsynced on its own): every file must be reported committed
// as version 1, bcfs ls must list the same datasets, versions, rows and
// sizes, and every export must be byte-identical.
func TestCLIIngestManyDatasetsGroupCommit(t *testing.T) {
	in := t.TempDir()
	names := symbolFolder(t, in, 30)
	var dirs, lists []string
	for _, flags := range [][]string{{"--jobs", "4"}, {"--jobs", "1", "--files-per-commit", "1"}} {
		st := filepath.Join(t.TempDir(), "st")
		out, errOut, code := bcfs(t, st, append(append([]string{"ingest", "--ohlc-check", "warn"}, flags...), in)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", flags, code, errOut)
		}
		if n := strings.Count(out, ": committed version 1\n"); n != len(names) {
			t.Fatalf("%v: %d files reported committed as version 1, want %d:\n%s", flags, n, len(names), out)
		}
		ls, errOut, code := bcfs(t, st, "ls")
		if code != 0 {
			t.Fatal(errOut)
		}
		var list []string
		for _, l := range strings.Split(strings.TrimSpace(ls), "\n")[1:] {
			f := strings.Fields(l)
			list = append(list, strings.Join(f[:5], " ")) // name, version, rows, sizes: not the commit time
		}
		dirs, lists = append(dirs, st), append(lists, strings.Join(list, "\n"))
	}
	if lists[0] != lists[1] || strings.Count(lists[0], "\n")+1 != len(names) {
		t.Fatalf("bcfs ls differs:\ngrouped:\n%s\none by one:\n%s", lists[0], lists[1])
	}
	rows := 0
	for _, name := range names {
		var exports []string
		for _, st := range dirs {
			out, errOut, code := bcfs(t, st, "export", name)
			if code != 0 {
				t.Fatalf("export %s: %s", name, errOut)
			}
			exports = append(exports, out)
		}
		if exports[0] != exports[1] {
			t.Fatalf("%s: the grouped ingest's export differs from one by one's (%d vs %d bytes)", name, len(exports[0]), len(exports[1]))
		}
		rows += strings.Count(exports[0], "\n") - 1
	}
	if rows < len(names)*100 {
		t.Fatalf("only %d rows in %d datasets", rows, len(names))
	}
}

// failingSyncfs is the DirFS of a store whose syncfs always fails.
type failingSyncfs struct{ metastore.FS }

var errSyncfsInjected = errors.New("syncfs: input/output error (injected)")

func (f failingSyncfs) OpenSyncfs(name string) (metastore.Syncfs, error) {
	inner, err := f.FS.(metastore.SyncfsOpener).OpenSyncfs(name)
	if err != nil {
		return nil, err
	}
	return failedSync{inner}, nil
}

type failedSync struct{ metastore.Syncfs }

func (failedSync) Sync() error { return errSyncfsInjected }

// TestCLIIngestGroupSyncfsFails runs bcfs ingest (in this process, on a
// store whose syncfs fails) over a folder of 12 datasets with --jobs 4:
// it must exit 2 (an I/O failure, as a failed fsync of a single commit),
// name every file and its dataset with the syncfs error, report none
// committed and leave no dataset. With --jobs 1 the same
// store commits one by one with fsyncs and never calls syncfs.
func TestCLIIngestGroupSyncfsFails(t *testing.T) {
	ingestStoreFS = func(dir string) metastore.FS { return failingSyncfs{metastore.DirFS(dir)} }
	defer func() { ingestStoreFS = nil }()
	in := t.TempDir()
	names := symbolFolder(t, in, 12)
	st := filepath.Join(t.TempDir(), "st")
	if err := os.Mkdir(st, 0o755); err != nil { // DirFS needs its root
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"bcfs", "--store", st, "ingest", "--jobs", "4", "--ohlc-check", "warn", in}, &out, &errOut)
	if code != exitInternal {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitInternal, out.String(), errOut.String())
	}
	if strings.Contains(out.String(), "committed") {
		t.Errorf("a commit reported after syncfs failed:\n%s", out.String())
	}
	for _, name := range names {
		file := filepath.Join(in, filepath.FromSlash(name)) + ".csv"
		line := ""
		for _, l := range strings.Split(errOut.String(), "\n") {
			if strings.Contains(l, file+":") {
				line = l
			}
		}
		if !strings.Contains(line, filepath.Join(st, "datasets", filepath.FromSlash(name))+" version 1") || !strings.Contains(line, errSyncfsInjected.Error()) {
			t.Errorf("%s: stderr does not name its file, dataset and the syncfs error:\n%s", name, errOut.String())
		}
	}
	if ls, _, _ := bcfs(t, st, "ls"); strings.Contains(ls, "v0/") || strings.Contains(ls, "F0-") {
		t.Errorf("datasets left after a failed syncfs:\n%s", ls)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"bcfs", "--store", st, "ingest", "--jobs", "1", "--ohlc-check", "warn", in}, &out, &errOut); code != 0 {
		t.Fatalf("--jobs 1: exit %d\n%s", code, errOut.String())
	}
	if n := strings.Count(out.String(), ": committed version 1\n"); n != len(names) {
		t.Fatalf("--jobs 1: %d committed, want %d", n, len(names))
	}
}
