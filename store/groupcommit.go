package store

import (
	"sync"

	"bcfs/metastore"
)

// CommitGroup makes the commits of concurrent ingests of different
// datasets durable together: the commits that are ready while a group is
// being published wait and form the next group (up to max), which costs
// two syncfs(2) of the store's filesystem in all, instead of a dozen
// fsyncs per dataset (metastore.PublishGroup says what a syncfs costs and
// why a bulk ingest accepts it). Each dataset still commits on its own:
// its own version, its own conflict detection and retry (Update), and an
// ingest returns only when its version is durable, or with the error of
// its group's syncfs, as from a failed fsync.
//
// bcfs ingest uses one when it runs datasets in parallel (--jobs > 1); a
// single ingest and the mount commit one at a time.
type CommitGroup struct {
	s      *Store
	opener metastore.SyncfsOpener
	max    int

	mu         sync.Mutex // protects the fields below
	queue      []*groupEntry
	running    bool   // a goroutine is publishing the queue
	publishing int    // commits in the group being published
	marks      uint64 // marks opened so far
}

// groupEntry is one commit waiting in a CommitGroup.
type groupEntry struct {
	p    *metastore.Pending
	mark *groupMark
	done chan error
}

// groupMark is a handle on the store's filesystem opened before an
// attempt writes its files, so that its group's syncfs reports any
// writeback error of them (metastore.SyncfsOpener). Each attempt has its
// own: a handle whose syncfs already reported an error to one group would
// not report it to the next.
type groupMark struct {
	sfs metastore.Syncfs
	seq uint64 // order of opening: the group syncs on its oldest mark
}

func (m *groupMark) close() {
	if m != nil {
		_ = m.sfs.Close()
	}
}

// NewCommitGroup returns a CommitGroup publishing up to max commits at
// once, or nil (commit one at a time) when the store is not a local
// folder whose FS can syncfs, or is read-only.
func (s *Store) NewCommitGroup(max int) *CommitGroup {
	o, ok := s.fs.(metastore.SyncfsOpener)
	if !ok || s.Remote() != "" || s.opt.ReadOnly || max < 1 {
		return nil
	}
	return &CommitGroup{s: s, opener: o, max: max}
}

// mark opens the handle of one attempt (nil group: nil).
func (g *CommitGroup) mark() (*groupMark, error) {
	if g == nil {
		return nil, nil
	}
	sfs, err := g.opener.OpenSyncfs(g.s.dir)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.marks++
	m := &groupMark{sfs: sfs, seq: g.marks}
	g.mu.Unlock()
	return m, nil
}

// commit publishes m as the version in the dataset dir within a group
// and returns when its group is published: nil, or the error of
// metastore.PublishGroup for it (ErrConflict, ErrNotDurable, a syncfs
// failure). m's files and dir's folders were written after mark opened.
func (g *CommitGroup) commit(dir string, m *metastore.Manifest, mark *groupMark) error {
	p, err := metastore.Prepare(g.s.fs, dir, m)
	if err != nil {
		return err
	}
	e := &groupEntry{p: p, mark: mark, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, e)
	if !g.running {
		g.running = true
		go g.publish()
	}
	g.mu.Unlock()
	return <-e.done
}

// publish publishes the queue, a group of up to max at a time, until it
// is empty. The commits that arrive while a group syncs form the next.
func (g *CommitGroup) publish() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.max)
		g.publishing = n
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		group := make([]*groupEntry, n)
		copy(group, g.queue)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()

		oldest := group[0].mark
		ps := make([]*metastore.Pending, n)
		for i, e := range group {
			ps[i] = e.p
			if e.mark.seq < oldest.seq {
				oldest = e.mark
			}
		}
		errs := metastore.PublishGroup(g.s.fs, oldest.sfs, ps)
		g.s.log.Debug("group commit", "datasets", n)
		for i, e := range group {
			e.done <- errs[i]
		}
	}
}
