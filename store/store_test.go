package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"

	"bcfs/metastore"
	"bcfs/metastore/faultfs"
)

// newTestStore opens a store in a temp dir and, at cleanup, checks the
// store's invariants: verify passes and every view renders at its size.
func newTestStore(t *testing.T, opt Options) *Store {
	t.Helper()
	dir := t.TempDir()
	st, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer st.Close()
		checkInvariants(t, st)
	})
	return st
}

func checkInvariants(t *testing.T, st *Store) {
	t.Helper()
	probs, err := st.Verify(context.Background())
	if err != nil {
		t.Errorf("verify: %v", err)
	}
	for _, p := range probs {
		t.Errorf("verify: %v", p)
	}
	ents, err := st.List()
	if err != nil {
		t.Errorf("list: %v", err)
	}
	for _, e := range ents {
		for _, v := range []View{ViewCSV, ViewParquet} {
			if b := readView(t, st, e.Name, v); int64(len(b)) != e.Size(v) {
				t.Errorf("%s%s: rendered %d bytes, size says %d", e.Name, v.Ext(), len(b), e.Size(v))
			}
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readView(t *testing.T, st *Store, name string, v View) []byte {
	t.Helper()
	sn, err := st.Pin(name, 0)
	if err != nil {
		t.Fatalf("pin %s: %v", name, err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(v, &buf); err != nil {
		t.Fatalf("read %s%s: %v", name, v.Ext(), err)
	}
	return buf.Bytes()
}

func ingest(t *testing.T, st *Store, name, path string, opt IngestOptions) *IngestResult {
	t.Helper()
	res, err := st.Ingest(context.Background(), name, path, opt)
	if err != nil {
		t.Fatalf("ingest %s into %s: %v", path, name, err)
	}
	return res
}

const yahooCSV = `Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,10,12,9,11,11,100
2024-01-03,11,13,10,12,12,200
2024-01-04,12,14,11,13,13,300
`

func TestIngestExportRoundTripIsStable(t *testing.T) {
	st := newTestStore(t, Options{})
	src := writeFile(t, t.TempDir(), "AAPL.csv", yahooCSV)
	res := ingest(t, st, "AAPL", src, IngestOptions{})
	if !res.Committed || res.Version != 1 || res.Report.RowsAdded != 3 {
		t.Fatalf("first ingest: %+v", res)
	}
	first := readView(t, st, "AAPL", ViewCSV)
	want := "timestamp,open,high,low,close,volume,symbol,provider,adj_close\n" +
		"2024-01-02 00:00:00,10,12,9,11,100,AAPL,yahoo,11\n" +
		"2024-01-03 00:00:00,11,13,10,12,200,AAPL,yahoo,12\n" +
		"2024-01-04 00:00:00,12,14,11,13,300,AAPL,yahoo,13\n"
	if string(first) != want {
		t.Fatalf("CSV view:\n%s\nwant:\n%s", first, want)
	}
	// Second pass: the export ingested into a fresh dataset renders the
	// same bytes.
	again := writeFile(t, t.TempDir(), "x.csv", string(first))
	ingest(t, st, "AAPL2", again, IngestOptions{})
	if second := readView(t, st, "AAPL2", ViewCSV); !bytes.Equal(first, second) {
		t.Fatalf("round trip not stable:\n%s\nvs\n%s", first, second)
	}
	// Re-ingesting the same file changes nothing and makes no version.
	res = ingest(t, st, "AAPL", src, IngestOptions{})
	if res.Committed || res.Version != 1 || res.Report.Changed() {
		t.Fatalf("identical re-ingest made a version: %+v", res)
	}
}

func TestProviderPreferenceAcrossIngests(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "ES", writeFile(t, dir, "a.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
		"2024-01-02 10:00:00,1,2,0.5,1.5,10,ES,yahoo\n2024-01-02 10:01:00,1,2,0.5,1.5,10,ES,yahoo\n"), IngestOptions{})
	// ibkr beats yahoo on the overlapping bar; one new bar is added.
	res := ingest(t, st, "ES", writeFile(t, dir, "b.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
		"2024-01-02 10:01:00,1,3,0.5,2,20,ES,ibkr\n2024-01-02 10:02:00,1,2,0.5,1.5,10,ES,ibkr\n"), IngestOptions{})
	if res.Report.RowsAdded != 1 || res.Report.RowsReplaced != 1 || res.Version != 2 {
		t.Fatalf("report %+v", res.Report)
	}
	// yahoo cannot replace ibkr afterwards.
	res = ingest(t, st, "ES", writeFile(t, dir, "c.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
		"2024-01-02 10:01:00,1,9,0.5,8,99,ES,yahoo\n"), IngestOptions{})
	if res.Committed {
		t.Fatalf("yahoo replaced ibkr: %+v", res.Report)
	}
	got := string(readView(t, st, "ES", ViewCSV))
	want := "timestamp,open,high,low,close,volume,symbol,provider\n" +
		"2024-01-02 10:00:00,1,2,0.5,1.5,10,ES,yahoo\n" +
		"2024-01-02 10:01:00,1,3,0.5,2,20,ES,ibkr\n" +
		"2024-01-02 10:02:00,1,2,0.5,1.5,10,ES,ibkr\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "AAPL", writeFile(t, dir, "AAPL.csv", yahooCSV), IngestOptions{})
	before := readView(t, st, "AAPL", ViewCSV)
	bad := writeFile(t, dir, "bad.csv", "Date,Open,High,Low,Close,Volume\n2024-01-05,1,2,0.5,1.5,10\n2024-01-06,1,2,abc,1.5,10\n")
	_, err := st.Ingest(context.Background(), "AAPL", bad, IngestOptions{Source: "bad.csv"})
	if !errors.Is(err, ErrBadInput) {
		t.Fatalf("err = %v, want ErrBadInput", err)
	}
	for _, want := range []string{"bad.csv", ":3", "abc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if after := readView(t, st, "AAPL", ViewCSV); !bytes.Equal(before, after) {
		t.Fatal("dataset changed after a bad ingest")
	}
	if e, _ := st.Stat("AAPL"); e.Version != 1 {
		t.Fatalf("version %d after bad ingest", e.Version)
	}
	doc, err := st.MetadataDoc("AAPL.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "abc") || !strings.Contains(string(doc), "last_error") {
		t.Fatalf("last_error missing from metadata:\n%s", doc)
	}
}

func TestHeaderlessAppendUsesDatasetHeader(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "X", writeFile(t, dir, "X.csv", "timestamp,open,high,low,close,volume\n2024-01-02 00:00:00,1,2,0.5,1.5,10\n"), IngestOptions{})
	res := ingest(t, st, "X", writeFile(t, dir, "more", "2024-01-03 00:00:00,1,2,0.5,1.5,11,X,\n"), IngestOptions{})
	if res.Report.RowsAdded != 1 {
		t.Fatalf("headerless append: %+v", res.Report)
	}
}

func TestSchemaEvolutionRewritesPartitions(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "E", writeFile(t, dir, "a.csv", "timestamp,open,high,low,close,volume\n2023-01-02,1,2,0.5,1.5,10\n"), IngestOptions{})
	ingest(t, st, "E", writeFile(t, dir, "b.csv", "timestamp,open,high,low,close,volume,open_interest\n2024-01-02,1,2,0.5,1.5,10.5,7\n"), IngestOptions{})
	got := string(readView(t, st, "E", ViewCSV))
	want := "timestamp,open,high,low,close,volume,symbol,provider,open_interest\n" +
		"2023-01-02 00:00:00,1,2,0.5,1.5,10,E,,\n" +
		"2024-01-02 00:00:00,1,2,0.5,1.5,10.5,E,,7\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParquetViewReadable(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
	for m := 1; m <= 12; m++ {
		for d := 1; d <= 28; d++ {
			fmt.Fprintf(&b, "2023-%02d-%02d 10:00:00,1,2,0.5,1.5,%d,S%d\n", m, d, m*100+d, d%3)
		}
	}
	ingest(t, st, "P", writeFile(t, dir, "P.csv", b.String()), IngestOptions{Provider: "barchart"})
	data := readView(t, st, "P", ViewParquet)
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Parquet view does not open: %v", err)
	}
	if f.NumRows() != 12*28 {
		t.Fatalf("Parquet view has %d rows, want %d", f.NumRows(), 12*28)
	}
	// Pread at every offset of a window equals the whole file's bytes.
	sn, err := st.Pin("P", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	for _, v := range []View{ViewCSV, ViewParquet} {
		whole := readView(t, st, "P", v)
		for off := int64(0); off < int64(len(whole)); off += 997 {
			p := make([]byte, 1500)
			n, err := sn.ReadAt(v, p, off)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(p[:n], whole[off:min(off+1500, int64(len(whole)))]) {
				t.Fatalf("%s pread at %d differs", v.Ext(), off)
			}
		}
	}
}

func TestSnapshotKeepsOldVersionAcrossCommit(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "S", writeFile(t, dir, "a.csv", yahooCSV), IngestOptions{})
	sn, err := st.Pin("S", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var old bytes.Buffer
	if _, err := sn.WriteTo(ViewCSV, &old); err != nil {
		t.Fatal(err)
	}
	ingest(t, st, "S", writeFile(t, dir, "b.csv", "Date,Open,High,Low,Close,Volume\n2024-01-05,1,2,0.5,1.5,10\n"), IngestOptions{})
	st.gc("S")
	var again bytes.Buffer
	if _, err := sn.WriteTo(ViewCSV, &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old.Bytes(), again.Bytes()) || sn.Version() != 1 {
		t.Fatal("pinned snapshot changed after a commit")
	}
	if e, _ := st.Stat("S"); e.Version != 2 {
		t.Fatalf("head version %d, want 2", e.Version)
	}
}

func TestConcurrentIngestsLoseNoRow(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	// A second Store on the same directory stands in for another process:
	// it has its own caches and locks and meets the first only at the
	// commit point.
	other, err := Open(st.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const writers, files, rows = 2, 5, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*files)
	for w := 0; w < writers; w++ {
		s := st
		if w == 1 {
			s = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := 0; f < files; f++ {
				var b strings.Builder
				b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
				for r := 0; r < rows; r++ {
					fmt.Fprintf(&b, "2024-01-%02d %02d:%02d:00,1,2,0.5,1.5,1,W%d\n", f+1, r/60, r%60, w)
				}
				p := writeFile(t, dir, fmt.Sprintf("w%d-%d.csv", w, f), b.String())
				if _, err := s.Ingest(context.Background(), "C", p, IngestOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e, err := st.Stat("C")
	if err != nil {
		t.Fatal(err)
	}
	if e.Rows != writers*files*rows {
		t.Fatalf("rows %d, want %d", e.Rows, writers*files*rows)
	}
	vs, err := metastore.Versions(metastore.OS, st.datasetDir("C"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(vs); i++ {
		if vs[i] != vs[i-1]+1 {
			t.Fatalf("versions not consecutive: %v", vs)
		}
	}
	if e.Version != writers*files {
		t.Fatalf("head version %d, want %d", e.Version, writers*files)
	}
}

func TestCommitFaultsLeavePreviousVersion(t *testing.T) {
	dir := t.TempDir()
	src := t.TempDir()
	a := writeFile(t, src, "a.csv", yahooCSV)
	b := writeFile(t, src, "b.csv", "Date,Open,High,Low,Close,Volume\n2024-02-05,1,2,0.5,1.5,10\n2024-01-03,11,13,10,12.5,250\n")
	setup := func(t *testing.T, d string) []byte {
		st, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ingest(t, st, "F", a, IngestOptions{})
		return readView(t, st, "F", ViewCSV)
	}
	// Count the operations of the second ingest.
	probe := filepath.Join(dir, "probe")
	setup(t, probe)
	ffs := faultfs.New(metastore.OS)
	st, err := Open(probe, Options{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	ffs.Reset()
	ingest(t, st, "F", b, IngestOptions{})
	st.Close()
	kinds := []faultfs.Op{faultfs.OpCreate, faultfs.OpWrite, faultfs.OpSync, faultfs.OpLink, faultfs.OpRename, faultfs.OpSyncDir}
	for _, kind := range kinds {
		n := ffs.Count(kind)
		for i := 0; i < n; i++ {
			for _, crash := range []bool{false, true} {
				name := fmt.Sprintf("%v-%d-crash=%v", kind, i, crash)
				t.Run(name, func(t *testing.T) {
					d := filepath.Join(dir, name)
					before := setup(t, d)
					ffs := faultfs.New(metastore.OS)
					st, err := Open(d, Options{FS: ffs})
					if err != nil {
						t.Fatal(err)
					}
					ffs.Reset()
					if crash {
						ffs.CrashAt(kind, i)
					} else {
						ffs.FailAt(kind, i, faultfs.ErrInjected)
					}
					_, ierr := st.Ingest(context.Background(), "F", b, IngestOptions{})
					st.Close()
					// Reopen without faults: recovery finds a whole version.
					re, err := Open(d, Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer re.Close()
					checkInvariants(t, re)
					e, err := re.Stat("F")
					if err != nil {
						t.Fatal(err)
					}
					got := readView(t, re, "F", ViewCSV)
					switch {
					case ierr != nil && e.Version == 1:
						if !bytes.Equal(got, before) {
							t.Fatal("failed commit changed version 1's bytes")
						}
					case e.Version == 2:
						if e.Rows != 4 {
							t.Fatalf("version 2 has %d rows, want 4", e.Rows)
						}
					default:
						t.Fatalf("ingest err %v, head version %d", ierr, e.Version)
					}
				})
			}
		}
	}
}

func TestDeleteRenameAndFolders(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "yahoo/AAPL", writeFile(t, dir, "AAPL.csv", yahooCSV), IngestOptions{})
	if err := st.Mkdir("empty"); err != nil {
		t.Fatal(err)
	}
	folders, err := st.Folders()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(folders, ",") != "empty,yahoo" {
		t.Fatalf("folders %v", folders)
	}
	if err := st.Rename("yahoo/AAPL", "yahoo/AAPL2"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat("yahoo/AAPL"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old name still there: %v", err)
	}
	sn, err := st.Pin("yahoo/AAPL2", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	if err := st.Delete("yahoo/AAPL2"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := st.List(); len(ents) != 0 {
		t.Fatalf("datasets after delete: %v", ents)
	}
	// The open snapshot still reads its version.
	var buf bytes.Buffer
	if _, err := sn.WriteTo(ViewCSV, &buf); err != nil || !strings.Contains(buf.String(), "2024-01-04") {
		t.Fatalf("snapshot after delete: %v %q", err, buf.String())
	}
	for _, bad := range []string{"../x", "/abs", "a/../b", "a\x00b", ".metadata", "a//b", "x/_log"} {
		if err := ValidName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v", bad, err)
		}
	}
	if err := st.Rmdir("empty"); err != nil {
		t.Fatal(err)
	}
}

func TestSettingsDedupRewrite(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "D", writeFile(t, dir, "d.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
		"2024-01-02,1,2,0.5,1.5,10,A,yahoo\n2024-01-02,1,2,0.5,1.5,10,B,ibkr\n"), IngestOptions{})
	s, res, err := st.UpdateSettings(context.Background(), "D", SettingsChange{Dedup: "timestamp_only"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Dedup != "timestamp_only" || !res.Committed {
		t.Fatalf("settings %+v res %+v", s, res)
	}
	if e, _ := st.Stat("D"); e.Rows != 1 {
		t.Fatalf("rows after timestamp_only rewrite: %d", e.Rows)
	}
	if got := string(readView(t, st, "D", ViewCSV)); !strings.Contains(got, ",B,ibkr") {
		t.Fatalf("ibkr row should win: %s", got)
	}
	doc, err := st.MetadataDoc("D.json")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Symbols, Providers []string }
	if err := json.Unmarshal(doc, &meta); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(meta.Symbols, meta.Providers) != "[B] [ibkr]" {
		t.Fatalf("symbols %v providers %v, want [B] [ibkr] once the yahoo row is gone", meta.Symbols, meta.Providers)
	}
	if _, _, err := st.UpdateSettings(context.Background(), "D", SettingsChange{Partition: "weekly"}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("bad partition accepted: %v", err)
	}
}

func TestTornManifestAboveHeadIsSkipped(t *testing.T) {
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	ingest(t, st, "T", writeFile(t, dir, "a.csv", yahooCSV), IngestOptions{})
	torn := filepath.Join(st.datasetDir("T"), metastore.ManifestName(2))
	if err := os.WriteFile(torn, []byte(`{"format_version":1,"dataset":"T","vers`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := ingest(t, st, "T", writeFile(t, dir, "b.csv", "Date,Open,High,Low,Close,Volume\n2024-01-05,1,2,0.5,1.5,10\n"), IngestOptions{})
	if !res.Committed || res.Version != 3 {
		t.Fatalf("ingest over a torn manifest: %+v", res)
	}
	if e, _ := st.Stat("T"); e.Version != 3 || e.Rows != 4 {
		t.Fatalf("head %+v", e)
	}
}

func TestFoldersUnderADataset(t *testing.T) {
	st := newTestStore(t, Options{})
	src := writeFile(t, t.TempDir(), "a.csv", yahooCSV)
	ingest(t, st, "a", src, IngestOptions{})
	ingest(t, st, "a/b/c", src, IngestOptions{})
	if err := st.Mkdir("a/x"); err != nil {
		t.Fatal(err)
	}
	folders, err := st.Folders()
	if err != nil {
		t.Fatal(err)
	}
	// "a" is a dataset and the folder holding a/b and a/x; partition
	// folders (year=2024) never show.
	if got := strings.Join(folders, ","); got != "a,a/b,a/x" {
		t.Fatalf("folders %q, want a,a/b,a/x", got)
	}
	names, err := st.datasetNames()
	if err != nil || strings.Join(names, ",") != "a,a/b/c" {
		t.Fatalf("datasets %v, %v", names, err)
	}
}
