package fusefs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/posixtest"

	"bcfs/store"
)

// TestLibreOfficeSave replays the syscalls LibreOffice makes to save a CSV:
// exclusive create of the lock file, a temp file in the same folder, rename
// over the target, re-open of the target for fsync, unlink of the lock.
func TestLibreOfficeSave(t *testing.T) {
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "yahoo/ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 100, "ES", "ibkr")))
	})
	dir := filepath.Join(m.mnt, "yahoo")
	lock := filepath.Join(dir, ".~lock.ES.csv#")
	target := filepath.Join(dir, "ES.csv")

	lf, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("lock create: %v", err)
	}
	if _, err := lf.WriteString(",me,host,27.11.2026 12:00,file:///root/.config/libreoffice/4;\n"); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	if _, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644); !os.IsExist(err) {
		t.Fatalf("second exclusive lock create: %v, want EEXIST", err)
	}
	// The spreadsheet saves the whole sheet: old rows plus 20 new ones.
	content := genBars(day, 120, "ES", "ibkr")
	tmp := filepath.Join(dir, "lu12345abcd.tmp")
	tf, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("temp create: %v", err)
	}
	if _, err := tf.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := tf.Sync(); err != nil {
		t.Fatalf("temp fsync: %v", err)
	}
	tf.Close()
	if b, err := os.ReadFile(tmp); err != nil || string(b) != content {
		t.Fatalf("temp file read back: %v", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		t.Fatalf("rename over target: %v", err)
	}
	eventually(t, func() error {
		f, err := os.OpenFile(target, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	if err := os.Remove(lock); err != nil {
		t.Fatalf("unlink lock: %v", err)
	}
	if got := rows(t, m.st, "yahoo/ES"); got != 120 {
		t.Fatalf("rows %d, want 120", got)
	}
	names, err := readDirNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, " ") != "ES.csv ES.parquet" {
		t.Fatalf("folder after save: %q", names)
	}
	// A rename of a bad temp file fails with the ingest's error and keeps it.
	bad := filepath.Join(dir, "lu999.tmp")
	if err := os.WriteFile(bad, []byte("timestamp,open,high,low,close,volume\nx,1,1,1,1,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bad, target); !errorsIs(err, syscall.EINVAL) {
		t.Fatalf("rename of a bad file: %v, want EINVAL", err)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatalf("bad temp file should stay: %v", err)
	}
}

// TestVimSave runs vim itself when installed, else fails under
// BCFS_REQUIRE_FUSE=1 (the CI installs it).
func TestVimSave(t *testing.T) {
	vim, err := exec.LookPath("vim")
	if err != nil {
		if requireFuse() {
			t.Fatal("vim not installed")
		}
		t.Skip("vim not installed")
	}
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "ES", writeFile(t, t.TempDir(), "ES.csv", genBars(day, 100, "ES", "ibkr")))
	})
	target := filepath.Join(m.mnt, "ES.csv")
	cases := []struct {
		name string
		args []string
		add  time.Duration
	}{
		// -u NONE is Vi-compatible: backupcopy=yes, writebackup on.
		{"compatible", []string{"-u", "NONE", "-es"}, 200 * time.Hour},
		// Vim defaults: backupcopy=auto probes with "4913" and could rename.
		{"nocompatible backupcopy=auto", []string{"-u", "NONE", "-N", "-es", "-c", "set backupcopy=auto writebackup backup"}, 300 * time.Hour},
	}
	var want int64 = 100
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			row := strings.TrimSpace(genRows(day.Add(tc.add), 1, "ES", "ibkr"))
			args := append(tc.args, "-c", "$put ='"+row+"'", "-c", "wq", target)
			// The working directory stays outside the mount: a child that
			// chdirs into the mount between fork and exec waits on a FUSE
			// request this test process must answer while it is forking,
			// and can deadlock.
			cmd := exec.Command(vim, args...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("vim: %v: %s", err, out)
			}
			want++
			if got := rows(t, m.st, "ES"); got != want {
				t.Fatalf("rows %d, want %d", got, want)
			}
		})
	}
	names, err := readDirNames(m.mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n != ".metadata" && n != ".trash" && n != ".versions" && n != "ES.csv" && n != "ES.parquet" && n != "ES.csv~" {
			t.Errorf("left behind: %q (all: %q)", n, names)
		}
	}
}

// TestPosixScratch runs the go-fuse posixtest cases that apply to scratch
// files in a folder of the mount. Left out: hard links (Link,
// LinkUnlinkRename, NlinkZero), symlinks (refused: TestSymlinkRefused), xattrs (disabled), locks, fallocate,
// directory renames (OpenAt) and the directory-seek tests, which need folders the
// store does not keep in the scratch area.
func TestPosixScratch(t *testing.T) {
	m := mount(t, Options{}, nil)
	for _, name := range []string{
		"AppendWrite", "DirectIO", "FileBasic", "FileLarge", "FstatDeleted",
		"TruncateFile", "TruncateNoFile",
		"RenameOverwriteDestExist", "RenameOverwriteDestNoExist", "ParallelFileOpen",
		"FdLeak", "LseekHoleSeeksToEOF", "ReadDirBasic",
	} {
		fn := posixtest.All[name]
		if fn == nil {
			t.Fatalf("posixtest has no %s", name)
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(m.mnt, "scratch"+strings.ToLower(name))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			fn(t, dir)
		})
	}
}
