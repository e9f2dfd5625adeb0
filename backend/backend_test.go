package backend_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bcfs/backend"
	"bcfs/backend/s3test"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// testBackend runs the behaviour every backend must have.
func testBackend(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
	if err := b.Put(ctx, "a/b/file.bin", backend.Blob{R: bytes.NewReader(data), Size: int64(len(data)), SHA256: sum(data)}); err != nil {
		t.Fatal(err)
	}
	info, err := b.Stat(ctx, "a/b/file.bin")
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("stat: %+v %v", info, err)
	}
	o, err := b.Open(ctx, "a/b/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 7)
	if n, err := o.ReadAt(p, 123_455); err != nil || n != 7 || string(p) != "5678901" {
		t.Fatalf("ReadAt: %d %q %v", n, p, err)
	}
	var got bytes.Buffer
	if _, err := backend.Copy(&got, o); err != nil || !bytes.Equal(got.Bytes(), data) || o.Size() != int64(len(data)) {
		t.Fatalf("Copy: %d bytes, size %d, %v", got.Len(), o.Size(), err)
	}
	o.Close()

	// A wrong digest stores nothing.
	bad := append([]byte(nil), data...)
	bad[5000] ^= 1
	err = b.Put(ctx, "a/b/bad.bin", backend.Blob{R: bytes.NewReader(bad), Size: int64(len(bad)), SHA256: sum(data)})
	if !errors.Is(err, backend.ErrChecksum) {
		t.Fatalf("put with wrong SHA-256: %v, want ErrChecksum", err)
	}
	if _, err := b.Stat(ctx, "a/b/bad.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused put left an object: %v", err)
	}

	// Put-if-absent: exactly one of many concurrent writers wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, exists := 0, 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := b.PutIfAbsent(ctx, "log/00001.json", backend.Bytes([]byte(strings.Repeat("x", i+1))))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, fs.ErrExist):
				exists++
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 || exists != 7 {
		t.Fatalf("put-if-absent: %d winners, %d saw it exist; want 1 and 7", wins, exists)
	}

	for _, n := range []string{"a/c", "a/b0", "log/00002.json", "ab"} {
		if err := b.Put(ctx, n, backend.Bytes([]byte(n))); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string) string {
		var names []string
		if err := b.List(ctx, prefix, func(i backend.Info) error { names = append(names, i.Name); return nil }); err != nil {
			t.Fatal(err)
		}
		return strings.Join(names, " ")
	}
	if got, want := list(""), "a/b/file.bin a/b0 a/c ab log/00001.json log/00002.json"; got != want {
		t.Errorf("list all: %q, want %q", got, want)
	}
	if got, want := list("a/b"), "a/b/file.bin a/b0"; got != want {
		t.Errorf("list a/b: %q, want %q", got, want)
	}
	if got, want := list("log/"), "log/00001.json log/00002.json"; got != want {
		t.Errorf("list log/: %q, want %q", got, want)
	}
	if got := list("nothing/"); got != "" {
		t.Errorf("list of a missing prefix: %q", got)
	}

	if err := b.Delete(ctx, "a/c"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "a/c"); err != nil {
		t.Fatalf("delete of a missing object: %v", err)
	}
	if _, err := b.Open(ctx, "a/c"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open after delete: %v", err)
	}
	for _, n := range []string{"../x", "/abs", "a//b", ""} {
		if err := b.Put(ctx, n, backend.Bytes(nil)); !errors.Is(err, backend.ErrBadLocation) {
			t.Errorf("put %q: %v, want ErrBadLocation", n, err)
		}
	}
}

func TestLocal(t *testing.T) {
	b, err := backend.NewLocal(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	testBackend(t, b)
}

// TestLocalNoSymlinks: a symlink inside the folder is never followed, to a
// file or through a folder.
func TestLocalNoSymlinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "dir")); err != nil {
		t.Fatal(err)
	}
	b, err := backend.NewLocal(root, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, n := range []string{"link", "dir/secret"} {
		if o, err := b.Open(ctx, n); err == nil {
			o.Close()
			t.Errorf("open %s followed a symlink", n)
		}
		if _, err := b.Stat(ctx, n); err == nil {
			t.Errorf("stat %s followed a symlink", n)
		}
	}
	if err := b.Put(ctx, "dir/new", backend.Bytes([]byte("x"))); err == nil {
		t.Error("put through a symlinked folder succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("put wrote outside the folder")
	}
	var names []string
	_ = b.List(ctx, "", func(i backend.Info) error { names = append(names, i.Name); return nil })
	if len(names) != 0 {
		t.Errorf("list shows symlinks: %v", names)
	}
}

func TestS3(t *testing.T) {
	srv := s3test.Start(t, "bucket-one")
	b, err := backend.NewS3(context.Background(), "bucket-one", "some/prefix", backend.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	testBackend(t, b)
	// The prefix keeps the objects apart from the rest of the bucket.
	if _, err := os.Stat(filepath.Join(srv.Dir(), "bucket-one", "some/prefix/a/b/file.bin")); err != nil {
		t.Errorf("object not under its prefix: %v", err)
	}
}

// TestS3BadConfiguration: each mistake is a clear error before anything is
// written.
func TestS3BadConfiguration(t *testing.T) {
	srv := s3test.Start(t, "bucket-one")
	ctx := context.Background()
	_, err := backend.NewS3(ctx, "no-such-bucket", "", backend.S3Options{})
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist at `+srv.Endpoint()) {
		t.Errorf("missing bucket: %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	_, err = backend.NewS3(ctx, "bucket-one", "", backend.S3Options{MaxAttempts: 1})
	if err == nil || !strings.Contains(err.Error(), `s3 bucket "bucket-one"`) || !strings.Contains(err.Error(), "server said") {
		t.Errorf("wrong secret: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err = backend.NewS3(ctx, "bucket-one", "", backend.S3Options{MaxAttempts: 1})
	if err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("no credentials: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "file:///mnt/usb/bcfs", want: "file:///mnt/usb/bcfs"},
		{in: "s3://my-bucket/bcfs/desk1", want: "s3://my-bucket/bcfs/desk1"},
		{in: "s3://my-bucket", want: "s3://my-bucket/"},
		{in: "file://relative/path", err: "no host"},
		{in: "file:relative", err: "absolute"},
		{in: "/mnt/usb", err: "no scheme"},
		{in: "s3://My_Bucket/x", err: "character"},
		{in: "s3://ab/x", err: "3 to 63"},
		{in: "s3://bucket/a/../b", err: "clean"},
		{in: "ftp://host/x", err: "unknown scheme"},
		{in: "s3://user:pw@bucket/x", err: "user info"},
	} {
		l, err := backend.ParseURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, backend.ErrBadLocation) {
				t.Errorf("%s: %v, want an error with %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || l.String() != c.want {
			t.Errorf("%s: %v %v, want %s", c.in, l, err, c.want)
		}
	}
}

// TestS3RetriesTransientErrors puts a proxy in front of the server that
// answers every other request with a 503 or drops the connection: each
// operation still succeeds, because transient errors are retried.
func TestS3RetriesTransientErrors(t *testing.T) {
	srv := s3test.Start(t, "bucket-one")
	target, _ := url.Parse(srv.Endpoint())
	rp := httputil.NewSingleHostReverseProxy(target)
	var n atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 4 {
		case 1:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>`)
		case 3:
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.(*net.TCPConn).SetLinger(0) // a reset, not a clean close
				c.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	defer proxy.Close()
	t.Setenv("AWS_ENDPOINT_URL", proxy.URL)
	b, err := backend.NewS3(context.Background(), "bucket-one", "p", backend.S3Options{MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	testBackend(t, b)
	if n.Load() < 40 {
		t.Fatalf("only %d requests went through the proxy", n.Load())
	}
}
