package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/metastore"
)

// genFiles writes n CSV files of random daily bars over three years into
// dir: overlapping dates, providers drawn from ibkr, barchart, yahoo, an
// unlisted one and none, so that files conflict by provider rank and by
// order; files from the fifth on may carry an extra column (open_interest,
// or a text note), the fourth has no header (it takes the dataset's), the
// sixth holds only a header, and the eighth repeats the third exactly.
func genFiles(t *testing.T, dir string, seed uint64, n int) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	providers := []string{"ibkr", "barchart", "yahoo", "other", ""}
	start := time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC)
	var files []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%03d.csv", i)
		var sb strings.Builder
		extra := r.IntN(4) // 0, 1: none; 2: open_interest; 3: note
		switch {
		case i < 3:
			extra = 0
		case i == 3:
			// Headerless: the dataset's header is assumed (the canonical
			// columns: the files before it add none).
			extra = -1
		case i == 5:
			sb.WriteString("timestamp,open,high,low,close,volume,symbol,provider\n")
			files = append(files, writeFile(t, dir, name, sb.String()))
			continue
		case i == 7:
			files = append(files, writeFile(t, dir, name, readFile(t, files[2])))
			continue
		}
		if extra >= 0 {
			sb.WriteString("timestamp,open,high,low,close,volume,symbol,provider")
			switch extra {
			case 2:
				sb.WriteString(",open_interest")
			case 3:
				sb.WriteString(",note")
			}
			sb.WriteString("\n")
		}
		day := r.IntN(900)
		rows := 5 + r.IntN(120)
		for k := 0; k < rows; k++ {
			day += r.IntN(3) // repeated dates inside one file too
			ts := start.AddDate(0, 0, day)
			o, c := 100+r.Float64()*10, 100+r.Float64()*10
			lo, hi := min(o, c)-r.Float64(), max(o, c)+r.Float64()
			p := providers[r.IntN(len(providers))]
			if extra < 0 {
				fmt.Fprintf(&sb, "%s,%.2f,%.2f,%.2f,%.2f,%d,S,%s", ts.Format("2006-01-02 15:04:05"), o, hi, lo, c, r.IntN(1000), p)
				sb.WriteString("\n")
				continue
			}
			fmt.Fprintf(&sb, "%s,%.2f,%.2f,%.2f,%.2f,%d,S,%s", ts.Format("2006-01-02"), o, hi, lo, c, r.IntN(1000), p)
			switch extra {
			case 2:
				fmt.Fprintf(&sb, ",%d", r.IntN(50))
			case 3:
				fmt.Fprintf(&sb, ",n%d", r.IntN(5))
			}
			sb.WriteString("\n")
		}
		files = append(files, writeFile(t, dir, name, sb.String()))
	}
	return files
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ingestFiles runs IngestFiles and returns its groups.
func ingestFiles(t *testing.T, st *Store, name string, files []string, opt BatchOptions) []GroupResult {
	t.Helper()
	var groups []GroupResult
	if err := st.IngestFiles(context.Background(), name, files, opt, func(g GroupResult) { groups = append(groups, g) }); err != nil {
		t.Fatal(err)
	}
	return groups
}

// sequential ingests files one after another with Ingest, skipping the
// ones that fail, and returns their errors by file.
func sequential(t *testing.T, st *Store, name string, files []string) map[string]error {
	t.Helper()
	errs := map[string]error{}
	for _, f := range files {
		if _, err := st.Ingest(context.Background(), name, f, IngestOptions{Source: f}); err != nil {
			errs[f] = err
		}
	}
	return errs
}

// TestIngestFilesEqualsSequential: merging many overlapping, conflicting
// files in one commit gives byte for byte the CSV view of ingesting them
// one after another, into a new dataset and onto an existing one, with
// small decoder batches so that a partition is merged several times in
// one build.
func TestIngestFilesEqualsSequential(t *testing.T) {
	defer func(n int) { decodeBatchRows = n }(decodeBatchRows)
	decodeBatchRows = 16
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			dir := t.TempDir()
			files := genFiles(t, dir, seed, 24)
			base := genFiles(t, t.TempDir(), seed+100, 1)[0]
			seq, bat := newTestStore(t, Options{}), newTestStore(t, Options{})
			for _, name := range []string{"new", "old", "empty-first"} {
				files := files
				switch name {
				case "old":
					sequential(t, seq, name, []string{base})
					sequential(t, bat, name, []string{base})
				case "empty-first":
					// A header-only file first: one after another
					// commits an empty dataset of yearly partitions,
					// though the next file's bars a second apart would
					// make daily ones.
					var dense strings.Builder
					dense.WriteString("timestamp,open,high,low,close,volume,symbol,provider\n")
					for k := 0; k < 100; k++ {
						fmt.Fprintf(&dense, "%s,1,2,0.5,1.5,%d,S,ibkr\n", time.Date(2024, 3, 1, 9, 30, k, 0, time.UTC).Format("2006-01-02 15:04:05"), k)
					}
					files = append([]string{files[5], writeFile(t, dir, "dense.csv", dense.String())}, files...)
				}
				if errs := sequential(t, seq, name, files); len(errs) > 0 {
					t.Fatalf("sequential ingest failed: %v", errs)
				}
				groups := ingestFiles(t, bat, name, files, BatchOptions{})
				if len(groups) != 1 || groups[0].Commit == nil || !groups[0].Commit.Committed || len(groups[0].Files) != len(files) {
					t.Fatalf("%s: want one commit of %d files, got %d groups: %+v", name, len(files), len(groups), groups)
				}
				for _, f := range groups[0].Files {
					if f.Err != nil {
						t.Fatalf("%s: %v", f.File, f.Err)
					}
				}
				want, got := readView(t, seq, name, ViewCSV), readView(t, bat, name, ViewCSV)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: batch differs from sequential:\n%s", name, firstDiff(got, want))
				}
				sh, err := seq.head(name)
				if err != nil {
					t.Fatal(err)
				}
				bh, err := bat.head(name)
				if err != nil {
					t.Fatal(err)
				}
				if sh.Settings.Granularity != bh.Settings.Granularity || partitionKeys(sh) != partitionKeys(bh) {
					t.Fatalf("%s: granularity %s, partitions %s; one after another %s, %s", name,
						bh.Settings.Granularity, partitionKeys(bh), sh.Settings.Granularity, partitionKeys(sh))
				}
				if n := bytes.Count(got, []byte("\n")); n < 200 {
					t.Fatalf("%s: only %d lines", name, n)
				}
				for _, p := range []string{"ibkr", "barchart", "yahoo", "other"} {
					if !bytes.Contains(got, []byte(","+p)) {
						t.Fatalf("%s: no %s row in the result", name, p)
					}
				}
				l, err := bat.Log(name)
				if err != nil {
					t.Fatal(err)
				}
				top := l[0]
				for _, v := range l {
					if v.Version > top.Version {
						top = v
					}
				}
				if !strings.Contains(top.Source, fmt.Sprintf("and %d more files", len(files)-1)) || !strings.Contains(string(top.Report), filepath.Base(files[23])) {
					t.Fatalf("%s: the version does not name its files: %q %s", name, top.Source, top.Report)
				}
				if r := groups[0].Commit.Report; r.RowsAdded == 0 || r.ConflictsResolved == 0 {
					t.Fatalf("%s: report %+v", name, r)
				}
			}
		})
	}
}

func firstDiff(got, want []byte) string {
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
		}
	}
	return fmt.Sprintf("%d lines vs %d", len(gl), len(wl))
}

// TestIngestFilesBadFile: a bad file among good ones is refused with its
// file, line, column and value; the others merge in one commit, the bad
// file's rows are in no version, and the dataset's last_error names it.
func TestIngestFilesBadFile(t *testing.T) {
	dir := t.TempDir()
	st, seq := newTestStore(t, Options{}), newTestStore(t, Options{})
	hdr := "timestamp,open,high,low,close,volume,symbol,provider\n"
	a := writeFile(t, dir, "a.csv", hdr+"2024-01-02,1,2,0.5,1.5,10,X,yahoo\n2024-01-03,1,2,0.5,1.5,10,X,yahoo\n")
	bad := writeFile(t, dir, "bad.csv", hdr+"2024-01-04,7,8,6,7.5,70,X,yahoo\n2024-01-05,7,8,abc,7.5,70,X,yahoo\n")
	unfit := writeFile(t, dir, "unfit.csv", hdr[:len(hdr)-1]+",note\n2024-01-06,1,2,0.5,1.5,10,X,yahoo,n\n")
	clash := writeFile(t, dir, "clash.csv", hdr[:len(hdr)-1]+",note\n2024-01-07,1,2,0.5,1.5,10,X,yahoo,1.5\n")
	c := writeFile(t, dir, "c.csv", hdr+"2024-01-03,2,3,1.5,2.5,20,X,yahoo\n2024-01-08,2,3,1.5,2.5,20,X,ibkr\n")
	files := []string{a, bad, unfit, clash, c}
	groups := ingestFiles(t, st, "X", files, BatchOptions{})
	if len(groups) != 1 || groups[0].Commit == nil || !groups[0].Commit.Committed || groups[0].Commit.Version != 1 {
		t.Fatalf("want one commit, got %+v", groups)
	}
	var failed []string
	for _, f := range groups[0].Files {
		if f.Err != nil {
			failed = append(failed, f.File)
			if f.File == bad {
				if !errors.Is(f.Err, ErrBadInput) {
					t.Errorf("bad file: %v, want ErrBadInput", f.Err)
				}
				for _, want := range []string{bad, ":3", "low", "abc"} {
					if !strings.Contains(f.Err.Error(), want) {
						t.Errorf("error %q does not name %q", f.Err, want)
					}
				}
			}
		}
	}
	// note is text in unfit.csv and a number in clash.csv: as one after
	// another, the first sets the column, the second is read with it.
	errs := sequential(t, seq, "X", files)
	var seqFailed []string
	for _, f := range files {
		if errs[f] != nil {
			seqFailed = append(seqFailed, f)
		}
	}
	if fmt.Sprint(failed) != fmt.Sprint(seqFailed) || len(failed) == 0 || failed[0] != bad {
		t.Fatalf("failed %v, one after another %v", failed, seqFailed)
	}
	got := string(readView(t, st, "X", ViewCSV))
	if want := string(readView(t, seq, "X", ViewCSV)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(got, "2024-01-04") || strings.Contains(got, ",7,8,") {
		t.Fatalf("the bad file's rows landed:\n%s", got)
	}
	for _, want := range []string{"2024-01-02", "2024-01-03 00:00:00,2,3", "2024-01-08", "ibkr"} {
		if !strings.Contains(got, want) {
			t.Fatalf("%s missing:\n%s", want, got)
		}
	}
	doc, err := st.MetadataDoc("X.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "last_error") || !strings.Contains(string(doc), "bad.csv") {
		t.Fatalf("last_error does not name the bad file:\n%s", doc)
	}
}

// TestIngestFilesMemoryBound: the decoded rows a group holds stay within
// MaxBytes plus one decoder batch, however many files; a file over the
// bound on its own is ingested streaming; the result still equals one
// after another, in several commits.
func TestIngestFilesMemoryBound(t *testing.T) {
	defer func(n int) { decodeBatchRows = n }(decodeBatchRows)
	decodeBatchRows = 16
	defer func() { batchHeld = nil }()
	dir := t.TempDir()
	files := genFiles(t, dir, 9, 60)
	var big strings.Builder
	big.WriteString("timestamp,open,high,low,close,volume,symbol,provider\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&big, "%s,1,2,0.5,1.5,%d,S,yahoo\n", time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Hour).Format("2006-01-02 15:04:05"), i)
	}
	files = append(files[:30], append([]string{writeFile(t, dir, "big.csv", big.String())}, files[30:]...)...)
	const bound = 24 << 10
	var maxHeld int64
	batchHeld = func(held, b int64) {
		if b != bound {
			t.Errorf("bound %d, want %d", b, bound)
		}
		maxHeld = max(maxHeld, held)
	}
	st, seq := newTestStore(t, Options{}), newTestStore(t, Options{})
	groups := ingestFiles(t, st, "M", files, BatchOptions{MaxBytes: bound})
	batchHeld = nil
	// One decoder batch of 16 rows of these files is well under 4 KiB.
	if maxHeld > bound+4<<10 {
		t.Fatalf("a group held %d bytes, bound %d", maxHeld, bound)
	}
	n, alone := 0, false
	for _, g := range groups {
		n += len(g.Files)
		if len(g.Files) == 1 && g.Files[0].File == files[30] {
			alone = true
		}
		for _, f := range g.Files {
			if f.Err != nil {
				t.Fatal(f.Err)
			}
		}
	}
	if n != len(files) || len(groups) < 4 || len(groups) > len(files)/2 || !alone {
		t.Fatalf("%d files in %d groups (big file alone: %v)", n, len(groups), alone)
	}
	sequential(t, seq, "M", files)
	if got, want := readView(t, st, "M", ViewCSV), readView(t, seq, "M", ViewCSV); !bytes.Equal(got, want) {
		t.Fatalf("batch differs from sequential:\n%s", firstDiff(got, want))
	}
	sh, err := seq.head("M")
	if err != nil {
		t.Fatal(err)
	}
	bh, err := st.head("M")
	if err != nil {
		t.Fatal(err)
	}
	if sh.Settings.Granularity != bh.Settings.Granularity || partitionKeys(sh) != partitionKeys(bh) {
		t.Fatalf("granularity %s, partitions %s; one after another %s, %s",
			bh.Settings.Granularity, partitionKeys(bh), sh.Settings.Granularity, partitionKeys(sh))
	}
}

// partitionKeys lists the partition keys of m (a key may have several
// files: appended rows).
func partitionKeys(m *metastore.Manifest) string {
	var keys []string
	for _, p := range m.Partitions {
		if len(keys) == 0 || keys[len(keys)-1] != p.Key {
			keys = append(keys, p.Key)
		}
	}
	return strings.Join(keys, " ")
}
