package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"bcfs/metastore"
)

// gcWorker collects the garbage of datasets in the background, one at a
// time, in the order asked. The Store owns it: Close stops it and waits for
// the dataset being collected to finish (a collection is never cut off
// halfway, though a crash there is safe too).
type gcWorker struct {
	mu     sync.Mutex
	queue  []string
	queued map[string]bool
	// last is when each dataset was last collected. A commit makes no
	// garbage by itself (every version is kept; a losing attempt removes
	// its own files), so background collection of one dataset runs at most
	// once per half grace period: its cost, reading every manifest, stays
	// off the commit path of a dataset with thousands of versions.
	last map[string]time.Time
	wake chan struct{}
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}
}

func (s *Store) startGC() {
	ctx, stop := context.WithCancel(context.Background())
	w := &gcWorker{queued: map[string]bool{}, last: map[string]time.Time{}, wake: make(chan struct{}, 1), ctx: ctx, stop: stop, done: make(chan struct{})}
	s.gcw = w
	go func() {
		defer close(w.done)
		for {
			w.mu.Lock()
			var name string
			if len(w.queue) > 0 {
				name = w.queue[0]
				w.queue = w.queue[1:]
				delete(w.queued, name)
			}
			w.mu.Unlock()
			if name == "" {
				select {
				case <-w.wake:
					continue
				case <-ctx.Done():
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			if _, err := s.collect(name, metastore.GCOptions{Grace: s.opt.Grace}); err != nil {
				s.log.Warn("garbage collection", "dataset", name, "err", err)
			}
		}
	}()
}

// stopGC stops the worker and waits for it.
func (s *Store) stopGC() {
	if s.gcw == nil {
		return
	}
	s.gcw.stop()
	<-s.gcw.done
}

// gc asks the worker to collect a dataset's garbage (best effort; garbage
// is never data, so a failure only wastes space).
func (s *Store) gc(name string) {
	w := s.gcw
	if w == nil || s.opt.ReadOnly {
		return
	}
	w.mu.Lock()
	grace := s.opt.Grace
	if grace == 0 {
		grace = metastore.DefaultGrace
	}
	if last, ok := w.last[name]; ok && time.Since(last) < grace/2 {
		w.mu.Unlock()
		return
	}
	if !w.queued[name] {
		w.queued[name] = true
		w.queue = append(w.queue, name)
		w.last[name] = time.Now()
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// collect removes (or, with DryRun, lists) the unreferenced files of one
// dataset that are older than the grace period and that no open snapshot
// of this Store reads.
func (s *Store) collect(name string, opt metastore.GCOptions) (metastore.GCResult, error) {
	dir := s.datasetDir(name)
	if opt.Pinned == nil {
		opt.Pinned = map[string]bool{}
	}
	s.mu.Lock()
	for p := range s.pins {
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			opt.Pinned[filepath.ToSlash(rel)] = true
		}
	}
	s.mu.Unlock()
	// Other machines' open snapshots of a store on S3 (objstore.go).
	if err := s.addRemotePins(dir, opt.Pinned); err != nil {
		return metastore.GCResult{}, fmt.Errorf("reading other processes' pins: %w", err)
	}
	if opt.Grace == 0 {
		opt.Grace = 10 * time.Minute
	}
	res, err := metastore.Collect(s.fs, dir, opt)
	if len(res.Removed) > 0 && !opt.DryRun {
		s.log.Debug("garbage collected", "dataset", name, "files", len(res.Removed), "bytes", res.Bytes)
	}
	return res, err
}
