package fusefs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bcfs/store"
)

// The real-client matrix: each program changes dataset ES (esRows rows)
// through a mount the way its users do, and the test compares the dataset's
// whole CSV view afterwards with the one expected, byte for byte: the row
// count, the changed value and every other row.

const esRows = 100

// esEdit is the change a user makes in the tests: the close of row 5 (at
// esEditTS) goes from 4001.75 to 4001.5.
var esEditTS = day.Add(5 * time.Minute).Format("2006-01-02 15:04:05")

var (
	esEditOld = esEditTS + ",4001.25,4002.25,4000.25,4001.75,"
	esEditNew = esEditTS + ",4001.25,4002.25,4000.25,4001.5,"
)

// esView returns the CSV view of ES holding n bars (esRows, then the 20 and
// the 10 rows the tests add), with the edit applied if edited. Views print
// exactly what genBars and genRows generate.
func esView(t *testing.T, n int, edited bool) string {
	t.Helper()
	s := genBars(day, min(n, esRows), "ES", "ibkr")
	if n > esRows {
		s += genRows(day.Add(esRows*time.Minute), min(n, esRows+20)-esRows, "ES", "ibkr")
	}
	if n > esRows+20 {
		s += genRows(day.Add((esRows+20)*time.Minute), n-esRows-20, "ES", "ibkr")
	}
	if edited {
		if strings.Count(s, esEditOld) != 1 {
			t.Fatalf("edit %q is not unique", esEditOld)
		}
		s = strings.Replace(s, esEditOld, esEditNew, 1)
	}
	return s
}

// esMount mounts a store holding ES with esRows rows and checks that its
// view is what esView says.
func esMount(t *testing.T) *mounted {
	t.Helper()
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, esRows, "ES", "ibkr")))
	})
	if got := string(snapshotBytes(t, m.st, "ES", store.ViewCSV)); got != esView(t, esRows, false) {
		t.Fatalf("view of the generated bars differs from them:\n%s", got)
	}
	return m
}

// checkES fails unless ES's head view, read through the mount by a new
// open, is want. It names the row count and the first differing line.
func checkES(t *testing.T, m *mounted, want string) {
	t.Helper()
	var got []byte
	deadline := time.Now().Add(3 * cacheTimeout)
	for {
		var err error
		got, err = os.ReadFile(filepath.Join(m.mnt, "ES.csv"))
		if err == nil && string(got) == want {
			return
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("read ES.csv: %v", err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
	first := ""
	for i := 0; i < max(len(gl), len(wl)); i++ {
		g, w := "", ""
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			first = fmt.Sprintf("line %d: got %q, want %q", i+1, g, w)
			break
		}
	}
	e, _ := m.st.Stat("ES")
	t.Fatalf("ES after the client: %d lines (version %d, %d rows), want %d lines; first difference at %s",
		len(gl)-1, e.Version, e.Rows, len(wl)-1, first)
}

// need fails under BCFS_REQUIRE_FUSE=1, else skips, when a program is
// missing; it returns the program's path.
func need(t *testing.T, prog, install string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err == nil {
		return p
	}
	if requireFuse() {
		t.Fatalf("%s missing: %s", prog, install)
	}
	t.Skipf("%s missing: %s", prog, install)
	return ""
}

// run runs a client program with its working directory outside the mount
// (see TestVimSave) and fails with its output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// esChanges is a file holding only the edited row and 20 new rows: written
// over ES.csv it must merge (esView(esRows+20, true)); a tool that replaced
// the dataset would leave 21 rows.
func esChanges(t *testing.T) string {
	t.Helper()
	return "timestamp,open,high,low,close,volume,symbol,provider\n" + esEditNew + "105,ES,ibkr\n" +
		genRows(day.Add(esRows*time.Minute), 20, "ES", "ibkr")
}

// checkMerged checks that ES holds the merge of esChanges as version 2
// (the history is kept).
func checkMerged(t *testing.T, m *mounted) {
	t.Helper()
	checkES(t, m, esView(t, esRows+20, true))
	if e, err := m.st.Stat("ES"); err != nil || e.Version != 2 {
		t.Fatalf("ES at version %d (%v), want 2: one merge onto version 1", e.Version, err)
	}
}

// TestCopyClients: copy and sync tools write a file of one changed and 20
// new rows over ES.csv; each merges (nothing lost), and an append adds rows.
func TestCopyClients(t *testing.T) {
	edited := esChanges(t)
	cases := []struct {
		name, prog, install string
		do                  func(t *testing.T, src, dst string)
		want                string
	}{
		{"cp", "cp", "coreutils", func(t *testing.T, src, dst string) { run(t, "cp", src, dst) }, ""},
		{"cp -p", "cp", "coreutils", func(t *testing.T, src, dst string) { run(t, "cp", "-p", src, dst) }, ""},
		{"rsync -a", "rsync", "apt-get install -y rsync", func(t *testing.T, src, dst string) { run(t, "rsync", "-a", src, dst) }, ""},
		{"rsync --inplace", "rsync", "apt-get install -y rsync", func(t *testing.T, src, dst string) {
			run(t, "rsync", "--inplace", src, dst)
		}, ""},
		{"cat >>", "sh", "dash", func(t *testing.T, _, dst string) {
			extra := writeFile(t, t.TempDir(), "extra.csv", genRows(day.Add(esRows*time.Minute), 20, "ES", "ibkr"))
			run(t, "sh", "-c", `cat "$0" >> "$1"`, extra, dst)
		}, esView(t, esRows+20, false)},
		{"gio save", "gio", "apt-get install -y libglib2.0-bin", func(t *testing.T, src, dst string) {
			run(t, "sh", "-c", `gio save "$1" < "$0"`, src, dst)
		}, ""},
		{"gio copy", "gio", "apt-get install -y libglib2.0-bin", func(t *testing.T, src, dst string) { run(t, "gio", "copy", src, dst) }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			need(t, tc.prog, tc.install)
			m := esMount(t)
			src := writeFile(t, t.TempDir(), "ES.csv", edited)
			tc.do(t, src, filepath.Join(m.mnt, "ES.csv"))
			if tc.want == "" {
				checkMerged(t, m)
			} else {
				checkES(t, m, tc.want)
			}
		})
	}
}

// TestPandasWritesView: pandas reads ES.csv, changes a value, adds rows and
// writes it back with to_csv; then appends with mode="a".
func TestPandasWritesView(t *testing.T) {
	py := "/usr/bin/python3"
	needClient(t, py, "apt-get install -y python3-pandas")
	if err := exec.Command(py, "-c", "import pandas").Run(); err != nil {
		if requireFuse() {
			t.Fatal("pandas missing: apt-get install -y python3-pandas")
		}
		t.Skip("pandas missing")
	}
	script := filepath.Join(clientsDir(t), "pandas_edit.py")
	m := esMount(t)
	view := filepath.Join(m.mnt, "ES.csv")
	extra := writeFile(t, t.TempDir(), "extra.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
		genRows(day.Add(esRows*time.Minute), 20, "ES", "ibkr"))
	if out := strings.TrimSpace(run(t, py, script, "rewrite", view, esEditTS, "4001.5", extra)); out != "120" {
		t.Fatalf("pandas wrote %s rows, want 120", out)
	}
	checkES(t, m, esView(t, esRows+20, true))
	more := writeFile(t, t.TempDir(), "more.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
		genRows(day.Add((esRows+20)*time.Minute), 10, "ES", "ibkr"))
	run(t, py, script, "append", view, more)
	want := esView(t, esRows+30, true)
	checkES(t, m, want)
}

// TestRemoveThenTrashRestore: rm of a view moves the dataset to the trash;
// `bcfs trash restore` brings every version back byte for byte.
func TestRemoveThenTrashRestore(t *testing.T) {
	bin := bcfsBinary(t)
	m := esMount(t)
	dir := t.TempDir()
	ingestFile(t, m.st, "ES", writeFile(t, dir, "b.csv", esView(t, esRows+10, false)))
	ingestFile(t, m.st, "ES", writeFile(t, dir, "c.csv", esView(t, esRows+20, true)))
	versions := map[int64][]byte{}
	for v := int64(1); v <= 3; v++ {
		versions[v] = pinnedCSV(t, m.st, "ES", v)
	}
	run(t, "rm", filepath.Join(m.mnt, "ES.csv"))
	eventually(t, func() error {
		if _, err := os.Stat(filepath.Join(m.mnt, "ES.parquet")); !os.IsNotExist(err) {
			return fmt.Errorf("ES.parquet after rm ES.csv: %v", err)
		}
		return nil
	})
	if _, err := m.st.Stat("ES"); err == nil {
		t.Fatal("ES still a dataset after rm")
	}
	run(t, bin, "--store", m.st.Dir(), "trash", "restore", "ES")
	for v, want := range versions {
		if got := pinnedCSV(t, m.st, "ES", v); !bytes.Equal(got, want) {
			t.Errorf("version %d differs after restore", v)
		}
	}
	checkES(t, m, esView(t, esRows+20, true))
}

// pinnedCSV returns the CSV view of one version.
func pinnedCSV(t *testing.T, st *store.Store, name string, v int64) []byte {
	t.Helper()
	sn, err := st.Pin(name, v)
	if err != nil {
		t.Fatalf("pin %s@%d: %v", name, v, err)
	}
	defer sn.Release()
	buf := make([]byte, sn.Size(store.ViewCSV))
	if _, err := sn.ReadAt(store.ViewCSV, buf, 0); err != nil && len(buf) > 0 && !errorsIs(err, io.EOF) {
		t.Fatalf("read %s@%d: %v", name, v, err)
	}
	return buf
}

var bcfsBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the bcfs binary bcfsBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if bcfsBin.dir != "" {
		os.RemoveAll(bcfsBin.dir)
	}
	os.Exit(code)
}

// bcfsBinary builds the bcfs command once per test binary.
func bcfsBinary(t *testing.T) string {
	t.Helper()
	bcfsBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "bcfs-fusefs-bin-")
		if err != nil {
			bcfsBin.err = err
			return
		}
		bcfsBin.dir, bcfsBin.path = dir, filepath.Join(dir, "bcfs")
		if out, err := exec.Command("go", "build", "-o", bcfsBin.path, "..").CombinedOutput(); err != nil {
			bcfsBin.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if bcfsBin.err != nil {
		t.Fatal(bcfsBin.err)
	}
	return bcfsBin.path
}
