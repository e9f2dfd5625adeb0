package metastore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bcfs/formats/formatstest"
)

func TestNewDatasetDoc(t *testing.T) {
	m := testManifest(3)
	lastErr := &LastError{Time: testTime, Source: "bad.csv", Error: "bad.csv:7: column 3 (\"high\"): value \"x\": invalid number"}
	doc := NewDatasetDoc(m, lastErr)
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, p := range m.Partitions {
		sums.WriteString(p.SHA256 + "\n")
	}
	sum := sha256.Sum256([]byte(sums.String()))
	want := map[string]any{
		"filepath":              "yahoo/AAPL",
		"row_count":             float64(601),
		"column_count":          float64(9),
		"file_size":             float64(20000),
		"csv_size":              float64(m.CSVSize),
		"parquet_size":          float64(19000),
		"last_modified":         "2024-03-01T12:03:00Z",
		"checksum":              "sha256:" + hex.EncodeToString(sum[:]),
		"first_timestamp":       "2024-01-01T00:00:00Z",
		"last_timestamp":        "2024-02-21T00:00:00Z",
		"version":               float64(3),
		"partitions":            float64(2),
		"partition_files":       float64(2),
		"partition_granularity": "month",
		"ohlc_warnings":         float64(1),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	cols := got["columns"].([]any)
	if c := cols[8].(map[string]any); c["name"] != "adj_close" || c["type"] != "float64" {
		t.Errorf("columns[8] = %v", c)
	}
	if s := got["symbols"].([]any); len(s) != 2 || s[0] != "AAPL" {
		t.Errorf("symbols = %v", s)
	}
	if r := got["last_ingest"].(map[string]any); r["final_count"] != float64(7) {
		t.Errorf("last_ingest = %v", r)
	}
	if e := got["last_error"].(map[string]any); e["source"] != "bad.csv" {
		t.Errorf("last_error = %v", e)
	}

	empty := testManifest(1)
	empty.Partitions, empty.RowCount, empty.Symbols, empty.Report = nil, 0, nil, nil
	data, err = json.Marshal(NewDatasetDoc(empty, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"first_timestamp":null`, `"symbols":[]`, `"last_ingest":null`, `"last_error":null`} {
		if !strings.Contains(string(data), frag) {
			t.Errorf("empty dataset doc lacks %s: %s", frag, data)
		}
	}
}

func TestIndexAndSummary(t *testing.T) {
	a, b, c := testManifest(2), testManifest(5), testManifest(1)
	a.Dataset, b.Dataset, c.Dataset = "ES_1min", "yahoo/AAPL", "NQ"
	c.CommittedAt = a.CommittedAt // tie with ES_1min for the oldest
	heads := []*Manifest{b, a, c}

	idx := NewIndex(heads)
	if len(idx) != 3 || idx["yahoo/AAPL"].Version != 5 || idx["ES_1min"].FileSize != 20000 || idx["NQ"].RowCount != 601 {
		t.Fatalf("index = %+v", idx)
	}
	data, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"ES_1min":{"row_count":601,"file_size":20000,"last_updated":"2024-03-01T12:02:00Z","version":2}`) {
		t.Fatalf("index.json = %s", data)
	}

	s := NewSummary(heads)
	if s.TotalFiles != 3 || s.TotalRows != 3*601 || s.TotalSizeBytes != 3*20000 {
		t.Fatalf("summary totals = %+v", s)
	}
	if s.OldestFile != "ES_1min" || s.NewestFile != "yahoo/AAPL" || !s.NewestUpdate.Equal(b.CommittedAt) {
		t.Fatalf("summary oldest/newest = %+v", s)
	}
	slices.Reverse(heads)
	if s2 := NewSummary(heads); s2.OldestFile != s.OldestFile || s2.NewestFile != s.NewestFile {
		t.Fatalf("summary depends on input order: %+v vs %+v", s2, s)
	}
	data, err = json.Marshal(NewSummary(nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"total_files":0,"total_size_bytes":0,"total_rows":0,"oldest_file":"","newest_file":"","oldest_update":null,"newest_update":null}` {
		t.Fatalf("empty summary = %s", data)
	}
}

func TestLastError(t *testing.T) {
	dir := t.TempDir()
	if e, err := ReadLastError(OS, dir); e != nil || err != nil {
		t.Fatalf("no last error: %v, %v", e, err)
	}
	for _, want := range []*LastError{
		{Time: testTime, Source: "a.csv", Error: "first"},
		{Time: testTime.Add(time.Hour), Source: "b.parquet", Error: "second\nline"},
	} {
		if err := WriteLastError(OS, dir, want); err != nil {
			t.Fatal(err)
		}
		got, err := ReadLastError(OS, dir)
		if err != nil || got == nil || *got != *want {
			t.Fatalf("ReadLastError = %+v, %v; want %+v", got, err, want)
		}
	}
	if err := WriteLastError(OS, dir, nil); err != nil {
		t.Fatal(err)
	}
	if e, err := ReadLastError(OS, dir); e != nil || err != nil {
		t.Fatalf("after clearing: %v, %v", e, err)
	}
	if err := WriteLastError(OS, dir, nil); err != nil {
		t.Fatalf("clearing twice: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("left behind %v", entries)
	}
	if err := os.WriteFile(filepath.Join(dir, LastErrorFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLastError(OS, dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt last error: %v", err)
	}

}

func TestLoadOrCreateConfig(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	var wg sync.WaitGroup
	cfgs := make([]*StoreConfig, 4)
	errs := make([]error, 4)
	for i := range cfgs {
		wg.Go(func() { cfgs[i], errs[i] = LoadOrCreateConfig(OS, root) })
	}
	wg.Wait()
	for i := range cfgs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !reflect.DeepEqual(*cfgs[i], *cfgs[0]) || cfgs[i].FormatVersion != FormatVersion {
			t.Fatalf("concurrent creators disagree: %+v vs %+v", cfgs[i], cfgs[0])
		}
	}
	again, err := LoadOrCreateConfig(OS, root)
	if err != nil || !again.Created.Equal(cfgs[0].Created) {
		t.Fatalf("reload = %+v, %v", again, err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Fatalf("store root holds %v, want only %s", entries, ConfigFile)
	}
	tests := []struct {
		name, content string
		want          error
	}{
		{"newer", `{"format_version":3}`, ErrUnsupportedFormat},
		{"zero", `{"format_version":0}`, ErrCorrupt},
		{"garbage", `PAR1`, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, ConfigFile), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateConfig(OS, root); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDatasets(t *testing.T) {
	root := t.TempDir()
	if names, err := Datasets(OS, root); err != nil || names != nil {
		t.Fatalf("new store: %v, %v", names, err)
	}
	for _, name := range []string{"ES_1min", "yahoo", "yahoo/AAPL", "yahoo/sub/MSFT"} {
		if err := Commit(OS, DatasetDir(root, name), testManifest(1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"empty_folder", "yahoo/year=2024/month=01", ".hidden/_log", "ES_1min/_log/x"} {
		if err := os.MkdirAll(filepath.Join(root, DatasetsDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	names, err := Datasets(OS, root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ES_1min", "yahoo", "yahoo/AAPL", "yahoo/sub/MSFT"}; !slices.Equal(names, want) {
		t.Fatalf("Datasets = %v, want %v", names, want)
	}
}

// TestVerifyPartitions uses real Parquet files from the shared test data as
// partition files.
func TestVerifyPartitions(t *testing.T) {
	data := formatstest.SharedData(t)
	srcs := []string{
		filepath.Join(data, "trade-executor", "tests", "binance-BTCUSDT-1h.parquet"),
		filepath.Join(data, "trade-executor", "notebooks", "pool_1_hourly_candles.parquet"),
	}
	dir := t.TempDir()
	m := manifestWith(1, partPath("01"), partPath("02"))
	for i, src := range srcs {
		content, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := &m.Partitions[i]
		sum := sha256.Sum256(content)
		p.Size, p.SHA256 = int64(len(content)), hex.EncodeToString(sum[:])
		p.RowGroups = []RowGroup{{Offset: 4, Length: p.Size - 4, Rows: p.Rows, CSVLength: 1}}
		name := filepath.Join(dir, filepath.FromSlash(p.Path))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Commit(OS, dir, m); err != nil {
		t.Fatal(err)
	}
	head, err := Head(OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyAll(dir, head); err != nil {
		t.Fatalf("intact store: %v", err)
	}
	second := filepath.Join(dir, filepath.FromSlash(head.Partitions[1].Path))
	tests := []struct {
		name   string
		damage func(t *testing.T)
		want   error
	}{
		{"flipped byte", func(t *testing.T) { flipByte(t, second, 1000) }, ErrCorrupt},
		{"truncated", func(t *testing.T) {
			if err := os.Truncate(second, head.Partitions[1].Size-1); err != nil {
				t.Fatal(err)
			}
		}, ErrCorrupt},
		{"appended", func(t *testing.T) {
			f, err := os.OpenFile(second, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("x"))
			f.Close()
		}, ErrCorrupt},
		{"missing", func(t *testing.T) {
			if err := os.Remove(second); err != nil {
				t.Fatal(err)
			}
		}, os.ErrNotExist},
	}
	pristine, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(second, pristine, 0o644); err != nil {
				t.Fatal(err)
			}
			tc.damage(t)
			if err := verifyAll(dir, head); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyPartitions: %v, want %v", err, tc.want)
			}
		})
	}
}

func flipByte(t *testing.T, name string, off int64) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkVerifyPartitions(b *testing.B) {
	dir := b.TempDir()
	m := manifestWith(1, partPath("01"))
	content := make([]byte, 8<<20)
	for i := range content {
		content[i] = byte(i * 7)
	}
	p := &m.Partitions[0]
	sum := sha256.Sum256(content)
	p.Size, p.SHA256 = int64(len(content)), hex.EncodeToString(sum[:])
	name := filepath.Join(dir, filepath.FromSlash(p.Path))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(name, content, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(p.Size)
	for b.Loop() {
		if err := verifyAll(dir, m); err != nil {
			b.Fatal(err)
		}
	}
}

// verifyAll runs VerifyPartition over every partition of m.
func verifyAll(dir string, m *Manifest) error {
	for i := range m.Partitions {
		if err := VerifyPartition(OS, dir, &m.Partitions[i]); err != nil {
			return err
		}
	}
	return nil
}
