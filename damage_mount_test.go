package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCLIMountDamageAfterVerifiedRead: the mount verifies a row group of
// the Parquet view once and then reads it straight from the page cache,
// holding a read lease on the partition file (visible in /proc/locks). A
// bit flipped in place afterwards, while the view is still open, breaks
// that lease: the next read of the same open view through the mount is
// EIO, never other bytes, and so is a fresh cat.
func TestCLIMountDamageAfterVerifiedRead(t *testing.T) {
	needMount(t)
	st, _ := storeWithES(t)
	parts, _ := filepath.Glob(filepath.Join(st, "datasets", "ES", "year=*", "*.parquet"))
	if len(parts) != 1 {
		t.Fatalf("partitions %v", parts)
	}
	part := parts[0]
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cleanupMount(t, mnt)
	if _, errOut, code := bcfs(t, st, "mount", "--daemon", mnt); code != 0 {
		t.Fatalf("mount: %s", errOut)
	}
	view := filepath.Join(mnt, "ES.parquet")
	f, err := os.Open(view)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := io.ReadAll(f)
	if err != nil || !bytes.HasPrefix(want, []byte("PAR1")) {
		t.Fatalf("first read: %d bytes, %v", len(want), err)
	}
	var pst syscall.Stat_t
	if err := syscall.Stat(part, &pst); err != nil {
		t.Fatal(err)
	}
	locks, _ := os.ReadFile("/proc/locks")
	inode := fmt.Sprintf(":%d ", pst.Ino)
	leased := false
	for _, l := range strings.Split(string(locks), "\n") {
		if strings.Contains(l, "LEASE") && strings.Contains(l, "READ") && strings.Contains(l, inode) {
			leased = true
		}
	}
	if !leased {
		t.Fatalf("no read lease on the partition file (inode %d) after a verified read:\n%s", pst.Ino, locks)
	}
	// Flip a bit of the row group in place (the open for writing breaks
	// the mount's lease), then drop the kernel's cache of the view so the
	// next read reaches the mount.
	w, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := w.ReadAt(b, 6); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := w.WriteAt(b, 6); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	n, err := f.ReadAt(got, 0)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read of the open view after damage: %d bytes, %v; want EIO", n, err)
	}
	if !bytes.Equal(got[:n], want[:n]) {
		t.Fatalf("read of the open view after damage served other bytes")
	}
	out, err := exec.Command("cat", view).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Input/output error") {
		t.Fatalf("cat after damage: %v, %q; want an I/O error", err, out)
	}
}
