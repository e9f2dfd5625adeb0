package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bcfs/cache"
	"bcfs/formats"
	"bcfs/metastore"
)

// Options configure Open.
type Options struct {
	// CacheBytes bounds the rendered-chunk cache; 0 means 512 MiB.
	CacheBytes int64
	Logger     *slog.Logger
	ReadOnly   bool
	// FS is the filesystem under the store; nil means metastore.DirFS of
	// the store folder, which follows no symlink inside it. Tests inject
	// faults through it.
	FS metastore.FS
	// Grace is how old an unreferenced file must be before garbage
	// collection removes it; 0 means 10 minutes. Every version is kept
	// unless a retention policy drops it (bcfs cleanup).
	Grace time.Duration
	// ScratchBytes bounds the scratch folder (files that are not dataset
	// views, saved through the mount); 0 means no bound. See ReserveScratch.
	ScratchBytes int64
	// DecodeLimits bound a decoder's memory per record and per batch
	// (formats.Limits); an ingest's IngestOptions.Limits override them.
	DecodeLimits formats.Limits
	// IngestBufferBytes bounds the rows an ingest holds in memory waiting
	// for their partition's merge (strings' text and headers plus 8 bytes
	// per number); 0 means DefaultIngestBufferBytes (256 MiB). Over it,
	// the partition holding the most is merged at once (see doc.go).
	IngestBufferBytes int64
}

// Store is an open canonical store. It is safe for concurrent use; several
// processes may open the same store (commits race safely at the commit
// point).
type Store struct {
	dir    string
	fs     metastore.FS
	ownFS  bool // fs was made by Open (DirFS) and is closed by Close
	opt    Options
	log    *slog.Logger
	chunks *cache.Chunks

	// mu protects heads, pins, subs, nextSub and watchEvery.
	mu      sync.Mutex
	heads   map[string]*metastore.Manifest // cached head manifests by dataset name
	pins    map[string]int                 // absolute partition path -> open snapshots
	subs    map[int]func(string)
	nextSub int
	// watchEvery is the journal poll interval of a store on S3 (objstore.go).
	watchEvery time.Duration

	// dsLocks serializes ingests into one dataset within this process, so
	// they do not waste work racing at the commit point.
	dsLocks sync.Map // name -> *sync.Mutex

	gcw *gcWorker // background garbage collection (nil when read-only)

	versionEntries versionEntryCache // VersionEntry answers, by manifest identity

	viewCacheDoc atomic.Pointer[func() any] // see SetViewCacheDoc

	meta metaCaches // caches of .metadata/ (metadata.go)

	scratch scratchUsage // bytes in the scratch folder, against opt.ScratchBytes
}

// Open opens the store at dir, creating it if needed, and recovers every
// dataset (drops torn manifests and aged garbage).
func Open(dir string, opt Options) (st *Store, err error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.CacheBytes == 0 {
		opt.CacheBytes = 512 << 20
	}
	if opt.Grace == 0 {
		opt.Grace = 10 * time.Minute
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var ownFS metastore.FS // the FS made here, closed if Open fails
	defer func() {
		if c, ok := ownFS.(io.Closer); ok && st == nil {
			c.Close()
		}
	}()
	if opt.FS == nil {
		opt.FS = metastore.DirFS(abs)
		ownFS = opt.FS
		if !opt.ReadOnly {
			// DirFS needs its root; the folders above it are the user's.
			if err := os.MkdirAll(abs, 0o755); err != nil {
				return nil, fmt.Errorf("open store: %w", err)
			}
		}
	}
	s := &Store{dir: abs, fs: opt.FS, ownFS: ownFS != nil, opt: opt, log: opt.Logger,
		heads: map[string]*metastore.Manifest{}, pins: map[string]int{}, subs: map[int]func(string){}}
	if err := s.checkStoreFolders(); err != nil {
		return nil, err
	}
	if opt.ReadOnly {
		if _, err := s.fs.Stat(filepath.Join(abs, "bcfs.json")); err != nil {
			return nil, fmt.Errorf("open store %s: %w", abs, err)
		}
	} else {
		for _, d := range []string{abs, s.datasetsDir(), s.SpoolDir(), s.ScratchDir(), s.trashDir()} {
			if err := s.fs.MkdirAll(d, 0o755); err != nil {
				return nil, fmt.Errorf("open store: %w", err)
			}
		}
		if _, err := metastore.LoadOrCreateConfig(s.fs, abs); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	s.chunks, err = cache.New(opt.CacheBytes)
	if err != nil {
		return nil, err
	}
	if !opt.ReadOnly {
		s.startGC()
		s.recoverAll()
	}
	st = s
	return s, nil
}

// Close releases the cache and the descriptor of the store folder kept by
// its DirFS. Open snapshots stay readable until released.
func (s *Store) Close() error {
	s.stopGC()
	s.chunks.Close()
	if c, ok := s.fs.(io.Closer); ok && s.ownFS {
		return c.Close()
	}
	return nil
}

func (s *Store) Dir() string         { return s.dir }
func (s *Store) SpoolDir() string    { return filepath.Join(s.dir, "spool") }
func (s *Store) ScratchDir() string  { return filepath.Join(s.dir, "scratch") }
func (s *Store) datasetsDir() string { return filepath.Join(s.dir, "datasets") }
func (s *Store) trashDir() string    { return filepath.Join(s.dir, "trash") }

func (s *Store) datasetDir(name string) string { return metastore.DatasetDir(s.dir, name) }

// recoverAll cleans spool leftovers of dead ingests and every dataset's
// unreferenced files older than the grace period, and finishes moves to
// and from the trash that a crash interrupted. It never empties the trash.
func (s *Store) recoverAll() {
	s.cleanSpool(time.Now().Add(-s.opt.Grace))
	s.recoverTrash()
	if s.Remote() != "" {
		// On S3 this would cost LISTs per dataset on every command;
		// each dataset is collected after its commits and by cleanup.
		return
	}
	names, err := s.datasetNames()
	if err != nil {
		s.log.Warn("recovery: listing datasets", "err", err)
		return
	}
	for _, n := range names {
		s.gc(n)
	}
}

// datasetNames lists every dataset, sorted.
func (s *Store) datasetNames() ([]string, error) { return metastore.Datasets(s.fs, s.dir) }

// head returns the newest manifest of a dataset, refreshing the cached one
// with a stat of the next version's file, so commits of other processes are
// seen.
func (s *Store) head(name string) (*metastore.Manifest, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	dir := s.datasetDir(name)
	s.mu.Lock()
	m := s.heads[name]
	s.mu.Unlock()
	if m != nil {
		_, errNext := s.fs.Stat(filepath.Join(dir, metastore.ManifestName(m.Version+1)))
		_, errCur := s.fs.Stat(filepath.Join(dir, metastore.ManifestName(m.Version)))
		if errNext != nil && errCur == nil {
			return m, nil
		}
	}
	m, err := metastore.Head(s.fs, dir)
	if err != nil {
		s.mu.Lock()
		delete(s.heads, name)
		s.mu.Unlock()
		if errors.Is(err, metastore.ErrNoVersions) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("dataset %q: %w", name, ErrNotFound)
		}
		return nil, err
	}
	// A dataset renamed or restored under another name keeps its
	// manifests byte-identical; its name is where it lives.
	m.Dataset = name
	s.mu.Lock()
	s.heads[name] = m
	s.mu.Unlock()
	return m, nil
}

func entryOf(name string, m *metastore.Manifest) Entry {
	return Entry{Name: name, Version: m.Version, Committed: m.CommittedAt, Rows: m.RowCount,
		CSVSize: m.CSVSize, ParquetSize: m.ParquetSize}
}

// Stat returns the head of one dataset.
func (s *Store) Stat(name string) (Entry, error) {
	m, err := s.head(name)
	if err != nil {
		return Entry{}, err
	}
	return entryOf(name, m), nil
}

// List returns every dataset's head, sorted by name.
func (s *Store) List() ([]Entry, error) {
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		m, err := s.head(n)
		if errors.Is(err, ErrNotFound) {
			continue // a dataset being created or deleted
		}
		if err != nil {
			return nil, err
		}
		out = append(out, entryOf(n, m))
	}
	return out, nil
}

// Folders returns every folder: mkdir'ed ones and parents of datasets. A
// folder is any directory under datasets/ with a valid name (partition and
// log folders are not) that is not itself a dataset.
func (s *Store) Folders() ([]string, error) {
	var out []string
	var rec func(rel string) error
	rec = func(rel string) error {
		ents, err := s.fs.ReadDir(filepath.Join(s.datasetsDir(), filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) && rel != "" {
			return nil // removed while walking
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			child := path.Join(rel, e.Name())
			if !e.IsDir() || ValidName(child) != nil {
				continue
			}
			if _, err := s.fs.Stat(filepath.Join(s.datasetDir(child), metastore.LogDir)); err != nil {
				out = append(out, child)
			}
			if err := rec(child); err != nil {
				return err
			}
		}
		return nil
	}
	if err := rec(""); err != nil {
		return nil, err
	}
	// Parents of datasets and folders are folders too, even a parent that
	// is itself a dataset ("yahoo" beside "yahoo/AAPL").
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range out {
		seen[f] = true
	}
	for _, n := range append(names, out...) {
		for p := path.Dir(n); p != "."; p = path.Dir(p) {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Mkdir creates a folder.
func (s *Store) Mkdir(folder string) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	if err := ValidName(folder); err != nil {
		return err
	}
	p := s.datasetDir(folder)
	if _, err := s.fs.Stat(p); err == nil {
		return fmt.Errorf("folder %q: %w", folder, ErrExists)
	}
	return s.fs.MkdirAll(p, 0o755)
}

// Rmdir removes an empty folder.
func (s *Store) Rmdir(folder string) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	if err := ValidName(folder); err != nil {
		return err
	}
	p := s.datasetDir(folder)
	ents, err := s.fs.ReadDir(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("folder %q: %w", folder, ErrNotFound)
		}
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("folder %q: %w", folder, ErrNotEmpty)
	}
	return s.fs.Remove(p)
}

// Rename gives a dataset a new name: one rename of its dir, with every
// version. Datasets nested in it ("A/B" under "A") stay where they are.
func (s *Store) Rename(oldName, newName string) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	if err := ValidName(newName); err != nil {
		return err
	}
	if _, err := s.head(oldName); err != nil {
		return err
	}
	if oldName == newName {
		return nil
	}
	if _, err := s.head(newName); err == nil {
		return fmt.Errorf("dataset %q: %w", newName, ErrExists)
	}
	mu := s.lockDataset(oldName)
	defer mu.Unlock()
	dst := s.datasetDir(newName)
	if _, err := s.fs.Stat(dst); err == nil {
		return fmt.Errorf("rename %q: a folder %q exists: %w", oldName, newName, ErrExists)
	}
	if subs, _ := s.subFolders(s.datasetDir(oldName)); len(subs) > 0 {
		// Its folder holds other datasets, which keep their names: move
		// it through the trash, whose moves handle exactly that.
		e, err := s.trashLocked(oldName, s.mustHead(oldName), "renamed to "+newName)
		if err != nil {
			return err
		}
		mu2 := s.lockDataset(newName)
		defer mu2.Unlock()
		if err := s.restoreLocked(e, newName); err != nil {
			return fmt.Errorf("rename %q to %q: %w (the dataset is in the trash as %s)", oldName, newName, err, e.ID)
		}
		return nil
	}
	if err := s.fs.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := s.fs.Rename(s.datasetDir(oldName), dst); err != nil {
		return fmt.Errorf("rename %q to %q: %w", oldName, newName, err)
	}
	s.dropHead(oldName)
	s.dropHead(newName)
	s.notify(oldName)
	s.notify(newName)
	return nil
}

func (s *Store) mustHead(name string) *metastore.Manifest {
	m, _ := s.head(name)
	if m == nil {
		m = &metastore.Manifest{}
	}
	return m
}

// RenameFolder moves a folder and every dataset and folder under it in one
// rename of its store folder, so a crash leaves all of it on one side. A
// folder that is also a dataset ("yahoo" beside "yahoo/AAPL") is not
// renamed: its dataset would move too. It returns the dataset names that
// changed, old and new.
func (s *Store) RenameFolder(oldPath, newPath string) ([]string, error) {
	if s.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	for _, p := range []string{oldPath, newPath} {
		if err := ValidName(p); err != nil {
			return nil, err
		}
	}
	if oldPath == newPath {
		return nil, nil
	}
	if strings.HasPrefix(newPath+"/", oldPath+"/") {
		return nil, fmt.Errorf("rename folder %q into itself (%q): %w", oldPath, newPath, ErrNotPermitted)
	}
	src := s.datasetDir(oldPath)
	if fi, err := s.fs.Stat(src); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("folder %q: %w", oldPath, ErrNotFound)
	}
	if _, err := s.fs.Stat(filepath.Join(src, metastore.LogDir)); err == nil {
		return nil, fmt.Errorf("folder %q is also a dataset (%s.csv); move its datasets one by one: %w", oldPath, oldPath, ErrNotPermitted)
	}
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	var moved []string
	for _, n := range names {
		if strings.HasPrefix(n, oldPath+"/") {
			moved = append(moved, n)
		}
	}
	// Hold every moving dataset's lock: no ingest may commit into the old
	// place while its folder moves.
	for _, n := range moved {
		mu := s.lockDataset(n)
		defer mu.Unlock()
	}
	dst := s.datasetDir(newPath)
	if ents, err := s.fs.ReadDir(dst); err == nil {
		if len(ents) > 0 {
			return nil, fmt.Errorf("folder %q: %w", newPath, ErrNotEmpty)
		}
		if err := s.fs.Remove(dst); err != nil {
			return nil, err
		}
	} else if fi, serr := s.fs.Stat(dst); serr == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%q: %w", newPath, ErrNotFolder)
	}
	if err := s.fs.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	if err := s.fs.Rename(src, dst); err != nil {
		return nil, fmt.Errorf("rename folder %q to %q: %w", oldPath, newPath, err)
	}
	changed := make([]string, 0, 2*len(moved))
	for _, n := range moved {
		nn := newPath + strings.TrimPrefix(n, oldPath)
		s.dropHead(n)
		s.dropHead(nn)
		changed = append(changed, n, nn)
	}
	for _, n := range changed {
		s.notify(n)
	}
	return changed, nil
}

// Subscribe calls fn after each commit, delete or rename made through this
// Store, from its own goroutine with no store lock held.
func (s *Store) Subscribe(fn func(name string)) (cancel func()) {
	s.mu.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

func (s *Store) notify(name string) {
	s.mu.Lock()
	fns := make([]func(string), 0, len(s.subs))
	for _, f := range s.subs {
		fns = append(fns, f)
	}
	s.mu.Unlock()
	if len(fns) == 0 {
		return
	}
	go func() {
		for _, f := range fns {
			f(name)
		}
	}()
}

func (s *Store) lockDataset(name string) *sync.Mutex {
	v, _ := s.dsLocks.LoadOrStore(name, new(sync.Mutex))
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu
}
