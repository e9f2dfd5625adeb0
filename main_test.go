package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var bcfsBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bcfs-bin-")
	if err != nil {
		panic(err)
	}
	bcfsBin = filepath.Join(dir, "bcfs")
	out, err := exec.Command("go", "build", "-race", "-o", bcfsBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building bcfs: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bcfs runs the binary and returns stdout, stderr and the exit code.
func bcfs(t *testing.T, store string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bcfsBin, append([]string{"--store", store}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const ibkrCSV = "date,open,high,low,close,volume,average,barCount\n" +
	"20240102  09:30:00,100,101,99,100.5,1000,100.2,50\n" +
	"20240102  09:31:00,100.5,102,100,101.5,2000,101.1,70\n"

func TestCLIIngestExportAndExitCodes(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	src := t.TempDir()
	f := write(t, src, "ES.csv", ibkrCSV)

	out, errOut, code := bcfs(t, st, "ingest", "--dry-run", f)
	if code != 0 || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: code %d\n%s%s", code, out, errOut)
	}
	if out, _, _ := bcfs(t, st, "ls"); strings.Contains(out, "\nES ") {
		t.Fatalf("dry run committed:\n%s", out)
	}
	out, errOut, code = bcfs(t, st, "ingest", "--json", f)
	if code != 0 {
		t.Fatalf("ingest: code %d: %s", code, errOut)
	}
	var res struct {
		Dataset   string
		Version   int64
		Committed bool
		Report    struct {
			RowsAdded int64 `json:"rows_added"`
		}
		Input struct{ Vendor string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if res.Dataset != "ES" || res.Version != 1 || !res.Committed || res.Report.RowsAdded != 2 || res.Input.Vendor != "ibkr" {
		t.Fatalf("report %+v", res)
	}

	csvOut := filepath.Join(t.TempDir(), "ES.csv")
	if _, errOut, code := bcfs(t, st, "export", "-o", csvOut, "ES"); code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	got, _ := os.ReadFile(csvOut)
	want := "timestamp,open,high,low,close,volume,symbol,provider,average,bar_count\n" +
		"2024-01-02 09:30:00,100,101,99,100.5,1000,ES,ibkr,100.2,50\n" +
		"2024-01-02 09:31:00,100.5,102,100,101.5,2000,ES,ibkr,101.1,70\n"
	if string(got) != want {
		t.Fatalf("export:\n%s\nwant:\n%s", got, want)
	}
	stdout, _, code := bcfs(t, st, "export", "--format", "parquet", "ES")
	if code != 0 || !strings.HasPrefix(stdout, "PAR1") || !strings.HasSuffix(stdout, "PAR1") {
		t.Fatalf("parquet export to stdout: code %d, %d bytes", code, len(stdout))
	}

	bad := write(t, src, "bad.csv", "Date,Open,High,Low,Close,Volume\n2024-01-05,1,2,0.5,1.5,-3\n")
	_, errOut, code = bcfs(t, st, "ingest", "--dataset", "ES", bad)
	if code != exitData || !strings.Contains(errOut, "bad.csv:2") || !strings.Contains(errOut, "-3") {
		t.Fatalf("bad input: code %d, stderr %q", code, errOut)
	}
	if _, _, code := bcfs(t, st, "export", "NOPE"); code != exitData {
		t.Fatalf("unknown dataset exit %d, want %d", code, exitData)
	}
	if _, _, code := bcfs(t, st, "ingest", "--no-such-flag", f); code != exitData {
		t.Fatalf("bad flag exit %d, want %d", code, exitData)
	}
	if out, errOut, code := bcfs(t, st, "verify"); code != 0 {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	if out, _, code := bcfs(t, st, "stats", "--json"); code != 0 || !strings.Contains(out, `"total_rows": 2`) {
		t.Fatalf("stats: %d\n%s", code, out)
	}
}

func TestCLIVerifyNamesDamagedFile(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	f := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatal(errOut)
	}
	parts, _ := filepath.Glob(filepath.Join(st, "datasets", "ES", "year=*", "*.parquet"))
	if len(parts) != 1 {
		t.Fatalf("partitions %v", parts)
	}
	data, _ := os.ReadFile(parts[0])
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(parts[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := bcfs(t, st, "verify")
	if code != exitData || !strings.Contains(errOut, filepath.Base(parts[0])) || !strings.Contains(errOut, "sha256") {
		t.Fatalf("verify of damaged store: code %d, stderr %q", code, errOut)
	}
}

func TestCLIConcurrentProcessesLoseNoRow(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	src := t.TempDir()
	const procs, rows = 4, 50
	var files []string
	for p := 0; p < procs; p++ {
		var b strings.Builder
		b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
		for r := 0; r < rows; r++ {
			fmt.Fprintf(&b, "2024-03-01 10:%02d:00,1,2,0.5,1.5,%d,P%d\n", r, r, p)
		}
		files = append(files, write(t, src, fmt.Sprintf("p%d.csv", p), b.String()))
	}
	var wg sync.WaitGroup
	codes := make([]int, procs)
	errs := make([]string, procs)
	for p := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[p], codes[p] = bcfs(t, st, "ingest", "--dataset", "shared", files[p])
		}()
	}
	wg.Wait()
	for p := range codes {
		if codes[p] != 0 {
			t.Fatalf("process %d: exit %d: %s", p, codes[p], errs[p])
		}
	}
	out, _, _ := bcfs(t, st, "stats", "--json", "shared")
	var doc struct {
		RowCount int64 `json:"row_count"`
		Version  int64 `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.RowCount != procs*rows || doc.Version != procs {
		t.Fatalf("row_count %d version %d, want %d and %d", doc.RowCount, doc.Version, procs*rows, procs)
	}
}

// requireOrSkip skips a test whose tool is missing, or fails it under
// BCFS_REQUIRE_FUSE=1 (CI), where every tool must be there.
func requireOrSkip(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("BCFS_REQUIRE_FUSE") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
