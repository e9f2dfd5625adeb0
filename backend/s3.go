package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
)

// S3 is a backend in a bucket of an S3-compatible object store, under a
// key prefix. It uses aws-sdk-go-v2 rather than minio-go: it is AWS's own
// SDK and reads the configuration exactly as the aws CLI does (environment,
// profiles in the shared config and credentials files, SSO, instance
// roles), where minio-go has its own, smaller credential chain; it has
// typed conditional writes (PutObjectInput.IfNoneMatch) and a configurable
// standard retryer (timeouts, 5xx, connection resets, with jittered
// exponential backoff); and the store on S3 (issue 10) uses the same
// client, so one set of settings serves both. Its cost is the settings
// S3-compatible servers need: path-style addressing and checksums only
// when required (the default CRC32 headers break several servers).
type S3 struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ending in "/"
	endpoint string // for messages
}

// S3Options tune NewS3; the zero value is the standard configuration.
type S3Options struct {
	// MaxAttempts bounds the tries of one request (default 5).
	MaxAttempts int
	// MaxBackoff bounds the wait between tries (default 2s).
	MaxBackoff time.Duration
}

// NewS3 connects to bucket under prefix. Configuration is the standard AWS
// one: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (default
// us-east-1), AWS_ENDPOINT_URL, AWS_PROFILE and the shared config and
// credentials files. Addressing is path-style, and the SDK's default CRC32
// checksum headers are off (many S3-compatible servers reject them).
// It checks that credentials exist and that the bucket is reachable.
func NewS3(ctx context.Context, bucket, prefix string, opt S3Options) (*S3, error) {
	if opt.MaxAttempts == 0 {
		opt.MaxAttempts = 5
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 2 * time.Second
	}
	if prefix != "" {
		if err := CheckName(prefix); err != nil {
			return nil, err
		}
		prefix += "/"
	}
	loc := "s3://" + bucket + "/" + strings.TrimSuffix(prefix, "/")
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 5 * time.Second }).
		WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = 2 * time.Minute
			t.MaxIdleConnsPerHost = 32
		})
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithHTTPClient(httpClient),
		// Errors reach the caller; the SDK's own log lines would only
		// interleave with the command's output.
		config.WithLogger(logging.Nop{}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = opt.MaxAttempts
				o.MaxBackoff = opt.MaxBackoff
				// Every failed request may retry: a server that is back
				// after a restart must not find the retry budget spent.
				o.RateLimiter = ratelimit.None
			})
		}))
	if err != nil {
		return nil, fmt.Errorf("%s: AWS configuration: %w", loc, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	endpoint := "AWS"
	if cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%s: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a shared credentials file): %w", loc, ErrBadLocation)
	}
	b := &S3{
		client: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		bucket: bucket, prefix: prefix, endpoint: endpoint,
	}
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: bucket %q does not exist at %s: %w", loc, bucket, endpoint, ErrBadLocation)
		}
		return nil, b.wrap("", err)
	}
	return b, nil
}

func (b *S3) Location() string { return "s3://" + b.bucket + "/" + strings.TrimSuffix(b.prefix, "/") }

func (b *S3) key(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	return b.prefix + name, nil
}

// wrap names bucket, key and what the server said; a missing object
// matches fs.ErrNotExist, a failed If-None-Match fs.ErrExist.
func (b *S3) wrap(key string, err error) error {
	where := fmt.Sprintf("s3 bucket %q key %q at %s", b.bucket, key, b.endpoint)
	if key == "" {
		where = fmt.Sprintf("s3 bucket %q at %s", b.bucket, b.endpoint)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg := fmt.Sprintf("%s: server said %s: %s", where, ae.ErrorCode(), ae.ErrorMessage())
		switch {
		case isNotFound(err):
			return fmt.Errorf("%s: %w", msg, fs.ErrNotExist)
		case ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict":
			return fmt.Errorf("%s: %w", msg, fs.ErrExist)
		case ae.ErrorCode() == "XAmzContentSHA256Mismatch" || ae.ErrorCode() == "BadDigest":
			return fmt.Errorf("%s: %w", msg, ErrChecksum)
		case ae.ErrorCode() == "Forbidden" || ae.ErrorCode() == "AccessDenied" ||
			ae.ErrorCode() == "SignatureDoesNotMatch" || ae.ErrorCode() == "InvalidAccessKeyId":
			return fmt.Errorf("%s (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the shared credentials file): %w", msg, ErrBadLocation)
		}
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %w", where, err)
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

type s3Object struct {
	b    *S3
	ctx  context.Context
	key  string
	size int64
}

func (o *s3Object) Size() int64  { return o.size }
func (o *s3Object) Close() error { return nil }

// ReadAt is one ranged GET.
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), o.size-off)
	rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	out, err := o.b.client.GetObject(o.ctx, &s3.GetObjectInput{Bucket: &o.b.bucket, Key: &o.key, Range: &rng})
	if err != nil {
		return 0, o.b.wrap(o.key, err)
	}
	defer out.Body.Close()
	got, err := io.ReadFull(out.Body, p[:n])
	if err != nil {
		return got, o.b.wrap(o.key, err)
	}
	if int64(got) < int64(len(p)) {
		return got, io.EOF
	}
	return got, nil
}

func (b *S3) Open(ctx context.Context, name string) (Object, error) {
	info, err := b.Stat(ctx, name)
	if err != nil {
		return nil, err
	}
	key, _ := b.key(name)
	return &s3Object{b: b, ctx: ctx, key: key, size: info.Size}, nil
}

func (b *S3) Stat(ctx context.Context, name string) (Info, error) {
	key, err := b.key(name)
	if err != nil {
		return Info{}, err
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return Info{}, b.wrap(key, err)
	}
	return Info{Name: name, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

func (b *S3) Put(ctx context.Context, name string, blob Blob) error {
	return b.put(ctx, name, blob, false)
}

func (b *S3) PutIfAbsent(ctx context.Context, name string, blob Blob) error {
	return b.put(ctx, name, blob, true)
}

func (b *S3) put(ctx context.Context, name string, blob Blob, exclusive bool) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           &key,
		Body:          io.NewSectionReader(blob.R, 0, blob.Size),
		ContentLength: aws.Int64(blob.Size),
	}
	if exclusive {
		in.IfNoneMatch = aws.String("*")
	}
	var opts []func(*s3.Options)
	if blob.SHA256 != "" {
		// The known digest is the signed payload hash: the SDK does not
		// read the file a second time to compute it, and the server
		// refuses the upload if the bytes it received do not match.
		opts = append(opts, withPayloadHash(blob.SHA256))
	}
	if _, err := b.client.PutObject(ctx, in, opts...); err != nil {
		return b.wrap(key, err)
	}
	return nil
}

func withPayloadHash(sha string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("bcfsPayloadHash",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					return next.HandleFinalize(v4.SetPayloadHash(ctx, sha), in)
				}), (*v4.ComputePayloadSHA256)(nil).ID(), middleware.Before)
		})
	}
}

func (b *S3) Delete(ctx context.Context, name string) error {
	key, err := b.key(name)
	if err != nil {
		return err
	}
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key}); err != nil && !isNotFound(err) {
		return b.wrap(key, err)
	}
	return nil
}

func (b *S3) List(ctx context.Context, prefix string, fn func(Info) error) error {
	full := b.prefix + prefix
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return b.wrap(full, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), b.prefix)
			if CheckName(name) != nil {
				continue // not a name this package writes
			}
			if err := fn(Info{Name: name, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}
