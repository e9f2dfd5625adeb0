package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// asUser runs a shell command as another user (uid and gid 65534, nobody),
// as the second user of the symlink attack.
func asUser(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as uid 65534: %s: %v\n%s", script, err, out)
	}
}

// TestCLISymlinkAttackAsSecondUser: in a world-writable store another user
// replaces trash, spool or scratch with a symlink to a victim folder; root's
// next bcfs commands refuse the store, naming the path and the fix, and the
// victim folder is untouched. A symlinked dataset folder never leads ingest
// or export out of the store.
func TestCLISymlinkAttackAsSecondUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as a second user")
	}
	base, err := os.MkdirTemp("", "bcfs-attack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // the second user reaches the store
		t.Fatal(err)
	}
	st := filepath.Join(base, "store")
	victim := filepath.Join(base, "victim")
	if err := os.MkdirAll(filepath.Join(victim, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "keep/b"} {
		if err := os.WriteFile(filepath.Join(victim, f), []byte("precious "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	victimUntouched := func(t *testing.T) {
		t.Helper()
		for _, f := range []string{"a", "keep/b"} {
			if b, err := os.ReadFile(filepath.Join(victim, f)); err != nil || string(b) != "precious "+f {
				t.Fatalf("victim file %s: %q, %v", f, b, err)
			}
		}
		if ents, _ := os.ReadDir(victim); len(ents) != 2 {
			t.Fatalf("victim folder now holds %v", ents)
		}
	}
	in := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", in); code != 0 {
		t.Fatal(errOut)
	}
	want, _, _ := bcfs(t, st, "export", "ES")
	world := func() {
		t.Helper()
		for _, d := range []string{"", "datasets", "trash", "spool", "scratch", "errors"} {
			if err := os.MkdirAll(filepath.Join(st, d), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(st, d), 0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
	world()
	_, errOut, code := bcfs(t, st, "ls")
	if code != exitData || !strings.Contains(errOut, st+" is writable by other users") || !strings.Contains(errOut, "chmod go-w "+st) {
		t.Fatalf("ls of a world-writable store: exit %d, stderr %q", code, errOut)
	}

	for _, folder := range []string{"trash", "spool", "scratch"} {
		t.Run(folder, func(t *testing.T) {
			world()
			p := filepath.Join(st, folder)
			asUser(t, "mv "+p+" "+p+".old && ln -s "+victim+" "+p)
			// Only the symlink is left unsafe: the one error must be it.
			for _, d := range []string{"", "datasets", "trash", "spool", "scratch", "errors"} {
				os.Chmod(filepath.Join(st, d), 0o755)
			}
			for _, args := range [][]string{{"ls"}, {"ingest", in}, {"trash", "empty"}, {"export", "ES"}} {
				_, errOut, code := bcfs(t, st, args...)
				if code != exitData || !strings.Contains(errOut, p+" is a symlink (to "+victim+")") || !strings.Contains(errOut, "rm "+p+" && mkdir "+p) {
					t.Fatalf("bcfs %v with %s symlinked: exit %d, stderr %q", args, folder, code, errOut)
				}
				victimUntouched(t)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".old", p); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A dataset folder symlinked to another store's dataset: neither
	// export nor ingest goes there.
	other := filepath.Join(base, "other")
	if _, errOut, code := bcfs(t, other, "ingest", "-d", "private", in); code != 0 {
		t.Fatal(errOut)
	}
	logBefore, _ := os.ReadDir(filepath.Join(other, "datasets", "private", "_log"))
	for _, d := range []string{"", "datasets", "trash", "spool", "scratch", "errors"} {
		os.Chmod(filepath.Join(st, d), 0o755)
	}
	link := filepath.Join(st, "datasets", "X")
	if err := os.Symlink(filepath.Join(other, "datasets", "private"), link); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := bcfs(t, st, "export", "X")
	if code == 0 || strings.Contains(out, "100.5") {
		t.Fatalf("export of a symlinked dataset folder: exit %d, stdout %q", code, out)
	}
	_, errOut, code = bcfs(t, st, "ingest", "-d", "X", in)
	if code != exitData || !strings.Contains(errOut, link) || !strings.Contains(errOut, "symlink") {
		t.Fatalf("ingest into a symlinked dataset folder: exit %d, stderr %q", code, errOut)
	}
	if logAfter, _ := os.ReadDir(filepath.Join(other, "datasets", "private", "_log")); len(logAfter) != len(logBefore) {
		t.Fatalf("the other store's dataset changed: %d -> %d manifests", len(logBefore), len(logAfter))
	}
	// The store itself still works, unchanged.
	if got, errOut, code := bcfs(t, st, "export", "ES"); code != 0 || got != want {
		t.Fatalf("export after the attacks: exit %d, %q", code, errOut)
	}
}

// TestCLIAndMountAcceptTheSameNames: a dataset name has one canonical form
// (valid UTF-8, NFC, no control characters, components of at most 247
// bytes so that NAME.parquet fits a file name). The CLI refuses the others
// with exit 1 and a clear error; through the mount, the same names become
// datasets and the others do not, and index.json lists exactly the datasets
// that exist.
func TestCLIAndMountAcceptTheSameNames(t *testing.T) {
	needMount(t)
	long := strings.Repeat("L", 247)
	names := []struct {
		name string
		ok   bool
	}{
		{"caf\u00e9", true}, {"cafe\u0301", false}, {"指数", true}, {long, true}, {long + "M", false},
		{"new\nline", false}, {"tab\tname", false}, {"bad\xff", false},
	}
	src := t.TempDir()
	in := write(t, src, "in.csv", ibkrCSV)
	cliStore := filepath.Join(t.TempDir(), "cli")
	var want []string
	for _, n := range names {
		_, errOut, code := bcfs(t, cliStore, "ingest", "-d", n.name, in)
		switch {
		case n.ok && code != 0:
			t.Errorf("CLI refused %q: exit %d, %s", n.name, code, errOut)
		case !n.ok && (code != exitData || !strings.Contains(errOut, "invalid dataset name")):
			t.Errorf("CLI on %q: exit %d, stderr %q; want exit 1, invalid dataset name", n.name, code, errOut)
		}
		if n.ok {
			want = append(want, n.name)
		}
	}
	slices.Sort(want)

	mntStore := filepath.Join(t.TempDir(), "mnt-store")
	if _, errOut, code := bcfs(t, mntStore, "ingest", "-d", "seed", in); code != 0 {
		t.Fatal(errOut)
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cleanupMount(t, mnt)
	if _, errOut, code := bcfs(t, mntStore, "mount", "--daemon", mnt); code != 0 {
		t.Fatalf("mount: %s", errOut)
	}
	data, _ := os.ReadFile(in)
	for _, n := range names {
		// Whatever the mount does with a name it refuses (an error, or a
		// scratch file), it makes no dataset of it.
		_ = os.WriteFile(filepath.Join(mnt, n.name+".csv"), data, 0o644)
	}
	got := []string{}
	for _, n := range names {
		view, err := os.ReadFile(filepath.Join(mnt, n.name+".parquet"))
		if err == nil && len(view) > 0 {
			got = append(got, n.name)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("datasets made through the mount %q, through the CLI %q", got, want)
	}
	idx, err := os.ReadFile(filepath.Join(mnt, ".metadata", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index map[string]json.RawMessage
	if err := json.Unmarshal(idx, &index); err != nil {
		t.Fatalf("index.json: %v\n%s", err, idx)
	}
	listed := []string{}
	for k := range index {
		listed = append(listed, k)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, sortedWith(want, "seed")) {
		t.Errorf("index.json lists %q, want seed and %q", listed, want)
	}
	for _, n := range listed {
		if _, err := os.Stat(filepath.Join(mnt, n+".csv")); err != nil {
			t.Errorf("index.json names %q, which the mount does not show: %v", n, err)
		}
	}
}

func sortedWith(s []string, more ...string) []string {
	out := append(append([]string(nil), s...), more...)
	slices.Sort(out)
	return out
}

// TestCLIKilledMountSpoolRemovedAtNextMount: kill -9 of the mount while a
// file is being copied in leaves its spool file; the next mount start
// removes it at once (its owner is gone), not ten minutes later.
func TestCLIKilledMountSpoolRemovedAtNextMount(t *testing.T) {
	needMount(t)
	st, _ := storeWithES(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cleanupMount(t, mnt)
	if _, errOut, code := bcfs(t, st, "mount", "--daemon", mnt); code != 0 {
		t.Fatalf("mount: %s", errOut)
	}
	f, err := os.Create(filepath.Join(mnt, "NQ.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("20240102  09:30:00,100,101,99,100.5,1000\n"), 50000)); err != nil {
		t.Fatal(err)
	}
	spools := func() []string {
		ents, _ := os.ReadDir(filepath.Join(st, "spool"))
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	if len(spools()) != 1 {
		t.Fatalf("spool while copying: %v", spools())
	}
	pids := bcfsProcs(t, mnt)
	if len(pids) != 1 {
		t.Fatalf("mount processes %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the killed mount to exit", func() bool { return len(bcfsProcs(t, mnt)) == 0 })
	f.Close()
	syscall.Unmount(mnt, syscall.MNT_DETACH)
	left := spools()
	if len(left) != 1 || !strings.HasPrefix(left[0], "write-"+strconv.Itoa(pids[0])+"-") {
		t.Fatalf("spool after kill -9: %v, want the killed mount's file", left)
	}
	if _, errOut, code := bcfs(t, st, "mount", "--daemon", mnt); code != 0 {
		t.Fatalf("second mount: %s", errOut)
	}
	if left := spools(); len(left) != 0 {
		t.Fatalf("spool after the next mount started: %v, want empty", left)
	}
	if _, err := os.Stat(filepath.Join(mnt, "NQ.csv")); err == nil {
		t.Fatal("the killed copy made a dataset")
	}
}

// TestCLIScratchBound: with mount --scratch-mb 1, a file that is not a
// dataset view fits while under the bound; one that would pass it fails
// with ENOSPC, and removing scratch files gives the room back.
func TestCLIScratchBound(t *testing.T) {
	needMount(t)
	st, _ := storeWithES(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cleanupMount(t, mnt)
	if _, errOut, code := bcfs(t, st, "mount", "--daemon", "--scratch-mb", "1", mnt); code != 0 {
		t.Fatalf("mount: %s", errOut)
	}
	small := bytes.Repeat([]byte("n"), 300<<10)
	if err := os.WriteFile(filepath.Join(mnt, "notes.txt"), small, 0o644); err != nil {
		t.Fatalf("300 KB scratch file under a 1 MB bound: %v", err)
	}
	err := os.WriteFile(filepath.Join(mnt, "big.txt"), make([]byte, 2<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("2 MB scratch file over a 1 MB bound: %v, want ENOSPC", err)
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "notes.txt")); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("the file under the bound: %d bytes, %v", len(got), err)
	}
	os.Remove(filepath.Join(mnt, "big.txt"))
	if err := os.Remove(filepath.Join(mnt, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(mnt, "again.txt"), make([]byte, 900<<10), 0o644); err != nil {
		t.Fatalf("900 KB after freeing the room: %v", err)
	}
}

// TestCLIMountDamageIsEIO: through the mount, a view of a dataset whose
// partition file has a flipped bit, or is gone, fails to read with EIO (no
// bytes of other values), and .metadata/NAME.json names the file.
func TestCLIMountDamageIsEIO(t *testing.T) {
	needMount(t)
	st, _ := storeWithES(t)
	f := write(t, t.TempDir(), "NQ.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatal(errOut)
	}
	part := func(ds string) string {
		parts, _ := filepath.Glob(filepath.Join(st, "datasets", ds, "year=*", "*.parquet"))
		if len(parts) != 1 {
			t.Fatalf("%s partitions %v", ds, parts)
		}
		return parts[0]
	}
	esPart, nqPart := part("ES"), part("NQ")
	data, _ := os.ReadFile(esPart)
	data[len(data)/2] ^= 0x10
	if err := os.WriteFile(esPart, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(nqPart); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cleanupMount(t, mnt)
	if _, errOut, code := bcfs(t, st, "mount", "--daemon", mnt); code != 0 {
		t.Fatalf("mount: %s", errOut)
	}
	for _, c := range []struct{ ds, file string }{{"ES", esPart}, {"NQ", nqPart}} {
		for _, ext := range []string{".csv", ".parquet"} {
			got, err := exec.Command("cat", filepath.Join(mnt, c.ds+ext)).CombinedOutput()
			if err == nil || !strings.Contains(string(got), "Input/output error") || strings.Contains(string(got), "100.5") {
				t.Errorf("cat %s%s: %v, output %q; want an I/O error and no rows", c.ds, ext, err, got)
			}
		}
		meta, err := os.ReadFile(filepath.Join(mnt, ".metadata", c.ds+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			LastError *struct {
				File  string `json:"file"`
				Error string `json:"error"`
			} `json:"last_error"`
		}
		if err := json.Unmarshal(meta, &doc); err != nil {
			t.Fatalf("%s.json: %v", c.ds, err)
		}
		if doc.LastError == nil || doc.LastError.File != c.file || !strings.Contains(doc.LastError.Error, "corrupt") {
			t.Errorf(".metadata/%s.json last_error %+v; want the damaged file %s", c.ds, doc.LastError, c.file)
		}
	}
}
