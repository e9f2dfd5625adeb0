package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// wideCSV returns a CSV of two bars with n columns: the six required ones
// and n-6 extras.
func wideCSV(n int) string {
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume")
	for i := 6; i < n; i++ {
		b.WriteString(",x")
		b.WriteString(itoa(i))
	}
	for _, ts := range []string{"2024-01-02 00:00:00", "2024-01-03 00:00:00"} {
		b.WriteString("\n" + ts + ",1,2,0.5,1.5,10")
		b.WriteString(strings.Repeat(",7", n-6))
	}
	b.WriteString("\n")
	return b.String()
}

func itoa(i int) string {
	var d [20]byte
	p := len(d)
	for {
		p--
		d[p] = byte('0' + i%10)
		if i /= 10; i == 0 {
			return string(d[p:])
		}
	}
}

// TestCLIRefusesUnreadableCommit: a header wider than Parquet readers open
// (65,534 columns with symbol and provider) or a column name over the limit
// is refused with exit 1 before anything is committed, and the widest
// accepted header commits a version that both views read back.
func TestCLIRefusesUnreadableCommit(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	in := t.TempDir()

	// 65,533 input columns + symbol + provider = 65,535: one too many.
	wide := write(t, in, "wide.csv", wideCSV(65533))
	_, errOut, code := bcfs(t, st, "ingest", wide)
	if code != exitData || !strings.Contains(errOut, "65535 columns") || !strings.Contains(errOut, "at most 65534") {
		t.Fatalf("ingest of 65,533 columns: exit %d, stderr %.300q; want exit 1 naming the limit", code, errOut)
	}
	if _, _, code := bcfs(t, st, "export", "wide"); code != exitData {
		t.Fatalf("export of the refused dataset: exit %d, want 1 (no such dataset)", code)
	}

	long := write(t, in, "long.csv", "timestamp,open,high,low,close,volume,"+strings.Repeat("n", 5000)+
		"\n2024-01-02 00:00:00,1,2,0.5,1.5,10,3\n")
	if _, errOut, code := bcfs(t, st, "ingest", long); code != exitData || !strings.Contains(errOut, "5000 bytes") {
		t.Fatalf("ingest of a 5000-byte column name: exit %d, stderr %.300q", code, errOut)
	}

	// The widest header that fits commits and reads back through both views.
	edge := write(t, in, "edge.csv", wideCSV(65532))
	if _, errOut, code := bcfs(t, st, "ingest", edge); code != 0 {
		t.Fatalf("ingest of 65,532 columns: exit %d, stderr %.300q", code, errOut)
	}
	out, errOut, code := bcfs(t, st, "export", "edge")
	if code != 0 {
		t.Fatalf("export CSV: exit %d, %.300q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || strings.Count(lines[0], ",") != 65533 || !strings.HasSuffix(lines[2], ",7") {
		t.Fatalf("CSV view of the widest dataset: %d lines, %d header commas", len(lines), strings.Count(lines[0], ","))
	}
	pq := filepath.Join(t.TempDir(), "edge.parquet")
	if _, errOut, code := bcfs(t, st, "export", "-o", pq, "edge"); code != 0 {
		t.Fatalf("export Parquet: exit %d, %.300q", code, errOut)
	}
	// parquet-go opens the Parquet view and sees every column and row.
	f, err := os.Open(pq)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatalf("open the Parquet view: %v", err)
	}
	if got := len(pf.Schema().Columns()); got != 65534 || pf.NumRows() != 2 {
		t.Fatalf("Parquet view: %d columns, %d rows; want 65534, 2", got, pf.NumRows())
	}
}

// TestCLIDamagedExportFails: a bit flipped in a partition file makes export
// fail naming the file, instead of writing other values.
func TestCLIDamagedExportFails(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	f := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatal(errOut)
	}
	want, _, _ := bcfs(t, st, "export", "ES")
	parts, _ := filepath.Glob(filepath.Join(st, "datasets", "ES", "year=*", "*.parquet"))
	if len(parts) != 1 {
		t.Fatalf("partitions %v", parts)
	}
	data, _ := os.ReadFile(parts[0])
	data[len(data)/3] ^= 0x04
	if err := os.WriteFile(parts[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"csv", "parquet"} {
		out, errOut, code := bcfs(t, st, "export", "-f", format, "ES")
		if code == 0 {
			if format == "csv" && out != want {
				t.Fatalf("export served other values:\n%s\nwant\n%s", out, want)
			}
			t.Fatalf("export -f %s of a damaged partition succeeded", format)
		}
		if !strings.Contains(errOut, filepath.Base(parts[0])) || !strings.Contains(errOut, "CRC32C") {
			t.Fatalf("export -f %s: stderr %q; want the damaged file and CRC32C named", format, errOut)
		}
		if bytes.Contains([]byte(out), []byte("100.5")) {
			t.Fatalf("export -f %s wrote rows before failing: %q", format, out)
		}
	}
}
