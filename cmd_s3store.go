package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"bcfs/backend"
	"bcfs/metastore"
	"bcfs/store"
)

// s3StoreOptions are the flags of a store on S3 (--store s3://bucket/prefix).
type s3StoreOptions struct {
	WorkDir     string        // local work folder (spool, scratch, staged uploads)
	CacheDir    string        // mount: disk cache of partition data
	DiskCacheGB float64       // mount: its bound
	Refresh     time.Duration // mount: journal poll interval
	diskCache   bool          // set by mount: read partitions through the disk cache
}

func isS3Store(s string) bool { return strings.HasPrefix(s, "s3://") }

func workDirFlag(g *globalOptions) cli.Flag {
	return &cli.StringFlag{Name: "work-dir", EnvVars: []string{"BCFS_WORK_DIR"},
		Usage:       "local work `DIR` of a store on S3: spool, scratch, staged uploads (default: under the user's cache folder)",
		Destination: &g.S3.WorkDir}
}

// s3MountFlags are the mount's flags for a store on S3.
func s3MountFlags(g *globalOptions) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cache-dir", Usage: "store on S3: disk cache `DIR` of partition data (default WORK/cache)", Destination: &g.S3.CacheDir},
		&cli.Float64Flag{Name: "disk-cache-gb", Value: 4, Usage: "store on S3: bound of the disk cache in `GB`", Destination: &g.S3.DiskCacheGB},
		&cli.DurationFlag{Name: "refresh", Value: 2 * time.Second, Usage: "store on S3: how often to read the store's journal for other machines' commits (`DURATION`)", Destination: &g.S3.Refresh},
	}
}

// defaultWorkDir is <user cache folder>/bcfs/s3/<bucket>/<prefix>.
func defaultWorkDir(loc backend.Location) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache folder for the work folder of %s (give --work-dir): %w", loc, err)
	}
	return filepath.Join(base, "bcfs", "s3", loc.Bucket, filepath.FromSlash(loc.Prefix)), nil
}

// openS3Store opens a store kept in an S3 bucket: its objects through
// metastore.ObjFS, its local-by-nature folders in the work folder.
func openS3Store(g *globalOptions, opt store.Options) (*store.Store, error) {
	loc, err := backend.ParseURL(g.Store)
	if err != nil {
		return nil, usageError{fmt.Errorf("--store: %w", err)}
	}
	work := g.S3.WorkDir
	if work == "" {
		if work, err = defaultWorkDir(loc); err != nil {
			return nil, usageError{err}
		}
	}
	b, err := backend.NewS3(context.Background(), loc.Bucket, loc.Prefix, backend.S3Options{})
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", loc, err)
	}
	var dc *metastore.DiskCache
	if g.S3.diskCache {
		dir := g.S3.CacheDir
		if dir == "" {
			dir = filepath.Join(work, metastore.WorkCache)
		}
		if g.S3.DiskCacheGB <= 0 {
			return nil, usageError{fmt.Errorf("--disk-cache-gb must be > 0")}
		}
		if dc, err = metastore.OpenDiskCache(dir, int64(g.S3.DiskCacheGB*(1<<30))); err != nil {
			return nil, err
		}
	}
	ofs, err := metastore.NewObjFS(b, work, dc)
	if err != nil {
		return nil, err
	}
	opt.FS = ofs
	return store.Open(ofs.Root(), opt)
}
