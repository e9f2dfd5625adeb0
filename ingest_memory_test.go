package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// writeBomb writes the memory bomb of issue 7: a .csv.zst of rows bars, each
// with a text field of field bytes, as concatenated zstd frames (the big
// field is compressed once and repeated), so a 7.5 GB text is a few hundred
// KB on disk and takes no time to make.
func writeBomb(t *testing.T, path string, rows, field int, quoted bool) {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	frame := func(s []byte) []byte { return enc.EncodeAll(s, nil) }
	body := bytes.Repeat([]byte("x"), field)
	if quoted {
		body = append(append([]byte{'"'}, bytes.Repeat([]byte("x,\n"), field/3)...), '"')
	}
	big := frame(body)
	var out bytes.Buffer
	out.Write(frame([]byte("timestamp,open,high,low,close,volume,note\n")))
	for i := range rows {
		out.Write(frame(fmt.Appendf(nil, "2024-01-02 %02d:%02d:00,1,2,0.5,1,100,", i/60, i%60)))
		out.Write(big)
		out.Write(frame([]byte("\n")))
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

var plainBin struct {
	once sync.Once
	path string
	err  error
}

// plainBinary builds bcfs without the race detector (which multiplies
// memory) once per test run, for memory measurements.
func plainBinary(t *testing.T) string {
	t.Helper()
	plainBin.once.Do(func() {
		plainBin.path = filepath.Join(filepath.Dir(bcfsBin), "bcfs-plain") // removed by TestMain
		if out, err := exec.Command("go", "build", "-o", plainBin.path, ".").CombinedOutput(); err != nil {
			plainBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if plainBin.err != nil {
		t.Fatal(plainBin.err)
	}
	return plainBin.path
}

var maxRSS = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// runTimed runs the binary under /usr/bin/time -v and returns its stderr
// (without time's report), exit code and peak RSS in bytes.
func runTimed(t *testing.T, bin string, args ...string) (string, int, int64) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "time.txt")
	cmd := exec.Command("/usr/bin/time", append([]string{"-v", "-o", report, bin}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	rep, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	m := maxRSS.FindSubmatch(rep)
	if m == nil {
		t.Fatalf("no peak RSS in /usr/bin/time output:\n%s", rep)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return stderr.String(), code, kb << 10
}

// TestIngestMemoryBomb ingests the memory bomb of issue 7 (150 rows of a
// 50 MB text field, ~7.5 GB of text in a small .csv.zst) with a binary
// built without the race detector, under /usr/bin/time -v: it must be
// refused (exit 1) naming file, line and limit, with peak RSS under 1 GiB.
func TestIngestMemoryBomb(t *testing.T) {
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		if os.Getenv("BCFS_REQUIRE_FUSE") == "1" {
			t.Fatal("/usr/bin/time is missing (apt-get install time)")
		}
		t.Skip("/usr/bin/time is missing")
	}
	dir := t.TempDir()
	bin := plainBinary(t)
	for _, tc := range []struct {
		name   string
		quoted bool
		want   string
	}{
		{"plain field", false, "record limit of 16 MiB"},
		{"quoted field with line breaks", true, "record limit of 16 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bomb := filepath.Join(dir, "bomb.csv.zst")
			writeBomb(t, bomb, 150, 50_000_000, tc.quoted)
			st, _ := os.Stat(bomb)
			store := filepath.Join(t.TempDir(), "store")
			stderr, code, rss := runTimed(t, bin, "--store", store, "ingest", "--dataset", "bomb", bomb)
			t.Logf("%s: %d-byte bomb: exit %d, peak RSS %d MiB: %s", tc.name, st.Size(), code, rss>>20, strings.TrimSpace(stderr))
			if code != 1 || !strings.Contains(stderr, "bomb.csv.zst:2") || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q: want exit 1 naming bomb.csv.zst:2 and %q", code, stderr, tc.want)
			}
			if rss >= 1<<30 {
				t.Errorf("peak RSS %d MiB, want under 1 GiB", rss>>20)
			}
		})
	}
}

// TestMountMemoryBomb copies the bomb into a mount (a binary built without
// the race detector): the copy fails, the mount survives with its peak RSS
// under 1 GiB, and the refusal is the name's last_error.
func TestMountMemoryBomb(t *testing.T) {
	needMount(t)
	bin := plainBinary(t)
	bomb := filepath.Join(t.TempDir(), "bomb.csv.zst")
	writeBomb(t, bomb, 150, 50_000_000, false)
	st := filepath.Join(t.TempDir(), "store")
	mnt := t.TempDir()
	sock, notify := notifySocket(t)
	cleanupMount(t, mnt)
	cmd := exec.Command(bin, "--store", st, "mount", mnt)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
	stderr := &testLog{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		waitExit(t, cmd, time.Minute)
	})
	if msg := readNotify(t, sock, 30*time.Second); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1\n%s", msg, stderr.String())
	}
	out, err := exec.Command("cp", bomb, filepath.Join(mnt, "bomb.csv")).CombinedOutput()
	if err == nil {
		t.Fatalf("cp of the bomb succeeded: %s", out)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatalf("the mount died: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in\n%s", status)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	t.Logf("cp: %s; mount peak RSS %d MiB", strings.TrimSpace(string(out)), kb>>10)
	if kb<<10 >= 1<<30 {
		t.Errorf("mount peak RSS %d MiB, want under 1 GiB", kb>>10)
	}
	meta, err := os.ReadFile(filepath.Join(mnt, ".metadata", "bomb.json"))
	if err != nil || !strings.Contains(string(meta), "record limit of 16 MiB") {
		t.Errorf("bomb.json (%v) lacks the refusal:\n%s", err, meta)
	}
	if _, err := os.ReadDir(mnt); err != nil {
		t.Errorf("the mount no longer lists: %v", err)
	}
}
