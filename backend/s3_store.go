package backend

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The operations below serve a canonical store kept on S3 (metastore.ObjFS):
// they save the round trips that the generic Backend methods would spend
// (a HEAD before every read, a whole listing for one folder).

// Get reads a whole object with one GET, refusing one larger than limit.
func (b *S3) Get(ctx context.Context, name string, limit int64) ([]byte, Info, error) {
	key, err := b.key(name)
	if err != nil {
		return nil, Info{}, err
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return nil, Info{}, b.wrap(key, err)
	}
	defer out.Body.Close()
	size := aws.ToInt64(out.ContentLength)
	if size > limit {
		return nil, Info{}, fmt.Errorf("s3 bucket %q key %q: %d bytes, more than the %d allowed", b.bucket, key, size, limit)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(size, 0)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(out.Body, limit+1)); err != nil {
		return nil, Info{}, b.wrap(key, err)
	}
	if int64(buf.Len()) > limit {
		return nil, Info{}, fmt.Errorf("s3 bucket %q key %q: more than the %d bytes allowed", b.bucket, key, limit)
	}
	return buf.Bytes(), Info{Name: name, Size: int64(buf.Len()), ModTime: aws.ToTime(out.LastModified)}, nil
}

// ReadRange reads len(p) bytes at off with one ranged GET, without the HEAD
// that Open spends: the caller knows the size (from a manifest).
func (b *S3) ReadRange(ctx context.Context, name string, p []byte, off int64) (int, error) {
	key, err := b.key(name)
	if err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	rng := fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1)
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key, Range: &rng})
	if err != nil {
		return 0, b.wrap(key, err)
	}
	defer out.Body.Close()
	n, err := io.ReadFull(out.Body, p)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return n, io.EOF
	}
	if err != nil {
		return n, b.wrap(key, err)
	}
	return n, nil
}

// ListDir lists one level under dir ("" or a name): the objects directly in
// it and the names of its sub-folders (common prefixes), with one LIST per
// 1,000 entries.
func (b *S3) ListDir(ctx context.Context, dir string) (files []Info, dirs []string, err error) {
	full := b.prefix
	if dir != "" {
		full += dir + "/"
	}
	delim := "/"
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &full, Delimiter: &delim})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, b.wrap(full, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), b.prefix)
			if CheckName(name) != nil {
				continue
			}
			files = append(files, Info{Name: name, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
		for _, cp := range page.CommonPrefixes {
			d := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), full), "/")
			if d != "" && !strings.Contains(d, "/") {
				dirs = append(dirs, d)
			}
		}
	}
	return files, dirs, nil
}

// Exists reports whether any object has a name starting with prefix (one
// LIST of at most one key).
func (b *S3) Exists(ctx context.Context, prefix string) (bool, error) {
	full := b.prefix + prefix
	out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &full, MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, b.wrap(full, err)
	}
	return len(out.Contents) > 0, nil
}

// ListAfter calls fn for the objects under prefix whose names sort after
// startAfter (a full name), in order: the incremental listing of a journal.
func (b *S3) ListAfter(ctx context.Context, prefix, startAfter string, fn func(Info) error) error {
	full := b.prefix + prefix
	in := &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &full}
	if startAfter != "" {
		in.StartAfter = aws.String(b.prefix + startAfter)
	}
	p := s3.NewListObjectsV2Paginator(b.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.wrap(full, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), b.prefix)
			if err := fn(Info{Name: name, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// CopyObject copies src to dst inside the bucket on the server (no bytes
// pass through this process).
func (b *S3) CopyObject(ctx context.Context, src, dst string) error {
	skey, err := b.key(src)
	if err != nil {
		return err
	}
	dkey, err := b.key(dst)
	if err != nil {
		return err
	}
	source := url.PathEscape(b.bucket) + "/" + escapeKey(skey)
	if _, err := b.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &b.bucket, Key: &dkey, CopySource: &source}); err != nil {
		return b.wrap(skey, err)
	}
	return nil
}

// escapeKey URL-escapes each segment of a key for x-amz-copy-source.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
