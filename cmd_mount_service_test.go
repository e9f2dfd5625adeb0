package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needMount skips (or fails under BCFS_REQUIRE_FUSE=1) unless this process
// can mount as root: the fstab and daemon tests mount through mount(8).
func needMount(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := os.Stat("/dev/fuse"); err != nil {
		why = "no /dev/fuse"
	} else if os.Geteuid() != 0 {
		why = "not root"
	}
	if why == "" {
		return
	}
	if os.Getenv("BCFS_REQUIRE_FUSE") == "1" {
		t.Fatalf("FUSE required (BCFS_REQUIRE_FUSE=1): %s", why)
	}
	t.Skip(why)
}

// storeWithES makes a store holding dataset ES (2 rows) and returns it with
// the CSV view's expected content.
func storeWithES(t *testing.T) (string, string) {
	t.Helper()
	st := filepath.Join(t.TempDir(), "store")
	f := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := bcfs(t, st, "export", "ES")
	if code != 0 {
		t.Fatal(errOut)
	}
	return st, out
}

// mountedCount is countMounts for a test: the bcfs mounts on mnt.
func mountedCount(t *testing.T, mnt string) int {
	t.Helper()
	n, err := countMounts(mnt)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cleanupMount unmounts whatever is still mounted on mnt when the test ends.
func cleanupMount(t *testing.T, mnt string) {
	t.Cleanup(func() {
		for i := 0; i < 50 && mountedCount(t, mnt) > 0; i++ {
			syscall.Unmount(mnt, syscall.MNT_DETACH)
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// waitFor polls cond every 20 ms until it holds; it fails the test after
// limit (a hang guard, not a timing assertion).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("still waiting after %v for %s", limit, what)
		}
	}
}

// bcfsProcs returns the pids of bcfs processes whose command line mentions mnt.
func bcfsProcs(t *testing.T, mnt string) []int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cl), "\x00")
		if filepath.Base(args[0]) == "bcfs" && strings.Contains(string(cl), mnt) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// installHelper links /sbin/mount.fuse.bcfs to the test binary for the
// test's duration (mount(8) finds helpers only in /sbin), putting back what
// was there.
func installHelper(t *testing.T) {
	t.Helper()
	p := "/sbin/mount.fuse.bcfs"
	linkOnPath(t, p, "/nonexistent")
	linkOnPath(t, "/sbin/mount.bcfs", "/nonexistent")
	if _, errOut, code := runBin(t, bcfsBin, "install-helper", "--dir", "/sbin"); code != 0 {
		t.Fatal(errOut)
	}
	if got, _ := os.Readlink(p); got != bcfsBin {
		t.Fatalf("%s -> %q, want %s", p, got, bcfsBin)
	}
}

// linkOnPath links p to target for the test's duration, putting back a link
// that was there.
func linkOnPath(t *testing.T, p, target string) {
	t.Helper()
	old, err := os.Readlink(p)
	switch {
	case err == nil:
		os.Remove(p)
		t.Cleanup(func() { os.Remove(p); os.Symlink(old, p) })
	case os.IsNotExist(err):
		t.Cleanup(func() { os.Remove(p) })
	default:
		t.Fatalf("%s exists and is not a link: not replacing it", p)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func TestMountFstabLine(t *testing.T) {
	needMount(t)
	st, want := storeWithES(t)
	installHelper(t)
	dir := t.TempDir()
	mnt1, mnt2 := filepath.Join(dir, "mnt1"), filepath.Join(dir, "mnt2")
	os.Mkdir(mnt1, 0o755)
	os.Mkdir(mnt2, 0o755)
	cleanupMount(t, mnt1)
	cleanupMount(t, mnt2)
	fstab := write(t, dir, "fstab",
		st+" "+mnt1+" fuse.bcfs defaults,allow_other,_netdev,cache_mb=64,uid=1234,gid=1235,umask=002 0 0\n"+
			"bcfs#"+st+" "+mnt2+" fuse ro,allow_other,nofail 0 0\n"+
			st+" "+filepath.Join(dir, "mnt3")+" fuse.bcfs defaults,frobnicate=1 0 0\n")
	os.Mkdir(filepath.Join(dir, "mnt3"), 0o755)
	// mount.fuse3 runs the bcfs#STORE form as `sh -c 'bcfs STORE MNT -o ...'`
	// with mount(8)'s helper environment, which has no PATH: sh's default
	// path must find bcfs.
	linkOnPath(t, "/usr/local/bin/bcfs", bcfsBin)
	for _, mnt := range []string{mnt1, mnt2} {
		cmd := exec.Command("mount", "-T", fstab, mnt)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mount -T fstab %s: %v\n%s", mnt, err, out)
		}
		// mount(8) returned: the mount is listed and serves already.
		if n := mountedCount(t, mnt); n != 1 {
			t.Fatalf("%s: %d bcfs mounts listed right after mount returned", mnt, n)
		}
		got, err := os.ReadFile(filepath.Join(mnt, "ES.csv"))
		if err != nil || string(got) != want {
			t.Fatalf("%s/ES.csv: %v\n%q\nwant %q", mnt, err, got, want)
		}
	}
	// uid=, gid=, umask= reached the mount.
	var sst syscall.Stat_t
	if err := syscall.Stat(filepath.Join(mnt1, "ES.csv"), &sst); err != nil {
		t.Fatal(err)
	}
	if sst.Uid != 1234 || sst.Gid != 1235 || sst.Mode&0o777 != 0o664 {
		t.Fatalf("ES.csv: uid %d gid %d mode %o, want 1234 1235 664", sst.Uid, sst.Gid, sst.Mode&0o777)
	}
	// ro: writes are refused.
	if err := os.WriteFile(filepath.Join(mnt2, "ES.csv"), []byte(ibkrCSV), 0o644); err == nil {
		t.Fatalf("write through the ro fstab mount succeeded")
	}
	// An unknown option is an error mount(8) reports, and nothing is mounted.
	cmd := exec.Command("mount", "-T", fstab, filepath.Join(dir, "mnt3"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "frobnicate") {
		t.Fatalf("mount with an unknown option: %v\n%s", err, out)
	}
	if n := mountedCount(t, filepath.Join(dir, "mnt3")); n != 0 {
		t.Fatalf("unknown option mounted anyway")
	}
	for _, mnt := range []string{mnt1, mnt2} {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Fatalf("umount %s: %v\n%s", mnt, err, out)
		}
		if n := mountedCount(t, mnt); n != 0 {
			t.Fatalf("%s still mounted after umount", mnt)
		}
		waitFor(t, 20*time.Second, "the mount process of "+mnt+" to exit", func() bool { return len(bcfsProcs(t, mnt)) == 0 })
	}
}

func TestMountDaemonWaitsUntilServing(t *testing.T) {
	needMount(t)
	st, want := storeWithES(t)
	mnt := t.TempDir()
	cleanupMount(t, mnt)
	if _, errOut, code := bcfs(t, st, "mount", "--daemon", mnt); code != 0 {
		t.Fatalf("mount --daemon: exit %d: %s", code, errOut)
	}
	if n := mountedCount(t, mnt); n != 1 {
		t.Fatalf("mount --daemon returned with %d mounts listed on %s", n, mnt)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "ES.csv"))
	if err != nil || string(got) != want {
		t.Fatalf("ES.csv: %v %q", err, got)
	}
	pids := bcfsProcs(t, mnt)
	if len(pids) != 1 {
		t.Fatalf("daemon processes %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the daemon to unmount and exit", func() bool {
		return mountedCount(t, mnt) == 0 && len(bcfsProcs(t, mnt)) == 0
	})

	// A child that fails passes its error and exit status on.
	bad := write(t, t.TempDir(), "notastore", "x")
	_, fgErr, fgCode := bcfs(t, bad, "mount", mnt)
	_, dErr, dCode := bcfs(t, bad, "mount", "--daemon", mnt)
	if fgCode == 0 || dCode != fgCode || !strings.Contains(dErr, strings.TrimSpace(fgErr)) {
		t.Fatalf("daemon of a failing mount: exit %d %q; foreground exit %d %q", dCode, dErr, fgCode, fgErr)
	}
}

// notifySocket listens where a mount started with NOTIFY_SOCKET sends its
// systemd notifications.
func notifySocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: p, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, p
}

// readNotify returns the next notification, failing after limit.
func readNotify(t *testing.T, c *net.UnixConn, limit time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// startMount runs `bcfs mount` in the foreground as systemd would (with
// NOTIFY_SOCKET) and returns once it has sent READY=1.
func startMount(t *testing.T, st, mnt string, args ...string) (*exec.Cmd, *net.UnixConn, *testLog) {
	t.Helper()
	sock, path := notifySocket(t)
	cleanupMount(t, mnt)
	cmd := exec.Command(bcfsBin, append(append([]string{"--store", st, "mount"}, args...), mnt)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+path)
	stderr := &testLog{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if msg := readNotify(t, sock, 30*time.Second); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1\n%s", msg, stderr.String())
	}
	return cmd, sock, stderr
}

// testLog is a buffer that a process writes while the test reads it.
type testLog struct {
	mu  sync.Mutex // protects buf
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitExit waits for cmd to exit and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("mount still running after %v", limit)
	}
	return -1
}

func TestMountNotifiesSystemd(t *testing.T) {
	needMount(t)
	st, want := storeWithES(t)
	mnt := t.TempDir()
	cmd, sock, stderr := startMount(t, st, mnt)
	// READY=1 came after the mount serves.
	if n := mountedCount(t, mnt); n != 1 {
		t.Fatalf("READY=1 with %d mounts listed", n)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "ES.csv"))
	if err != nil || string(got) != want {
		t.Fatalf("ES.csv after READY=1: %v %q", err, got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if msg := readNotify(t, sock, 20*time.Second); msg != "STOPPING=1" {
		t.Fatalf("notification after SIGTERM %q, want STOPPING=1", msg)
	}
	if code := waitExit(t, cmd, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, stderr)
	}
	if n := mountedCount(t, mnt); n != 0 {
		t.Fatalf("still mounted after SIGTERM")
	}
}

func TestMountSIGHUPKeepsServingAndReopensLog(t *testing.T) {
	needMount(t)
	st, want := storeWithES(t)
	mnt := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "bcfs.log")
	cmd, _, stderr := startMount(t, st, mnt, "--log-file", logPath)
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the log file to be reopened", func() bool {
			b, _ := os.ReadFile(logPath)
			return bytes.Count(b, []byte("SIGHUP: log file reopened")) == i+1
		})
		got, err := os.ReadFile(filepath.Join(mnt, "ES.csv"))
		if err != nil || string(got) != want {
			t.Fatalf("ES.csv after SIGHUP: %v %q\n%s", err, got, stderr)
		}
	}
	old, _ := os.ReadFile(logPath + ".1")
	if !bytes.Contains(old, []byte("msg=mounted")) || bytes.Contains(old, []byte("SIGHUP: log file reopened")) {
		t.Fatalf("rotated log:\n%s", old)
	}
	if stderr.String() != "" {
		t.Fatalf("with --log-file, stderr got %q", stderr)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestMountSIGTERMWaitsForOpenFiles(t *testing.T) {
	needMount(t)
	st, want := storeWithES(t)
	mnt := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "bcfs.log")
	cmd, _, _ := startMount(t, st, mnt, "--log-file", logPath)
	f, err := os.Open(filepath.Join(mnt, "ES.csv"))
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(f, head); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, 20*time.Second, "the mount to report open files", func() bool {
		b, _ := os.ReadFile(logPath)
		return bytes.Contains(b, []byte("files still open"))
	})
	// The open file still reads to its end; the mount is still there.
	rest, err := io.ReadAll(f)
	if err != nil || string(head)+string(rest) != want {
		t.Fatalf("open file after SIGTERM: %v %q", err, string(head)+string(rest))
	}
	if cmd.Process.Signal(syscall.Signal(0)) != nil || mountedCount(t, mnt) != 1 {
		t.Fatalf("mount gone while a file is open")
	}
	f.Close()
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("exit %d\n%s", code, b)
	}
	if n := mountedCount(t, mnt); n != 0 {
		t.Fatalf("still mounted")
	}
	b, _ := os.ReadFile(logPath)
	if !bytes.Contains(b, []byte("msg=unmounted")) || bytes.Contains(b, []byte("detach")) {
		t.Fatalf("log of the stop:\n%s", b)
	}
}

// TestSystemdUnit checks the unit file the README shows with systemd's own
// verifier, then runs its ExecStart, ExecReload and stop as systemd would
// (NOTIFY_SOCKET, $MAINPID, SIGTERM), with the store, mountpoint and log
// moved to temporary folders.
func TestSystemdUnit(t *testing.T) {
	needMount(t)
	unit, err := os.ReadFile("scripts/systemd/bcfs.service")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
			if !bytes.Contains(readme, []byte(line)) {
				t.Errorf("README does not show the unit's line %q", line)
			}
		}
	}
	if keys["Type"] != "notify" {
		t.Fatalf("Type=%s", keys["Type"])
	}
	st, want := storeWithES(t)
	mnt := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "bcfs.log")
	local := strings.NewReplacer("/usr/local/bin/bcfs", bcfsBin, "/srv/bars", st, "/mnt/bars", mnt, "/var/log/bcfs.log", logPath)

	if _, err := exec.LookPath("systemd-analyze"); err == nil || os.Getenv("BCFS_REQUIRE_FUSE") == "1" {
		p := filepath.Join(t.TempDir(), "bcfs.service")
		if err := os.WriteFile(p, []byte(local.Replace(string(unit))), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("systemd-analyze", "verify", p).CombinedOutput()
		if err != nil || len(out) != 0 {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	sock, sockPath := notifySocket(t)
	cleanupMount(t, mnt)
	argv := strings.Fields(local.Replace(keys["ExecStart"]))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if msg := readNotify(t, sock, 30*time.Second); msg != "READY=1" {
		t.Fatalf("notification %q, want READY=1", msg)
	}
	reload := strings.Fields(strings.ReplaceAll(keys["ExecReload"], "$MAINPID", strconv.Itoa(cmd.Process.Pid)))
	if out, err := exec.Command(reload[0], reload[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("ExecReload: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "the reload to reach the log", func() bool {
		b, _ := os.ReadFile(logPath)
		return bytes.Contains(b, []byte("SIGHUP: log file reopened"))
	})
	if got, err := os.ReadFile(filepath.Join(mnt, "ES.csv")); err != nil || string(got) != want {
		t.Fatalf("ES.csv after reload: %v %q", err, got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if msg := readNotify(t, sock, 20*time.Second); msg != "STOPPING=1" {
		t.Fatalf("notification %q, want STOPPING=1", msg)
	}
	if code := waitExit(t, cmd, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if mountedCount(t, mnt) != 0 {
		t.Fatal("still mounted after stop")
	}
}
