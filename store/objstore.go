package store

import (
	"context"
	"time"

	"bcfs/backend"
	"bcfs/metastore"
)

// A store on S3 runs on metastore.ObjFS (see its comment for how each file
// operation maps to objects, and why). What the store adds here is the
// watch of other machines' commits through the store's journal.

// journalFS is the FS of a store with a journal (metastore.ObjFS).
type journalFS interface {
	PollJournal(ctx context.Context) ([]metastore.JournalEntry, error)
	JournalPolled() time.Time
	Location() string
}

// Remote returns the object store location ("s3://bucket/prefix") of a
// store on S3, or "" for a local one.
func (s *Store) Remote() string {
	if j, ok := s.fs.(journalFS); ok {
		return j.Location()
	}
	return ""
}

// WatchJournal polls the journal of a store on S3 every interval until ctx
// ends, and for every change another process made drops the cached head of
// the dataset and tells subscribers (the mount drops the kernel's names),
// so that a commit from another machine shows in this process within
// interval plus the poll's own time. It costs one LIST per interval,
// whatever the number of datasets. The first poll runs before it returns.
// On a local store it does nothing.
func (s *Store) WatchJournal(ctx context.Context, interval time.Duration) {
	j, ok := s.fs.(journalFS)
	if !ok {
		return
	}
	if _, err := j.PollJournal(ctx); err != nil {
		s.log.Warn("journal", "store", j.Location(), "err", err)
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ents, err := j.PollJournal(ctx)
			if err != nil {
				s.log.Warn("journal", "store", j.Location(), "err", err)
				continue
			}
			changed := map[string]bool{}
			for _, e := range ents {
				changed[e.Dataset] = true
			}
			for name := range changed {
				s.mu.Lock()
				delete(s.heads, name)
				s.mu.Unlock()
				s.notify(name)
			}
		}
	}()
}

// JournalPolled is when this process last read the journal of a store on
// S3 successfully (zero for a local store, or before the first poll).
func (s *Store) JournalPolled() time.Time {
	if j, ok := s.fs.(journalFS); ok {
		return j.JournalPolled()
	}
	return time.Time{}
}

// storeBackend is the backend holding the store's objects: the bucket of a
// store on S3, else the store's folder.
func (s *Store) storeBackend() (backend.Backend, error) {
	if o, ok := s.fs.(*metastore.ObjFS); ok {
		return o.Backend(), nil
	}
	return backend.NewLocal(s.dir, false)
}
