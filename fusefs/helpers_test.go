package fusefs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"bcfs/store"
)

// requireFuse reports whether mount tests must fail rather than skip when
// FUSE is unavailable.
func requireFuse() bool { return os.Getenv("BCFS_REQUIRE_FUSE") == "1" }

// needFuse skips (or fails under BCFS_REQUIRE_FUSE=1) when this process
// cannot mount.
func needFuse(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := os.Stat("/dev/fuse"); err != nil {
		why = "no /dev/fuse"
	} else if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			why = "not root and no fusermount3"
		}
	}
	if why == "" {
		return
	}
	if requireFuse() {
		t.Fatalf("FUSE required (BCFS_REQUIRE_FUSE=1): %s", why)
	}
	t.Skip(why)
}

// testLogger collects log output and prints it only when the test fails.
type testLogger struct {
	mu  sync.Mutex // protects buf
	buf bytes.Buffer
}

func (l *testLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// mounted is a store mounted for one test.
type mounted struct {
	st   *store.Store
	fsys *FS
	srv  *fuse.Server
	mnt  string
	logs *testLogger
}

func openTestStore(t *testing.T, dir string, logs io.Writer) *store.Store {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(dir, store.Options{CacheBytes: 64 << 20, Logger: log})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	return st
}

// mount opens a new store in a temp dir, lets prepare fill it, and mounts it.
func mount(t *testing.T, opt Options, prepare func(st *store.Store)) *mounted {
	t.Helper()
	needFuse(t)
	root := t.TempDir()
	logs := &testLogger{}
	st := openTestStore(t, filepath.Join(root, "store"), logs)
	if prepare != nil {
		prepare(st)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opt.Debug = os.Getenv("BCFS_FUSE_DEBUG") == "1"
	fsys, err := NewFS(st, opt)
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(root, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := fsys.Mount(mnt)
	if err != nil {
		if requireFuse() {
			t.Fatalf("mount: %v", err)
		}
		t.Skipf("mount: %v", err)
	}
	m := &mounted{st: st, fsys: fsys, srv: srv, mnt: mnt, logs: logs}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
		fsys.Close()
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	return m
}

// ingestFile ingests a file straight into the store (no mount involved).
func ingestFile(t *testing.T, st *store.Store, name, path string) {
	t.Helper()
	if _, err := st.Ingest(context.Background(), name, path, store.IngestOptions{Source: filepath.Base(path)}); err != nil {
		t.Fatalf("ingest %s into %s: %v", path, name, err)
	}
}

// snapshotBytes returns the full bytes of the head version of a view, as
// `bcfs export` writes them.
func snapshotBytes(t *testing.T, st *store.Store, name string, v store.View) []byte {
	t.Helper()
	sn, err := st.Pin(name, 0)
	if err != nil {
		t.Fatalf("pin %s: %v", name, err)
	}
	defer sn.Release()
	buf := make([]byte, sn.Size(v))
	n, err := sn.ReadAt(v, buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read %s: %v", name, err)
	}
	if int64(n) != sn.Size(v) {
		t.Fatalf("read %s: %d of %d bytes", name, n, sn.Size(v))
	}
	return buf
}

// writeFile writes a test input under dir.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually retries check until it returns nil or the kernel's cache
// timeout has surely passed.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(3 * cacheTimeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// genBars returns a CSV with a header and n one-minute bars from t0.
func genBars(t0 time.Time, n int, symbol, provider string) string {
	var b bytes.Buffer
	b.WriteString("timestamp,open,high,low,close,volume,symbol,provider\n")
	b.WriteString(genRows(t0, n, symbol, provider))
	return b.String()
}

// genRows returns n one-minute bar rows (no header) from t0.
func genRows(t0 time.Time, n int, symbol, provider string) string {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		p := 4000 + float64(i%97)*0.25
		ts := t0.Add(time.Duration(i) * time.Minute).UTC().Format("2006-01-02 15:04:05")
		b.WriteString(ts)
		b.WriteString(",")
		b.WriteString(ftoa(p))
		b.WriteString(",")
		b.WriteString(ftoa(p + 1))
		b.WriteString(",")
		b.WriteString(ftoa(p - 1))
		b.WriteString(",")
		b.WriteString(ftoa(p + 0.5))
		b.WriteString(",")
		b.WriteString(itoa(100 + i%50))
		b.WriteString(",")
		b.WriteString(symbol)
		b.WriteString(",")
		b.WriteString(provider)
		b.WriteString("\n")
	}
	return b.String()
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func itoa(i int) string     { return strconv.Itoa(i) }

// rows returns the head row count of a dataset, re-reading the head from
// disk.
func rows(t *testing.T, st *store.Store, name string) int64 {
	t.Helper()
	e, err := st.Stat(name)
	if err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	return e.Rows
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
