package fusefs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"bcfs/store"
)

// Tools that replace a file by unlinking it and creating it again (or by
// a temp file renamed over it) must merge into the dataset exactly as cp
// does: the dataset keeps its history (version 2 on top of 1) and nothing
// is left in the trash.

func checkTrashEmpty(t *testing.T, st *store.Store) {
	t.Helper()
	if l, err := st.TrashList(); err != nil || len(l) != 0 {
		t.Fatalf("trash holds %+v (%v), want nothing: the overwrite should have merged", l, err)
	}
}

func TestOverwritingToolsMerge(t *testing.T) {
	edited := esChanges(t)
	cases := []struct {
		name string
		do   func(t *testing.T, src, mnt string)
	}{
		{"cp -a", func(t *testing.T, src, mnt string) { run(t, "cp", "-a", src, filepath.Join(mnt, "ES.csv")) }},
		{"install", func(t *testing.T, src, mnt string) { run(t, "install", "-m", "644", src, filepath.Join(mnt, "ES.csv")) }},
		{"mv from another filesystem", func(t *testing.T, src, mnt string) { run(t, "mv", src, filepath.Join(mnt, "ES.csv")) }},
		{"tar -x", func(t *testing.T, src, mnt string) {
			tarball := filepath.Join(t.TempDir(), "es.tar")
			run(t, "tar", "-cf", tarball, "-C", filepath.Dir(src), filepath.Base(src))
			run(t, "tar", "-xf", tarball, "-C", mnt)
		}},
		{"rename to a backup name, then write (editor save)", func(t *testing.T, src, mnt string) {
			// One process, as an editor: rename away, write the name anew.
			run(t, "python3", "-c", `import os, shutil, sys
os.rename(sys.argv[2] + "/ES.csv", sys.argv[2] + "/ES.csv.bak")
shutil.copyfile(sys.argv[1], sys.argv[2] + "/ES.csv")`, src, mnt)
			b, err := os.ReadFile(filepath.Join(mnt, "ES.csv.bak"))
			if err != nil || string(b) != esView(t, esRows, false) {
				t.Fatalf("backup copy: %v, %d bytes, want the old view", err, len(b))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := esMount(t)
			src := writeFile(t, t.TempDir(), "ES.csv", edited)
			tc.do(t, src, m.mnt)
			checkMerged(t, m)
			checkTrashEmpty(t, m.st)
		})
	}
}

// TestRenameOntoDatasetMerges: DuckDB's COPY writes tmp_NAME.parquet (a new
// dataset) and renames it onto NAME.parquet: the rows merge into NAME and
// tmp_NAME goes to the trash. mv X.parquet Y.csv renames the dataset.
func TestRenameOntoDatasetMerges(t *testing.T) {
	m := esMount(t)
	p := func(s string) string { return filepath.Join(m.mnt, s) }
	if err := os.WriteFile(p("tmp_ES.csv"), []byte(esChanges(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p("tmp_ES.parquet"), p("ES.parquet")); err != nil {
		t.Fatalf("rename onto the dataset: %v", err)
	}
	checkMerged(t, m)
	if l, _ := m.st.TrashList(); len(l) != 1 || l[0].Name != "tmp_ES" {
		t.Fatalf("trash %+v, want tmp_ES", l)
	}
	if err := os.Rename(p("ES.parquet"), p("ES2.csv")); err != nil {
		t.Fatalf("mv ES.parquet ES2.csv: %v", err)
	}
	if e, err := m.st.Stat("ES2"); err != nil || e.Rows != esRows+20 {
		t.Fatalf("ES2 after rename: %+v %v", e, err)
	}
}

// TestFolderRemoveAndRename: rm -r of a folder moves each dataset to the
// trash (rm exits 0); mv of a folder moves every dataset under it.
func TestFolderRemoveAndRename(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		dir := t.TempDir()
		for _, n := range []string{"f/A", "f/B", "f/sub/C"} {
			ingestFile(t, st, n, writeFile(t, dir, "x.csv", genBars(day, 10, "X", "ibkr")))
		}
	})
	run(t, "mv", filepath.Join(m.mnt, "f"), filepath.Join(m.mnt, "g"))
	for _, n := range []string{"g/A", "g/B", "g/sub/C"} {
		if rows(t, m.st, n) != 10 {
			t.Fatalf("%s after mv", n)
		}
	}
	if out, err := exec.Command("ls", "-R", filepath.Join(m.mnt, "g")).CombinedOutput(); err != nil || !strings.Contains(string(out), "C.parquet") {
		t.Fatalf("ls -R g: %v %s", err, out)
	}
	run(t, "rm", "-r", filepath.Join(m.mnt, "g"))
	l, err := m.st.TrashList()
	if err != nil || len(l) != 3 {
		t.Fatalf("trash after rm -r: %+v %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(m.mnt, "g")); !os.IsNotExist(err) {
		t.Fatalf("g after rm -r: %v", err)
	}
}

// TestReadWriteOpenReadsCommitted: an O_RDWR open reads the view and, if it
// writes nothing, commits nothing; Python's open(p, "r+") reads the rows.
func TestReadWriteOpenReadsCommitted(t *testing.T) {
	m := esMount(t)
	view := filepath.Join(m.mnt, "ES.csv")
	f, err := os.OpenFile(view, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1<<20)
	n, _ := f.Read(b)
	if err := f.Close(); err != nil {
		t.Fatalf("close of an unwritten O_RDWR handle: %v", err)
	}
	if string(b[:n]) != esView(t, esRows, false) {
		t.Fatalf("O_RDWR read %d bytes, want the %d of the view", n, len(esView(t, esRows, false)))
	}
	if py, err := exec.LookPath("python3"); err == nil {
		out := run(t, py, "-c", `import sys; print(len(open(sys.argv[1], "r+").read().splitlines()))`, view)
		if strings.TrimSpace(out) != "101" {
			t.Fatalf(`python open("r+") read %s lines, want 101`, out)
		}
	}
	if e, _ := m.st.Stat("ES"); e.Version != 1 {
		t.Fatalf("version %d after read-only use of write handles, want 1", e.Version)
	}
}

// TestWriteInsideView: dd conv=notrunc overwrites bytes in the middle of
// the view; the rest of the file is the committed bytes, so exactly one
// value changes.
func TestWriteInsideView(t *testing.T) {
	m := esMount(t)
	view := esView(t, esRows, false)
	oldLine := esEditOld + "105,ES,ibkr\n"
	off := strings.Index(view, oldLine)
	if off < 0 {
		t.Fatal("row not in view")
	}
	newLine := esEditOld + "199,ES,ibkr\n"
	patch := writeFile(t, t.TempDir(), "patch", newLine)
	run(t, "dd", "if="+patch, "of="+filepath.Join(m.mnt, "ES.csv"), "bs=1", "seek="+itoa(off), "conv=notrunc", "status=none")
	checkES(t, m, strings.Replace(view, oldLine, newLine, 1))
}

// TestKilledWriterCommitsNothing: a writer killed with SIGKILL while its
// file is open commits nothing and says why in .metadata; the same writer
// ending normally (its descriptor closed by exit) ingests.
func TestKilledWriterCommitsNothing(t *testing.T) {
	m := esMount(t)
	view := filepath.Join(m.mnt, "ES.csv")
	rowsFile := writeFile(t, t.TempDir(), "rows.csv", genRows(day.Add(esRows*time.Minute), 20, "ES", "ibkr"))
	// A writer appends whole rows with its descriptor open (no dup, no
	// close) and is then killed with SIGKILL; its descriptor closes as
	// it dies.
	writer := `import os, sys, signal
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, open(sys.argv[2], "rb").read())
if sys.argv[3] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
os._exit(0)`
	py := need(t, "python3", "apt-get install -y python3")
	err := exec.Command(py, "-c", writer, view, rowsFile, "kill").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("writer: %v, want killed by SIGKILL", err)
	}
	time.Sleep(200 * time.Millisecond) // the flush of a dying process is asynchronous to its reaping
	checkES(t, m, esView(t, esRows, false))
	doc, err := os.ReadFile(filepath.Join(m.mnt, ".metadata", "ES.json"))
	if err != nil || !strings.Contains(string(doc), "killed") {
		t.Fatalf(".metadata/ES.json does not say the writer was killed: %v\n%s", err, doc)
	}
	// The same writer exiting normally with the descriptor open ingests.
	run(t, py, "-c", writer, view, rowsFile, "exit")
	checkES(t, m, esView(t, esRows+20, false))
}

// TestConcurrentAppenders: two handles appending to one view in turns both
// land whole: each handle's rows merge at its own close.
func TestConcurrentAppenders(t *testing.T) {
	m := esMount(t)
	view := filepath.Join(m.mnt, "ES.csv")
	a, err := os.OpenFile(view, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.OpenFile(view, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	rowsA := strings.SplitAfter(genRows(day.Add(esRows*time.Minute), 20, "ES", "ibkr"), "\n")
	rowsB := strings.SplitAfter(genRows(day.Add((esRows+20)*time.Minute), 10, "ES", "ibkr"), "\n")
	for i := 0; i < 20; i++ {
		if _, err := a.WriteString(rowsA[i]); err != nil {
			t.Fatal(err)
		}
		if i < 10 {
			if _, err := b.WriteString(rowsB[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close a: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("close b: %v", err)
	}
	checkES(t, m, esView(t, esRows+30, false))
}

// TestSymlinkRefused: no symlink can be made through the mount.
func TestSymlinkRefused(t *testing.T) {
	m := esMount(t)
	for _, name := range []string{"link", "ES2.csv", ".hidden"} {
		if err := os.Symlink("/etc/passwd", filepath.Join(m.mnt, name)); !errors.Is(err, syscall.EPERM) {
			t.Errorf("symlink %s: %v, want EPERM", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(m.st.ScratchDir(), "link")); !os.IsNotExist(err) {
		t.Errorf("a link was made in the scratch folder: %v", err)
	}
}

// TestCloseToOpenAfterCLIIngest: an open that starts after `bcfs ingest`
// (another process) returned sees that commit, though the mount had the
// view's name and attributes in the kernel's caches.
func TestCloseToOpenAfterCLIIngest(t *testing.T) {
	bin := bcfsBinary(t)
	m := esMount(t)
	view := filepath.Join(m.mnt, "ES.csv")
	dir := t.TempDir()
	for i := 1; i <= 5; i++ {
		if _, err := os.ReadFile(view); err != nil { // caches the name and inode
			t.Fatal(err)
		}
		in := writeFile(t, dir, "more.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
			genRows(day.Add(time.Duration(esRows+i-1)*time.Minute), 1, "ES", "ibkr"))
		run(t, bin, "--store", m.st.Dir(), "ingest", "-d", "ES", in)
		got, err := os.ReadFile(view)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(got), "\n") - 1; n != esRows+i {
			t.Fatalf("after ingest %d the mount serves %d rows, want %d", i, n, esRows+i)
		}
	}
}

// TestSharedMount: --uid, --gid and --umask set the owner and mode of
// everything; the kernel enforces them (default_permissions), so the group
// can write and others cannot; chmod and chown apply for the mount's life.
func TestSharedMount(t *testing.T) {
	need(t, "setpriv", "util-linux")
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as other users")
	}
	uid, gid, umask := uint32(4242), uint32(4242), uint32(0o002)
	m := mount(t, Options{AllowOther: true, UID: &uid, GID: &gid, Umask: &umask}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, esRows, "ES", "ibkr")))
	})
	// Let other users reach the mountpoint.
	for d := filepath.Dir(m.mnt); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	view := filepath.Join(m.mnt, "ES.csv")
	var st syscall.Stat_t
	if err := syscall.Stat(view, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != uid || st.Gid != gid || st.Mode&0o7777 != 0o664 || st.Nlink != 1 {
		t.Fatalf("view uid %d gid %d mode %o nlink %d, want %d %d 664 1", st.Uid, st.Gid, st.Mode&0o7777, st.Nlink, uid, gid)
	}
	if err := syscall.Stat(m.mnt, &st); err != nil || st.Mode&0o7777 != 0o775 {
		t.Fatalf("root mode %o (%v), want 775", st.Mode&0o7777, err)
	}
	// chmod and chown apply (for the life of the mount) and are enforced.
	if err := os.Chmod(view, 0o640); err != nil {
		t.Fatalf("chmod 640: %v", err)
	}
	if err := syscall.Stat(filepath.Join(m.mnt, "ES.parquet"), &st); err != nil || st.Mode&0o7777 != 0o640 {
		t.Fatalf("ES.parquet after chmod of ES.csv: mode %o (%v), want 640", st.Mode&0o7777, err)
	}
	if err := os.Chown(view, 0, 1); err != nil {
		t.Fatalf("chown: %v", err)
	}
	if err := syscall.Stat(view, &st); err != nil || st.Uid != 0 || st.Gid != 1 {
		t.Fatalf("after chown 0:1: uid %d gid %d (%v)", st.Uid, st.Gid, err)
	}
	if err := os.Chown(view, int(uid), int(gid)); err != nil {
		t.Fatalf("chown back: %v", err)
	}
	src := filepath.Join(t.TempDir(), "ES.csv")
	if err := os.WriteFile(src, []byte(esChanges(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	// A member of the group writes; anyone else is refused by the kernel.
	if out, err := exec.Command("setpriv", "--reuid=5000", "--regid=5000", "--clear-groups", "cp", src, view).CombinedOutput(); err == nil {
		t.Fatalf("a user outside the group could write: %s", out)
	}
	if out, err := exec.Command("setpriv", "--reuid=5001", "--regid=5001", "--groups=4242", "cp", src, view).CombinedOutput(); err == nil {
		t.Fatalf("a group member could write a 640 view: %s", out)
	}
	if err := os.Chmod(view, 0o664); err != nil {
		t.Fatalf("chmod 664: %v", err)
	}
	if out, err := exec.Command("setpriv", "--reuid=5001", "--regid=5001", "--groups=4242", "cp", src, view).CombinedOutput(); err != nil {
		t.Fatalf("group member cp: %v: %s", err, out)
	}
	checkMerged(t, m)
}

// TestListingWhileCreating: while a new dataset's first write is open, the
// folder lists its view name once (no phantom NAME.csv.csv), and .trash
// lists a removed dataset.
func TestListingWhileCreating(t *testing.T) {
	m := esMount(t)
	f, err := os.Create(filepath.Join(m.mnt, "NEW.csv"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := readDirNames(m.mnt)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "NEW") && n != "NEW.csv" {
			t.Fatalf("listing while creating NEW.csv: %q", names)
		}
	}
	if !slices.Contains(names, "NEW.csv") {
		t.Fatalf("NEW.csv not listed while being created: %q", names)
	}
	run(t, "rm", filepath.Join(m.mnt, "ES.parquet"))
	trash, err := readDirNames(filepath.Join(m.mnt, ".trash"))
	if err != nil || len(trash) != 1 || !strings.HasSuffix(trash[0], ".json") {
		t.Fatalf(".trash lists %q (%v)", trash, err)
	}
	doc, err := os.ReadFile(filepath.Join(m.mnt, ".trash", trash[0]))
	if err != nil || !strings.Contains(string(doc), `"name": "ES"`) {
		t.Fatalf(".trash entry: %v %s", err, doc)
	}
}

// TestRenameErrnos: the errnos tools print sensibly, never EINVAL.
func TestRenameErrnos(t *testing.T) {
	m := esMount(t)
	p := func(s string) string { return filepath.Join(m.mnt, s) }
	if err := os.Mkdir(p("f"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p("notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		src, dst string
		want     error
	}{
		{"view onto folder", "ES.csv", "f", syscall.EISDIR},
		{"folder onto file", "f", "notes.txt", syscall.ENOTDIR},
		{"folder named like a view", "f", "f.csv", syscall.EPERM},
		{"into .metadata", "ES.csv", ".metadata/x.csv", syscall.EPERM},
	}
	for _, tc := range cases {
		// syscall.Rename: os.Rename answers EEXIST itself for a folder target.
		if err := syscall.Rename(p(tc.src), p(tc.dst)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if rows(t, m.st, "ES") != esRows {
		t.Fatal("ES changed")
	}
}
