package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
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
	Root() string
	Cache() *metastore.DiskCache
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
	s.mu.Lock()
	s.watchEvery = interval
	s.mu.Unlock()
	if _, err := j.PollJournal(ctx); err != nil {
		s.log.Warn("journal", "store", j.Location(), "err", err)
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		pins := pinPublisher{id: newTrashID(time.Now())}
		defer pins.clear(s)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pins.publish(ctx, s)
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

// RefreshDoc is .metadata/refresh.json: where the store is and how fresh
// this process's view of it is.
type RefreshDoc struct {
	Store string `json:"store"`
	// WorkDir holds spool, scratch and staged uploads of a store on S3.
	WorkDir string `json:"work_dir,omitempty"`
	// RefreshedAt is when this process last read the store's journal; a
	// commit made elsewhere before it is visible here.
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
	// RefreshIntervalSeconds is how often the journal is read;
	// VisibleWithinSeconds bounds how long another machine's commit takes
	// to show (the interval plus the kernel's one-second name cache).
	RefreshIntervalSeconds float64         `json:"refresh_interval_seconds,omitempty"`
	VisibleWithinSeconds   float64         `json:"visible_within_seconds,omitempty"`
	DiskCache              *DiskCacheStats `json:"disk_cache,omitempty"`
}

// DiskCacheStats describe the disk cache of partition data of a mount of a
// store on S3.
type DiskCacheStats struct {
	Dir       string `json:"dir"`
	UsedBytes int64  `json:"used_bytes"`
	MaxBytes  int64  `json:"max_bytes"`
	Hits      int64  `json:"hits"`
	Misses    int64  `json:"misses"`
}

func (s *Store) refreshDoc() RefreshDoc {
	j, ok := s.fs.(journalFS)
	if !ok {
		return RefreshDoc{Store: s.dir}
	}
	d := RefreshDoc{Store: j.Location(), WorkDir: j.Root()}
	if t := j.JournalPolled(); !t.IsZero() {
		t = t.UTC()
		d.RefreshedAt = &t
		s.mu.Lock()
		every := s.watchEvery
		s.mu.Unlock()
		d.RefreshIntervalSeconds = every.Seconds()
		d.VisibleWithinSeconds = (every + time.Second).Seconds()
	}
	if c := j.Cache(); c != nil {
		d.DiskCache = &DiskCacheStats{Dir: c.Dir(), UsedBytes: c.Used(), MaxBytes: c.Max(), Hits: c.Hits(), Misses: c.Misses()}
	}
	return d
}

// compactJournal deletes the journal entries of a store on S3 older than
// metastore.JournalKeep (part of Cleanup).
func (s *Store) compactJournal(ctx context.Context, dryRun bool) error {
	o, ok := s.fs.(*metastore.ObjFS)
	if !ok || dryRun {
		return nil
	}
	n, err := o.CompactJournal(ctx, metastore.JournalKeep)
	if n > 0 {
		s.log.Debug("journal compacted", "entries", n)
	}
	return err
}

// Pins across machines. A snapshot pins the partition files of its version
// in this process (Store.pins), so this process's GC never removes them;
// another machine's GC or cleanup cannot see them. A process that watches
// the journal therefore publishes its pins as _pins/<id>.json (the keys of
// the pinned files), rewritten when they change and at least every
// pinRefresh while any is held, deleted when none is; GC on any machine
// treats the files named by a pins object younger than pinFresh as pinned.
// A mount that dies leaves its object behind, honoured until it is
// pinFresh old. The guarantee across machines: a version open in a mount
// stays readable while the mount runs, whatever cleanup runs elsewhere;
// processes that do not watch (the CLI) publish nothing, and are protected
// by the grace period only.
const (
	pinsDir    = "_pins"
	pinRefresh = time.Minute
	pinFresh   = 3 * time.Minute
)

type pinPublisher struct {
	id   string
	last string // JSON last published ("" none)
	at   time.Time
}

// pinnedKeys returns the store keys of the files this process pins.
func (s *Store) pinnedKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.pins))
	for p := range s.pins {
		if rel, err := filepath.Rel(s.dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			keys = append(keys, filepath.ToSlash(rel))
		}
	}
	sort.Strings(keys)
	return keys
}

func (p *pinPublisher) publish(ctx context.Context, s *Store) {
	o, ok := s.fs.(*metastore.ObjFS)
	if !ok {
		return
	}
	keys := s.pinnedKeys()
	name := pinsDir + "/" + p.id + ".json"
	if len(keys) == 0 {
		if p.last != "" {
			if err := o.Backend().Delete(ctx, name); err == nil {
				p.last = ""
			}
		}
		return
	}
	data, _ := json.Marshal(keys)
	if string(data) == p.last && time.Since(p.at) < pinRefresh {
		return
	}
	if err := o.Backend().Put(ctx, name, backend.Bytes(data)); err != nil {
		s.log.Warn("publishing pins", "err", err)
		return
	}
	p.last, p.at = string(data), time.Now()
}

func (p *pinPublisher) clear(s *Store) {
	if o, ok := s.fs.(*metastore.ObjFS); ok && p.last != "" {
		_ = o.Backend().Delete(context.Background(), pinsDir+"/"+p.id+".json")
	}
}

// addRemotePins adds to pinned (paths relative to the dataset dir) the
// files of dir that live pins objects of any process name.
func (s *Store) addRemotePins(dir string, pinned map[string]bool) error {
	o, ok := s.fs.(*metastore.ObjFS)
	if !ok {
		return nil
	}
	rel, err := filepath.Rel(s.dir, dir)
	if err != nil {
		return err
	}
	prefix := filepath.ToSlash(rel) + "/"
	ctx := context.Background()
	var live []string
	if err := o.Backend().List(ctx, pinsDir+"/", func(i backend.Info) error {
		if time.Since(i.ModTime) < pinFresh {
			live = append(live, i.Name)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, name := range live {
		data, err := backend.ReadAll(ctx, o.Backend(), name, 64<<20)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return err
		}
		var keys []string
		if err := json.Unmarshal(data, &keys); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, k := range keys {
			if r, ok := strings.CutPrefix(k, prefix); ok {
				pinned[r] = true
			}
		}
	}
	return nil
}
