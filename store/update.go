package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"bcfs/metastore"
)

// UpdateFunc builds the next version of a dataset from its head (nil when
// the dataset has no version yet). It returns the manifest to commit, or nil
// when nothing changes, and the files it wrote for it (slash paths relative
// to the dataset dir; Update removes them if the version is not committed).
//
// Update fills in the manifest's Dataset, Version, Parent and (when zero)
// CommittedAt. fn may run several times, each time on a newer head, when
// other writers win the commit point; it must not change anything but the
// files it returns.
type UpdateFunc func(head *metastore.Manifest) (next *metastore.Manifest, newFiles []string, err error)

// commitTimeout bounds how long Update keeps retrying when other writers
// keep winning the commit point. It is a time, not a count of attempts, so
// that many concurrent writers all get through.
const commitTimeout = 5 * time.Minute

// Update is the one commit transaction of the store: ingest, settings,
// restore, rollback and retention are functions on it. It serializes
// updates of one dataset within this process, runs fn on the head, commits
// its manifest as the next version and, when another writer (another
// process) committed first, runs fn again on the new head, with jittered
// exponential backoff, until it commits, fn fails, ctx ends or
// commitTimeout passes. After a commit it updates the head cache, notifies
// subscribers and collects garbage in the background, except after the
// first version of a dataset whose folder did not exist before: garbage is
// a file older than the grace period that no version names (leftovers of
// a crashed write), and a folder this update created holds only files
// this commit just wrote and named.
//
// It returns the committed manifest, or nil when fn changed nothing. An
// error wrapping metastore.ErrNotDurable comes with the manifest: the
// version is visible but its final fsync failed; do not retry.
func (s *Store) Update(ctx context.Context, name string, fn UpdateFunc) (*metastore.Manifest, error) {
	return s.updateIn(ctx, name, fn, nil)
}

// updateIn is Update committing within group (nil: on its own).
func (s *Store) updateIn(ctx context.Context, name string, fn UpdateFunc, group *CommitGroup) (*metastore.Manifest, error) {
	if s.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	mu := s.lockDataset(name)
	m, fresh, err := s.update(ctx, name, fn, group)
	mu.Unlock()
	if m != nil {
		s.notify(name)
		if !fresh || m.Parent != 0 {
			s.gc(name) // queues the dataset; the worker collects it
		}
	}
	return m, err
}

// update is Update with the dataset's lock held by the caller. fresh
// reports that the dataset of a local store had no version and no folder
// when it started.
func (s *Store) update(ctx context.Context, name string, fn UpdateFunc, group *CommitGroup) (m *metastore.Manifest, fresh bool, err error) {
	dir := s.datasetDir(name)
	head, err := s.head(name)
	if errors.Is(err, ErrNotFound) {
		head, err = nil, nil
		if s.Remote() == "" { // on S3 the stat of a folder costs a LIST: collect as always
			_, serr := s.fs.Stat(dir)
			fresh = errors.Is(serr, os.ErrNotExist)
		}
	}
	if err != nil {
		return nil, false, err
	}
	deadline := time.Now().Add(commitTimeout)
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		mark, err := group.mark() // before fn writes anything
		if err != nil {
			return nil, fresh, err
		}
		next, written, err := fn(head)
		m = next
		published := false
		if err == nil && m != nil {
			err = s.commit(name, head, m, written, group, mark)
			// Past the commit point the version is visible: its files
			// stay even if the final fsync failed.
			published = err == nil || errors.Is(err, metastore.ErrNotDurable)
		}
		mark.close()
		if published {
			return m, fresh, err
		}
		s.removeFiles(dir, written)
		if head == nil {
			s.removeEmptyDataset(dir)
		}
		if err == nil || !errors.Is(err, metastore.ErrConflict) {
			return nil, fresh, err
		}
		if time.Now().After(deadline) {
			return nil, fresh, fmt.Errorf("dataset %s: other writers kept committing first for %v (%d attempts): %w",
				name, commitTimeout, attempt+1, err)
		}
		s.log.Debug("commit conflict, building again", "dataset", name, "attempt", attempt+1)
		// Full jitter: concurrent losers spread out instead of colliding
		// again at the same instant.
		select {
		case <-time.After(time.Duration(rand.Int64N(int64(backoff)) + 1)):
		case <-ctx.Done():
			return nil, fresh, ctx.Err()
		}
		backoff = min(2*backoff, 200*time.Millisecond)
		if head, err = metastore.Head(s.fs, dir); errors.Is(err, metastore.ErrNoVersions) {
			head = nil
		} else if err != nil {
			return nil, fresh, fmt.Errorf("reload head after conflict: %w", err)
		}
	}
}

// commit publishes m as the version after head and makes it this Store's
// cached head. A version above head that decodes means another writer won:
// ErrConflict. written are the files fn wrote (relative to the dataset
// dir, not yet fsynced: writePartition leaves that to here): the commit
// fsyncs them, their folders and, for a new dataset, the folders above its
// dir up to datasets/, all at once, before it publishes the manifest
// (metastore.CommitFiles), or within group, whose syncfs on mark makes
// them all durable (CommitGroup).
func (s *Store) commit(name string, head *metastore.Manifest, m *metastore.Manifest, written []string, group *CommitGroup, mark *groupMark) error {
	dir := s.datasetDir(name)
	var parent int64
	if head != nil {
		parent = head.Version
	}
	version, err := metastore.NextVersion(s.fs, dir, parent)
	if err != nil {
		return err
	}
	m.Dataset, m.Version, m.Parent = name, version, parent
	if m.FormatVersion == 0 {
		m.FormatVersion = metastore.FormatVersion
	}
	if m.CommittedAt.IsZero() {
		m.CommittedAt = time.Now().UTC().Truncate(time.Millisecond)
	}
	if err := s.fs.MkdirAll(filepath.Join(dir, metastore.LogDir), 0o755); err != nil {
		return err
	}
	files := make([]string, len(written))
	for i, w := range written {
		files[i] = filepath.Join(dir, filepath.FromSlash(w))
	}
	var dirs []string
	if head == nil { // a new dataset: its dir's entry, and any folder made for it
		root := filepath.Join(s.dir, metastore.DatasetsDir)
		for d := filepath.Dir(dir); len(d) >= len(root); d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if d == root {
				break
			}
		}
	}
	if group != nil {
		err = group.commit(dir, m, mark) // one syncfs covers files and folders
	} else {
		err = metastore.CommitFiles(s.fs, dir, m, files, dirs)
	}
	if err == nil || errors.Is(err, metastore.ErrNotDurable) {
		s.mu.Lock()
		s.heads[name] = m
		s.mu.Unlock()
	}
	return err
}
