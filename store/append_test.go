package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"bcfs/metastore"
)

// tenMinuteBars writes bars of the given symbols every 10 minutes from
// start for n steps; close is base + the step number, so that two files
// with different bases differ in every row.
func tenMinuteBars(t *testing.T, dir, name string, start time.Time, n int, provider string, base float64, syms ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol,provider\n")
	for i := 0; i < n; i++ {
		ts := start.Add(time.Duration(i) * 10 * time.Minute).Format(time.DateTime)
		for _, s := range syms {
			c := base + float64(i%500)/4
			fmt.Fprintf(&b, "%s,%g,%g,%g,%g,%d,%s,%s\n", ts, c, c+1, c-1, c, 100+i, s, provider)
		}
	}
	return writeFile(t, dir, name, b.String())
}

// twin applies every ingest to a store that appends and to a peer with
// appends off (every touched key rewritten whole, as before), so that each
// result can be compared with the full-rewrite one.
type twin struct {
	t          *testing.T
	st, peer   *Store
	dir        string
	lastResult *IngestResult
}

func newTwin(t *testing.T) *twin {
	tw := &twin{t: t, st: newTestStore(t, Options{}), peer: newTestStore(t, Options{}), dir: t.TempDir()}
	for _, s := range []*Store{tw.st, tw.peer} {
		if _, _, err := s.UpdateSettings(context.Background(), "ES", SettingsChange{Partition: metastore.GranularityMonth}); err != nil {
			t.Fatal(err)
		}
	}
	return tw
}

func (tw *twin) ingest(path string) *IngestResult {
	tw.t.Helper()
	res := ingest(tw.t, tw.st, "ES", path, IngestOptions{})
	appendDisabled = true
	defer func() { appendDisabled = false }()
	peer := ingest(tw.t, tw.peer, "ES", path, IngestOptions{})
	if res.Report != peer.Report || res.Committed != peer.Committed {
		tw.t.Errorf("%s: report %+v committed %v, full rewrite says %+v committed %v", filepath.Base(path), res.Report, res.Committed, peer.Report, peer.Committed)
	}
	tw.same()
	tw.lastResult = res
	return res
}

// same checks that both stores show the same rows: CSV view byte for
// byte, and the Parquet view read by parquet-go.
func (tw *twin) same() {
	tw.t.Helper()
	a, b := readView(tw.t, tw.st, "ES", ViewCSV), readView(tw.t, tw.peer, "ES", ViewCSV)
	if !bytes.Equal(a, b) {
		tw.t.Fatalf("CSV view differs from the full rewrite's:\n%s\nvs\n%s", head(a), head(b))
	}
	pa, pb := parquetRows(tw.t, readView(tw.t, tw.st, "ES", ViewParquet)), parquetRows(tw.t, readView(tw.t, tw.peer, "ES", ViewParquet))
	if pa != pb {
		tw.t.Fatal("Parquet view rows differ from the full rewrite's")
	}
	if n := strings.Count(pa, "\n"); int64(n) != tw.head(tw.st).RowCount {
		tw.t.Fatalf("Parquet view holds %d rows, manifest %d", n, tw.head(tw.st).RowCount)
	}
}

func (tw *twin) head(s *Store) *metastore.Manifest {
	tw.t.Helper()
	m, err := s.head("ES")
	if err != nil {
		tw.t.Fatal(err)
	}
	return m
}

func head(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// parquetRows reads a Parquet view with parquet-go and prints its rows.
func parquetRows(t *testing.T, data []byte) string {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Parquet view does not open with parquet-go: %v", err)
	}
	r := parquet.NewReader(f)
	defer r.Close()
	var out strings.Builder
	rows := make([]parquet.Row, 256)
	var total int64
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			for _, v := range row {
				fmt.Fprintf(&out, "%v,", v)
			}
			out.WriteByte('\n')
		}
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the Parquet view: %v", err)
		}
	}
	if total != f.NumRows() {
		t.Fatalf("read %d rows, footer says %d", total, f.NumRows())
	}
	return out.String()
}

func parquetViewAt(t *testing.T, st *Store, v int64) []byte {
	t.Helper()
	sn, err := st.PinVersion("ES", v)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(ViewParquet, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// filesOf returns the files of key in m.
func filesOf(m *metastore.Manifest, key string) []metastore.Partition {
	var out []metastore.Partition
	for _, pt := range m.Partitions {
		if pt.Key == key {
			out = append(out, pt)
		}
	}
	return out
}

const jan = "year=2024/month=01"

var jan2 = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)

// TestAppendWritesOnlyTheNewRows: a day after the stored ones becomes one
// more file of its month holding only that day; each later day another.
// Views equal the full rewrite's at every step.
func TestAppendWritesOnlyTheNewRows(t *testing.T) {
	tw := newTwin(t)
	tw.ingest(tenMinuteBars(t, tw.dir, "base.csv", jan2, 144*10, "yahoo", 100, "A", "B"))
	base := filesOf(tw.head(tw.st), jan)
	if len(base) != 1 {
		t.Fatalf("base: %d files in %s", len(base), jan)
	}
	for d := 0; d < 3; d++ {
		day := jan2.AddDate(0, 0, 10+d)
		res := tw.ingest(tenMinuteBars(t, tw.dir, fmt.Sprintf("day%d.csv", d), day, 144, "yahoo", 200, "A", "B"))
		if res.Report.RowsAdded != 288 || !res.Committed {
			t.Fatalf("day %d: %+v", d, res.Report)
		}
		files := filesOf(tw.head(tw.st), jan)
		if len(files) != 2+d || files[0].Path != base[0].Path {
			t.Fatalf("after day %d: %d files, first %s; want %d, first %s kept", d, len(files), files[0].Path, 2+d, base[0].Path)
		}
		last := files[len(files)-1]
		if last.Rows != 288 || !last.MinTS.Equal(day) || last.Size > base[0].Size/4 {
			t.Fatalf("day %d wrote %+v (base file %d bytes)", d, last, base[0].Size)
		}
		if m := tw.head(tw.st); m.FormatVersion != metastore.FormatMultiFile {
			t.Fatalf("manifest format %d, want %d", m.FormatVersion, metastore.FormatMultiFile)
		}
		if got := filesOf(tw.head(tw.peer), jan); len(got) != 1 {
			t.Fatalf("the full-rewrite peer has %d files", len(got))
		}
	}
	// Duplicates inside the appended input are removed (later row wins).
	d20 := jan2.AddDate(0, 0, 20)
	dupRow := func(ts time.Time, c int) string {
		return fmt.Sprintf("%s,%d,%d,%d,%d,100,A,yahoo", ts.Format(time.DateTime), c, c+1, c-1, c)
	}
	dup := writeFile(t, tw.dir, "dup.csv", bars(dupRow(d20, 300), dupRow(d20.Add(time.Minute), 300),
		dupRow(d20, 301), dupRow(d20.Add(2*time.Minute), 300), dupRow(d20.Add(time.Minute), 300)))
	res := tw.ingest(dup)
	if res.Report.RowsAdded != 3 || res.Report.RowsUnchanged+res.Report.ConflictsResolved == 0 {
		t.Fatalf("duplicated append: %+v", res.Report)
	}
	files := filesOf(tw.head(tw.st), jan)
	if last := files[len(files)-1]; last.Rows != 3 {
		t.Fatalf("the append of 6 rows with 3 duplicates wrote %d rows", last.Rows)
	}
	if csv := string(readView(t, tw.st, "ES", ViewCSV)); !strings.Contains(csv, "2024-01-22 00:00:00,301,302,300,301,100,A,yahoo\n") ||
		strings.Contains(csv, "2024-01-22 00:00:00,300,") {
		t.Fatal("the later of two duplicate rows did not win")
	}
	// Input spanning a new month and the open one: the open month appends,
	// the new one is a new key.
	tw.ingest(tenMinuteBars(t, tw.dir, "span.csv", time.Date(2024, 1, 31, 12, 0, 0, 0, time.UTC), 144, "yahoo", 400, "A", "B"))
	if n := len(filesOf(tw.head(tw.st), jan)); n != 6 {
		t.Fatalf("january has %d files, want 6", n)
	}
	if n := len(filesOf(tw.head(tw.st), "year=2024/month=02")); n != 1 {
		t.Fatalf("february has %d files", n)
	}
}

// TestOverlapAfterAppendMerges: rows that overlap appended files merge
// under the provider ranking (ibkr > barchart > yahoo, then the newer
// write) onto all of the key's files, into one file.
func TestOverlapAfterAppendMerges(t *testing.T) {
	tw := newTwin(t)
	tw.ingest(tenMinuteBars(t, tw.dir, "base.csv", jan2, 144*5, "yahoo", 100, "A", "B"))
	day := jan2.AddDate(0, 0, 6)
	tw.ingest(tenMinuteBars(t, tw.dir, "day.csv", day, 144, "barchart", 200, "A", "B"))
	if n := len(filesOf(tw.head(tw.st), jan)); n != 2 {
		t.Fatalf("%d files after the append", n)
	}
	row := func(ts time.Time, close float64, prov string) string {
		return fmt.Sprintf("%s,%g,%g,%g,%g,7,A,%s", ts.Format(time.DateTime), close, close+1, close-1, close, prov)
	}
	csvHas := func(want string) {
		t.Helper()
		if !strings.Contains(string(readView(t, tw.st, "ES", ViewCSV)), "\n"+want+"\n") {
			t.Fatalf("the view lacks %q", want)
		}
	}
	ts := day.Add(30 * time.Minute)
	// yahoo loses to the stored barchart row.
	res := tw.ingest(writeFile(t, tw.dir, "y.csv", bars(row(ts, 9, "yahoo"))))
	if res.Committed {
		t.Fatalf("a yahoo row over barchart committed: %+v", res.Report)
	}
	// ibkr beats barchart: the key is merged into one file.
	tw.ingest(writeFile(t, tw.dir, "i.csv", bars(row(ts, 11, "ibkr"), row(jan2.Add(time.Hour), 12, "ibkr"))))
	csvHas(row(ts, 11, "ibkr"))
	if n := len(filesOf(tw.head(tw.st), jan)); n != 1 {
		t.Fatalf("%d files after an overlapping ingest, want 1", n)
	}
	// Append again, then a newer ibkr row over an older ibkr row in the
	// appended file wins; barchart over ibkr loses.
	day2 := day.AddDate(0, 0, 1)
	tw.ingest(writeFile(t, tw.dir, "i2.csv", bars(row(day2, 20, "ibkr"), row(day2.Add(time.Hour), 21, "ibkr"))))
	if n := len(filesOf(tw.head(tw.st), jan)); n != 2 {
		t.Fatalf("%d files after the second append", n)
	}
	tw.ingest(writeFile(t, tw.dir, "i3.csv", bars(row(day2, 22, "ibkr"), row(day2.Add(time.Hour), 23, "barchart"))))
	csvHas(row(day2, 22, "ibkr"))
	csvHas(row(day2.Add(time.Hour), 21, "ibkr"))
	if n := len(filesOf(tw.head(tw.st), jan)); n != 1 {
		t.Fatalf("%d files after the overlapping ingest", n)
	}
	// A row at exactly the last stored timestamp (another symbol) is an
	// overlap, not an append: the key's files must not share a timestamp.
	last := tw.head(tw.st).Partitions[0].MaxTS
	tw.ingest(writeFile(t, tw.dir, "same.csv", bars(strings.Replace(row(last, 5, "yahoo"), ",A,", ",Z,", 1))))
	if n := len(filesOf(tw.head(tw.st), jan)); n != 1 {
		t.Fatalf("%d files after a row at the last timestamp", n)
	}
}

// TestAppendCapFoldsSmallFiles: at maxKeyFiles an append folds the newest
// small files and the new rows into one, keeping the first file and a file
// much bigger than what is folded.
func TestAppendCapFoldsSmallFiles(t *testing.T) {
	tw := newTwin(t)
	tw.ingest(tenMinuteBars(t, tw.dir, "base.csv", jan2, 144, "yahoo", 100, "A"))
	tw.ingest(tenMinuteBars(t, tw.dir, "big.csv", jan2.AddDate(0, 0, 1), 100, "yahoo", 100, "A"))
	files := filesOf(tw.head(tw.st), jan)
	first, big := files[0], files[1]
	for i := 2; i < maxKeyFiles; i++ {
		tw.ingest(tenMinuteBars(t, tw.dir, fmt.Sprintf("h%d.csv", i), jan2.AddDate(0, 0, 2).Add(time.Duration(i)*time.Minute), 1, "yahoo", 200, "A"))
	}
	if n := len(filesOf(tw.head(tw.st), jan)); n != maxKeyFiles {
		t.Fatalf("%d files, want %d", n, maxKeyFiles)
	}
	tw.ingest(tenMinuteBars(t, tw.dir, "over.csv", jan2.AddDate(0, 0, 3), 2, "yahoo", 300, "A"))
	files = filesOf(tw.head(tw.st), jan)
	if len(files) != 3 || files[0].Path != first.Path || files[1].Path != big.Path || files[2].Rows != maxKeyFiles-2+2 {
		t.Fatalf("after the cap: %d files, %s %s (want %s %s kept), last %d rows", len(files), files[0].Path, files[1].Path, first.Path, big.Path, files[len(files)-1].Rows)
	}
}

// TestFoldPolicyIsLogarithmic simulates appends of one row each to a key at
// the cap: every row is rewritten about log2(appends) times, where folding
// every file after the first rewrites rows once per fold.
func TestFoldPolicyIsLogarithmic(t *testing.T) {
	const appends = 5000
	simulate := func(fold func(base []metastore.Partition, rows int64) int) (written int64, most int) {
		base := []metastore.Partition{{Rows: 1_000_000}}
		for i := 0; i < appends; i++ {
			if len(base)+1 > maxKeyFiles {
				j := fold(base, 1)
				var rows int64 = 1
				for _, pt := range base[j:] {
					rows += pt.Rows
				}
				base = append(base[:j], metastore.Partition{Rows: rows})
				written += rows
			} else {
				base = append(base, metastore.Partition{Rows: 1})
				written++
			}
			most = max(most, len(base))
		}
		return written, most
	}
	got, most := simulate(foldFrom)
	all, _ := simulate(func([]metastore.Partition, int64) int { return 1 })
	if most > maxKeyFiles {
		t.Fatalf("a key reached %d files", most)
	}
	if bound := int64(appends) * 16; got > bound {
		t.Fatalf("%d appends of one row wrote %d rows, want at most %d (log2); folding everything wrote %d", appends, got, bound, all)
	}
	if got*5 > all {
		t.Fatalf("foldFrom wrote %d rows, folding all after the first %d", got, all)
	}
	t.Logf("%d appends: %d rows written (folding all after the first: %d)", appends, got, all)
}

// TestSeveralFilesThroughEveryReader: with keys of several files, every
// version's views, diff, rollback, row retention, verify, GC and a backup
// restored into a new store agree with the full-rewrite peer.
func TestSeveralFilesThroughEveryReader(t *testing.T) {
	tw := newTwin(t)
	ctx := context.Background()
	tw.ingest(tenMinuteBars(t, tw.dir, "base.csv", jan2, 144*40, "yahoo", 100, "A", "B"))
	for d := 0; d < 3; d++ {
		tw.ingest(tenMinuteBars(t, tw.dir, fmt.Sprintf("d%d.csv", d), jan2.AddDate(0, 0, 40+d), 144, "barchart", 200, "A", "B"))
	}
	m := tw.head(tw.st)
	if len(filesOf(m, "year=2024/month=02")) != 4 {
		t.Fatalf("february files: %+v", filesOf(m, "year=2024/month=02"))
	}
	// Every version, as .versions/ES/N.csv and .parquet show them.
	vs, err := tw.st.VersionNumbers("ES")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if a, b := readViewAt(t, tw.st, "ES", v), readViewAt(t, tw.peer, "ES", v); !bytes.Equal(a, b) {
			t.Fatalf("version %d CSV differs from the full rewrite's", v)
		}
		if a, b := parquetRows(t, parquetViewAt(t, tw.st, v)), parquetRows(t, parquetViewAt(t, tw.peer, v)); a != b {
			t.Fatalf("version %d Parquet rows differ from the full rewrite's", v)
		}
	}
	// Diff of the base against the head: the appended rows are added.
	last := vs[len(vs)-1]
	d, err := tw.st.Diff(ctx, "ES", last-3, last)
	if err != nil {
		t.Fatal(err)
	}
	if d.Added != 3*288 || d.Removed != 0 || d.Changed != 0 || d.PartitionsSame == 0 {
		t.Fatalf("diff: %+v", d)
	}
	pd, err := tw.peer.Diff(ctx, "ES", last-3, last)
	if err != nil {
		t.Fatal(err)
	}
	if d.Added != pd.Added || d.Unchanged != pd.Unchanged || fmt.Sprint(d.AddedRows) != fmt.Sprint(pd.AddedRows) {
		t.Fatalf("diff %+v, full rewrite's %+v", d, pd)
	}
	// Rollback to the version with two files in february, then undo.
	before := views(t, tw.st, "ES", last-1)
	rb, err := tw.st.Rollback(ctx, "ES", last-1)
	if err != nil || !rb.Committed {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	if got := views(t, tw.st, "ES", rb.Version); got != before {
		t.Fatal("the rollback's views differ from the version rolled back to")
	}
	if _, err := tw.st.Rollback(ctx, "ES", last); err != nil {
		t.Fatal(err)
	}
	// Backup, then restore into a new store: byte-identical head.
	target := []metastore.BackupTarget{{Name: "t", URL: "file://" + t.TempDir()}}
	if res, err := tw.st.Backup(ctx, target, BackupOptions{}); err != nil || !res[0].OK {
		t.Fatalf("backup: %+v %v", res, err)
	}
	fresh := newTestStore(t, Options{})
	if rep, err := fresh.Restore(ctx, []RestoreSource{{Label: "t", URL: target[0].URL}}, RestoreOptions{}); err != nil || !rep.OK() {
		t.Fatalf("restore: %+v %v", rep, err)
	}
	if a, b := readView(t, fresh, "ES", ViewCSV), readView(t, tw.st, "ES", ViewCSV); !bytes.Equal(a, b) {
		t.Fatal("the restored dataset differs")
	}
	if a, b := readView(t, fresh, "ES", ViewParquet), readView(t, tw.st, "ES", ViewParquet); !bytes.Equal(a, b) {
		t.Fatal("the restored Parquet view differs")
	}
	// The trash and back: every version byte for byte.
	allBefore := allViews(t, tw.st)
	if _, err := tw.st.Trash("ES", "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tw.st.TrashRestore("ES", ""); err != nil {
		t.Fatal(err)
	}
	if got := allViews(t, tw.st); fmt.Sprint(got) != fmt.Sprint(allBefore) {
		t.Fatal("a dataset with several files per partition came back from the trash changed")
	}
	// Row retention with the cutoff inside an appended file, then inside
	// the first file of the key: the same rows as the peer's.
	for _, cutoff := range []time.Time{jan2.AddDate(0, 0, 35), jan2.AddDate(0, 0, 41).Add(time.Hour)} {
		r1, err := tw.st.dropRowsBefore(ctx, "ES", cutoff, false)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := tw.peer.dropRowsBefore(ctx, "ES", cutoff, false)
		if err != nil {
			t.Fatal(err)
		}
		if r1.rows != r2.rows || r1.rows == 0 {
			t.Fatalf("retention before %s dropped %d rows, the full rewrite %d", cutoff, r1.rows, r2.rows)
		}
		tw.same()
	}
	// GC with no grace keeps every file a version names; verify reads them.
	if _, err := tw.st.collect("ES", metastore.GCOptions{Grace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	vs, _ = tw.st.VersionNumbers("ES")
	for _, v := range vs {
		mv, err := tw.st.Manifest("ES", v)
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range mv.Partitions {
			if _, err := os.Stat(filepath.Join(tw.st.datasetDir("ES"), filepath.FromSlash(pt.Path))); err != nil {
				t.Fatalf("GC removed %s of version %d: %v", pt.Path, v, err)
			}
		}
		views(t, tw.st, "ES", v)
	}
	probs, err := tw.st.VerifyVersions(ctx, false)
	if err != nil || len(probs) != 0 {
		t.Fatalf("verify: %v %v", probs, err)
	}
}

// TestSettingsRewriteOfSeveralFiles: a dedup change re-merges every file
// of a key into one.
func TestSettingsRewriteOfSeveralFiles(t *testing.T) {
	tw := newTwin(t)
	tw.ingest(tenMinuteBars(t, tw.dir, "base.csv", jan2, 144, "yahoo", 100, "A", "B"))
	tw.ingest(tenMinuteBars(t, tw.dir, "day.csv", jan2.AddDate(0, 0, 1), 144, "yahoo", 100, "A", "B"))
	for _, s := range []*Store{tw.st, tw.peer} {
		if _, _, err := s.UpdateSettings(context.Background(), "ES", SettingsChange{Dedup: "timestamp_only"}); err != nil {
			t.Fatal(err)
		}
	}
	tw.same()
	if m := tw.head(tw.st); len(filesOf(m, jan)) != 1 || m.RowCount != 288 {
		t.Fatalf("after the rewrite: %d files, %d rows", len(filesOf(m, jan)), m.RowCount)
	}
}
