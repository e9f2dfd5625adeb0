// Command bulks3 is the peer of scripts/bench_backup.sh: the plainest bulk
// copy of a folder to an S3 prefix and back (what `aws s3 cp --recursive`
// does), with the client library and settings bcfs uses (aws-sdk-go-v2,
// path-style, checksums only when required, the standard AWS environment)
// and the same number of concurrent requests (4).
//
//	bulks3 mb BUCKET                  create a bucket
//	bulks3 put DIR s3://BUCKET/PREFIX  upload every file under DIR
//	bulks3 get s3://BUCKET/PREFIX DIR  download every object under PREFIX
package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

const workers = 4

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bulks3:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		return err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cl := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	switch {
	case len(args) == 2 && args[0] == "mb":
		_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(args[1])})
		return err
	case len(args) == 3 && args[0] == "put":
		bucket, prefix, err := splitURL(args[2])
		if err != nil {
			return err
		}
		return put(ctx, cl, args[1], bucket, prefix)
	case len(args) == 3 && args[0] == "get":
		bucket, prefix, err := splitURL(args[1])
		if err != nil {
			return err
		}
		return get(ctx, cl, bucket, prefix, args[2])
	}
	return fmt.Errorf("usage: bulks3 mb BUCKET | put DIR s3://BUCKET/PREFIX | get s3://BUCKET/PREFIX DIR")
}

func splitURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not s3://BUCKET/PREFIX", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/"), nil
}

func put(ctx context.Context, cl *s3.Client, dir, bucket, prefix string) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		key := prefix + "/" + filepath.ToSlash(rel)
		g.Go(func() error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: f})
			return err
		})
		return nil
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	return err
}

func get(ctx context.Context, cl *s3.Client, bucket, prefix, dir string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(key, prefix+"/")))
			g.Go(func() error {
				out, err := cl.GetObject(gctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
				if err != nil {
					return err
				}
				defer out.Body.Close()
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				f, err := os.Create(dst)
				if err != nil {
					return err
				}
				if _, err := io.Copy(f, out.Body); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			})
		}
	}
	return g.Wait()
}
