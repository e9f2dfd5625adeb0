// Package s3test runs a real S3-compatible server for tests: Versity's
// S3 gateway (versitygw) over a posix folder, on 127.0.0.1. scripts/test.sh
// installs it in /var/cache/bcfs-ci/bin; it starts in under a second and
// honours If-None-Match: * under concurrency, which is the commit point the
// backend relies on. Without it tests skip, unless BCFS_REQUIRE_FUSE=1 or
// CI=true, where they fail.
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials the server is started with.
const (
	AccessKey = "bcfstestkey"
	SecretKey = "bcfstestsecret0123456789"
)

// Server is a running versitygw.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

// Binary returns the versitygw path, or "" if it is not installed.
func Binary() string {
	if p := os.Getenv("BCFS_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, p := range []string{"/var/cache/bcfs-ci/bin/versitygw", filepath.Join(os.Getenv("HOME"), ".cache/bcfs-ci/bin/versitygw")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start starts a server with the given buckets and points the standard AWS
// environment variables at it (t.Setenv: not for parallel tests). It is
// stopped in t.Cleanup.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw not installed (scripts/test.sh installs it into /var/cache/bcfs-ci/bin)"
		if os.Getenv("BCFS_REQUIRE_FUSE") == "1" || os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	s.Restart()
	t.Cleanup(s.Stop)
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", s.Endpoint())
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(s.dir, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(s.dir, "no-aws-credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cl := s.Client()
	for _, b := range buckets {
		if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	return s
}

// Endpoint is the server's URL.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// Dir is the posix folder holding the buckets (a bucket is a folder, an
// object a file), for tests that damage stored objects.
func (s *Server) Dir() string { return filepath.Join(s.dir, "data") }

// Restart starts the server again (after Stop) on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	data := s.Dir()
	if err := os.MkdirAll(data, 0o755); err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey,
		"--port", "127.0.0.1:"+strconv.Itoa(s.port), "posix", data)
	log, err := os.OpenFile(filepath.Join(s.dir, "versitygw.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	log.Close()
	s.cmd = cmd
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(s.dir, "versitygw.log"))
			s.t.Fatalf("versitygw not listening after 15s: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: an outage, not a shutdown).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Client returns an SDK client for the server, for test set-up.
func (s *Server) Client() *s3.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		s.t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(s.Endpoint())
	})
}

// FreePort returns a TCP port nobody listens on (for an unreachable target).
func FreePort(t testing.TB) int { return freePort(t) }

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// String describes the server.
func (s *Server) String() string { return fmt.Sprintf("versitygw at %s", s.Endpoint()) }
