package backend

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
)

// Location is a parsed backend URL: file:///abs/path or s3://bucket/prefix.
type Location struct {
	Scheme string // "file" or "s3"
	Path   string // file: the absolute folder
	Bucket string // s3
	Prefix string // s3: a clean relative key prefix, or ""
}

// ParseURL checks a backend URL without touching the network or the disk.
func ParseURL(raw string) (Location, error) {
	bad := func(why string) (Location, error) {
		return Location{}, fmt.Errorf("%w: %q: %s (want file:///absolute/path or s3://bucket/prefix)", ErrBadLocation, raw, why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad(err.Error())
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return bad("user info, query and fragment are not allowed")
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return bad("a file URL has no host: use three slashes")
		}
		if !filepath.IsAbs(u.Path) {
			return bad("the folder must be an absolute path")
		}
		return Location{Scheme: "file", Path: filepath.Clean(u.Path)}, nil
	case "s3":
		if err := checkBucket(u.Host); err != nil {
			return bad(err.Error())
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" && (CheckName(prefix) != nil || path.Clean(prefix) != prefix) {
			return bad("the key prefix must be a clean path")
		}
		return Location{Scheme: "s3", Bucket: u.Host, Prefix: prefix}, nil
	case "":
		return bad("no scheme")
	}
	return bad("unknown scheme " + u.Scheme)
}

// checkBucket applies the S3 bucket naming rules.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bucket name %q: character %q is not a lower-case letter, digit, '-' or '.'", b, c)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("bucket name %q must start and end with a letter or digit", b)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// String returns the canonical URL.
func (l Location) String() string {
	if l.Scheme == "file" {
		return "file://" + l.Path
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// Open connects to the location. A folder is created when create is set;
// a bucket is never created.
func (l Location) Open(ctx context.Context, create bool) (Backend, error) {
	if l.Scheme == "file" {
		return NewLocal(l.Path, create)
	}
	return NewS3(ctx, l.Bucket, l.Prefix, S3Options{})
}
