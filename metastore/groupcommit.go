package metastore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// Syncfs is a handle on a whole local filesystem (see SyncfsOpener).
type Syncfs interface {
	// Sync writes every dirty file and folder of the filesystem to stable
	// storage, whoever wrote them (syncfs(2)), and fails if that failed
	// or if any writeback on the filesystem failed since the handle was
	// opened or since its previous Sync (Linux 5.8 and later keep that
	// error per superblock and per handle).
	Sync() error
	Close() error
}

// SyncfsOpener is an FS whose files all live on one local filesystem, so
// that one syncfs(2) makes all of them durable. DirFS and OS are; an
// object store is not (its writes are durable when they return), and
// neither are test wrappers that do not say so: without it the store
// commits one dataset at a time (CommitFiles).
type SyncfsOpener interface {
	// OpenSyncfs opens a handle on the filesystem holding name. Open it
	// before writing the files its Sync must vouch for: a writeback error
	// from before the handle was opened may already have been reported
	// to someone else.
	OpenSyncfs(name string) (Syncfs, error)
}

// fdSyncfs is a Syncfs on an open descriptor.
type fdSyncfs struct {
	fd   int
	name string
}

func (s fdSyncfs) Sync() error {
	if err := unix.Syncfs(s.fd); err != nil {
		return &fs.PathError{Op: "syncfs", Path: s.name, Err: err}
	}
	return nil
}

func (s fdSyncfs) Close() error { return unix.Close(s.fd) }

func (d *dirFS) OpenSyncfs(name string) (Syncfs, error) {
	rel, err := d.rel("syncfs", name)
	if err != nil {
		return nil, err
	}
	// syncfs(2) refuses an O_PATH descriptor, so not root's kept one.
	fd, err := d.openBeneath("syncfs", name, rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return fdSyncfs{fd, name}, nil
}

func (osFS) OpenSyncfs(name string) (Syncfs, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "syncfs", Path: name, Err: err}
	}
	return fdSyncfs{fd, name}, nil
}

// Pending is the commit of one version prepared for PublishGroup: its
// manifest is written to a temp name in _log, not yet durable.
type Pending struct {
	dir     string
	version int64
	tmp     string // _log/.tmp-<uuid>.json
	final   string // _log/<20 digits>.json
}

// Prepare encodes m and writes it to a temp name in the _log folder of the
// dataset dir (which the caller made), without fsyncing anything: the
// first step of CommitFiles for a commit that PublishGroup finishes
// together with others. On error nothing is left behind.
func Prepare(fsys FS, dir string, m *Manifest) (*Pending, error) {
	data, err := Encode(m)
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(dir, LogDir)
	final := filepath.Join(dir, filepath.FromSlash(ManifestName(m.Version)))
	p := &Pending{dir: dir, version: m.Version, tmp: tempName(logDir, final), final: final}
	if err := writeFile(fsys, p.tmp, data); err != nil {
		return nil, fmt.Errorf("commit %s version %d: %w", dir, m.Version, err)
	}
	return p, nil
}

// Abandon removes a prepared commit's temp manifest (best effort: Recover
// collects a temp left behind).
func (p *Pending) Abandon(fsys FS) { _ = fsys.Remove(p.tmp) }

// publishParallel bounds the links PublishGroup makes at once.
const publishParallel = 8

// PublishGroup publishes prepared commits of different datasets, each as
// CommitFiles would, with one syncfs(2) in place of their fsyncs. It
// returns an error per commit, nil for the published ones.
//
// The order is CommitFiles', for the whole group: sfs.Sync makes every
// file, folder and temp manifest of every commit durable (the caller
// opened sfs before any of them was written, so a writeback error of any
// of them fails it); only if it succeeded is each temp hard-linked to its
// version name, each link its own commit point (ErrConflict if another
// writer has that version; the others still publish), and a second Sync
// makes the links durable. If the first Sync fails nothing is published
// and every commit gets its error; if the second fails every published
// commit's error wraps ErrNotDurable, as when CommitFiles' last fsync of
// _log fails: the version is visible, do not retry it.
//
// What a syncfs costs: it writes back everything dirty on the filesystem,
// other processes' files too, and waits for it. With another process
// writing gigabytes there, a group's commit waits for their writeback (it
// would happen anyway, but later); the fsyncs of CommitFiles wait only for
// the dataset's own files (on ext4 with a journal they may still wait for
// the journal commit that carries others' metadata). That is acceptable for
// a bulk ingest, which wants throughput: one syncfs (and one device cache
// flush) per group instead of a dozen fsyncs (and flushes) per dataset.
// A single ingest and the mount commit with CommitFiles. A writeback
// error of another process's file on the same filesystem fails the group
// too: a false alarm that is reported, never a loss that is not.
func PublishGroup(fsys FS, sfs Syncfs, ps []*Pending) []error {
	errs := make([]error, len(ps))
	if err := sfs.Sync(); err != nil {
		for i, p := range ps {
			p.Abandon(fsys)
			errs[i] = fmt.Errorf("commit %s version %d: %w", p.dir, p.version, err)
		}
		return errs
	}
	var g errgroup.Group
	g.SetLimit(publishParallel)
	for i, p := range ps {
		g.Go(func() error {
			err := fsys.Link(p.tmp, p.final)
			p.Abandon(fsys) // the temp name is garbage whatever the link did
			if errors.Is(err, os.ErrExist) {
				err = ErrConflict
			}
			if err != nil {
				errs[i] = fmt.Errorf("commit %s version %d: %w", p.dir, p.version, err)
			}
			return nil
		})
	}
	_ = g.Wait()
	linked := false
	for _, err := range errs {
		linked = linked || err == nil
	}
	if !linked {
		return errs
	}
	if err := sfs.Sync(); err != nil {
		for i, p := range ps {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("commit %s version %d: %w: %w", p.dir, p.version, ErrNotDurable, err)
			}
		}
	}
	return errs
}

// writeFile creates name and writes data, without fsync. On failure the
// partial file is removed (best effort).
func writeFile(fsys FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(name)
	}
	return err
}
