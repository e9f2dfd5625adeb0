package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"bcfs/cache"
	"bcfs/formats"
	"bcfs/metastore"
)

// Fixed documents of .metadata/.
const (
	DocIndex   = "index.json"
	DocSummary = "summary.json"
	DocCache   = "cache.json"
	DocErrors  = "errors.json"  // the last failures, oldest first
	DocBackups = "backups.json" // the last backup result per target
	DocCleanup = CleanupFile    // the last cleanup report
	DocRefresh = "refresh.json" // where the store is, when this process last read its journal (objstore.go)
)

var fixedDocs = []string{DocBackups, DocCache, DocCleanup, DocErrors, DocIndex, DocRefresh, DocSummary}

// MetadataNames lists every document of .metadata/: the fixed ones, then
// "<dataset>.json" for each dataset (with its folder path) and for each name
// whose first write failed, sorted. It walks the whole store; the mount uses
// MetadataDir and MetadataKind, which read one folder or one name.
func (s *Store) MetadataNames() ([]string, error) {
	ents, err := s.List()
	if err != nil {
		return nil, err
	}
	out := append([]string(nil), fixedDocs...)
	seen := map[string]bool{}
	for _, e := range ents {
		seen[e.Name] = true
		out = append(out, e.Name+".json")
	}
	fails, err := s.failures()
	if err != nil {
		return nil, err
	}
	for _, f := range fails {
		if f.Dataset != "" && !seen[f.Dataset] && ValidName(f.Dataset) == nil {
			seen[f.Dataset] = true
			out = append(out, f.Dataset+".json")
		}
	}
	sort.Strings(out[len(fixedDocs):])
	return out, nil
}

// MetaKind says what a path inside .metadata/ is.
type MetaKind int

const (
	MetaNone MetaKind = iota
	MetaFile
	MetaDir
)

// MetadataLookup is MetadataKind that also renders the document it finds,
// reading a dataset's head once: what a lookup in .metadata/ needs (the
// size of a document is its rendering's; index.json and summary.json may
// come from a rendering up to a second old, see MetadataDocRecent).
func (s *Store) MetadataLookup(p string) (MetaKind, []byte, error) {
	if !strings.Contains(p, "/") && slices.Contains(fixedDocs, p) {
		doc, err := s.MetadataDocRecent(p, time.Second)
		return MetaFile, doc, err
	}
	if ds, ok := strings.CutSuffix(p, ".json"); ok && ValidName(ds) == nil {
		doc, err := s.MetadataDoc(p)
		if err == nil {
			return MetaFile, doc, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return MetaNone, nil, err
		}
	}
	k, err := s.MetadataKind(p)
	if err != nil || k != MetaFile {
		return k, nil, err
	}
	doc, err := s.MetadataDoc(p)
	return k, doc, err
}

// MetadataKind says whether p ("index.json", "yahoo", "yahoo/AAPL.json") is
// a document, a folder or nothing in .metadata/. It reads only what concerns
// p (a cached head, a stat or two), never the list of datasets.
func (s *Store) MetadataKind(p string) (MetaKind, error) {
	if !strings.Contains(p, "/") {
		for _, d := range fixedDocs {
			if p == d {
				return MetaFile, nil
			}
		}
	}
	if ds, ok := strings.CutSuffix(p, ".json"); ok && ValidName(ds) == nil {
		_, err := s.head(ds)
		if err == nil {
			return MetaFile, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return MetaNone, err
		}
		if le, err := s.failureOf(ds); err != nil {
			return MetaNone, err
		} else if le != nil {
			return MetaFile, nil
		}
	}
	if ValidName(p) != nil {
		return MetaNone, nil
	}
	if ok, err := s.FolderExists(p); err != nil || ok {
		return MetaDir, err
	}
	fails, err := s.failures()
	if err != nil {
		return MetaNone, err
	}
	for _, f := range fails {
		if strings.HasPrefix(f.Dataset, p+"/") {
			return MetaDir, nil
		}
	}
	return MetaNone, nil
}

// MetadataDir lists the documents and folders directly inside folder prefix
// of .metadata/ ("" for .metadata/ itself). It reads that folder of the store
// only.
func (s *Store) MetadataDir(prefix string) (files, dirs []string, err error) {
	if prefix != "" {
		if err := ValidName(prefix); err != nil {
			return nil, nil, fmt.Errorf("metadata folder %q: %w", prefix, ErrNotFound)
		}
	} else {
		files = append(files, fixedDocs...)
	}
	seenFile, seenDir := map[string]bool{}, map[string]bool{}
	datasets, folders, err := s.ListFolder(prefix)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range datasets {
		base := path.Base(e.Name)
		seenFile[base] = true
		files = append(files, base+".json")
	}
	for _, f := range folders {
		base := path.Base(f)
		seenDir[base] = true
		dirs = append(dirs, base)
	}
	fails, err := s.failures()
	if err != nil {
		return nil, nil, err
	}
	for _, f := range fails {
		rest, ok := f.Dataset, prefix == ""
		if !ok {
			rest, ok = strings.CutPrefix(f.Dataset, prefix+"/")
		}
		if !ok || rest == "" || ValidName(f.Dataset) != nil {
			continue
		}
		if first, _, nested := strings.Cut(rest, "/"); nested {
			if !seenDir[first] {
				seenDir[first] = true
				dirs = append(dirs, first)
			}
		} else if !seenFile[rest] {
			seenFile[rest] = true
			files = append(files, rest+".json")
		}
	}
	sort.Strings(files)
	sort.Strings(dirs)
	return files, dirs, nil
}

// cacheDoc is .metadata/cache.json: the rendered-chunk cache's counters and,
// in a mount with one, its view cache (SetViewCacheDoc).
type cacheDoc struct {
	cache.Stats
	ViewCache any `json:"view_cache,omitempty"`
}

// SetViewCacheDoc makes .metadata/cache.json show what fn returns as
// view_cache: the mount's cache of whole views (package fusefs).
func (s *Store) SetViewCacheDoc(fn func() any) { s.viewCacheDoc.Store(&fn) }

// MetadataDoc renders one .metadata/ document as indented JSON. A dataset's
// document costs its head manifest and its last error, whatever the number
// of datasets.
func (s *Store) MetadataDoc(name string) ([]byte, error) {
	start := time.Now()
	var v any
	switch name {
	case DocIndex, DocSummary:
		heads, err := s.headManifests()
		if err != nil {
			return nil, err
		}
		if name == DocIndex {
			v = metastore.NewIndex(heads)
		} else {
			v = metastore.NewSummary(heads)
		}
	case DocCache:
		doc := cacheDoc{Stats: s.chunks.Stats()}
		if fn := s.viewCacheDoc.Load(); fn != nil {
			doc.ViewCache = (*fn)()
		}
		v = doc
	case DocRefresh:
		v = s.refreshDoc()
	case DocErrors:
		fails, err := s.Failures()
		if err != nil {
			return nil, err
		}
		v = fails
	case DocCleanup:
		last, err := s.LastCleanup()
		if err != nil {
			return nil, err
		}
		v = map[string]any{"last_cleanup": last}
	case DocBackups:
		last, err := s.LastBackups()
		if err != nil {
			return nil, err
		}
		v = map[string]any{"targets": last}
	default:
		ds, ok := strings.CutSuffix(name, ".json")
		if !ok {
			return nil, fmt.Errorf("metadata %q: %w", name, ErrNotFound)
		}
		doc, err := s.datasetDoc(ds)
		if err != nil {
			return nil, err
		}
		v = doc
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	s.rememberDoc(name, start, b)
	return b, nil
}

// datasetDoc is the document of dataset ds, or of a name whose first write
// failed (version 0, no data, its last_error).
func (s *Store) datasetDoc(ds string) (*metastore.DatasetDoc, error) {
	notFound := fmt.Errorf("metadata %q: %w", ds+".json", ErrNotFound)
	m, err := s.head(ds)
	if errors.Is(err, ErrInvalidName) {
		return nil, notFound
	}
	if errors.Is(err, ErrNotFound) {
		le, ferr := s.failureOf(ds)
		if ferr != nil {
			return nil, ferr
		}
		if le == nil {
			return nil, err
		}
		return &metastore.DatasetDoc{Filepath: ds, Columns: formats.Schema{}, Symbols: []string{}, Providers: []string{},
			LastIngest: json.RawMessage("null"), LastError: le}, nil
	}
	if err != nil {
		return nil, err
	}
	le, err := metastore.ReadLastError(s.fs, s.datasetDir(ds))
	if err != nil {
		return nil, err
	}
	doc := metastore.NewDatasetDoc(m, le)
	doc.Filepath = ds
	return &doc, nil
}

// headManifests returns the head manifest of every dataset, sorted by name.
func (s *Store) headManifests() ([]*metastore.Manifest, error) {
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	out := make([]*metastore.Manifest, 0, len(names))
	for _, n := range names {
		m, err := s.head(n)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// The index is keyed by the name the dataset has now, which a
		// rename may have changed since the manifest was written.
		c := *m
		c.Dataset = n
		out = append(out, &c)
	}
	return out, nil
}

// Failures returns the store's recorded failed writes (at most
// metastore.MaxFailures), oldest first, from every process using the store.
func (s *Store) Failures() ([]metastore.LastError, error) {
	fails, err := s.failures()
	if err != nil {
		return nil, err
	}
	return append([]metastore.LastError{}, fails...), nil
}

// metaCaches are the caches behind .metadata/.
type metaCaches struct {
	failures failureLog
	docs     storeDocs
}

// storeDocs keeps the latest renderings of the documents that read every
// dataset (index.json, summary.json), for the sizes that lookups and stat
// report: rendering them costs a head read per dataset, and a walk of the
// mount looks them up several times.
type storeDocs struct {
	mu   sync.Mutex
	docs map[string]renderedDoc
}

type renderedDoc struct {
	at   time.Time
	data []byte
}

// storeWide reports whether document name reads every dataset.
func storeWide(name string) bool { return name == DocIndex || name == DocSummary }

// MetadataDocRecent is MetadataDoc, except that a document reading every
// dataset may come from a rendering up to maxAge old. Opens use
// MetadataDoc; sizes in lookups and stat may use this.
func (s *Store) MetadataDocRecent(name string, maxAge time.Duration) ([]byte, error) {
	if !storeWide(name) {
		return s.MetadataDoc(name)
	}
	c := &s.meta.docs
	c.mu.Lock()
	d, ok := c.docs[name]
	c.mu.Unlock()
	if ok && time.Since(d.at) < maxAge {
		return d.data, nil
	}
	return s.MetadataDoc(name)
}

// rememberDoc keeps a rendering of a store-wide document.
func (s *Store) rememberDoc(name string, at time.Time, data []byte) {
	if !storeWide(name) {
		return
	}
	c := &s.meta.docs
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs == nil {
		c.docs = map[string]renderedDoc{}
	}
	if d, ok := c.docs[name]; !ok || d.at.Before(at) {
		c.docs[name] = renderedDoc{at: at, data: data}
	}
}

// failureLog caches the entries of the store's failure log by file name
// (entries never change once written), so that reading it costs one listing
// of its folder plus the entries added since. A listing, not the folder's
// modification time, tells what changed: object stores have no folder times.
type failureLog struct {
	mu     sync.Mutex
	byName map[string]*metastore.LastError // nil value: an entry that does not decode
	list   []metastore.LastError
	names  []string // the names list was built from
}

// failures returns the store's failure log, oldest first, as other
// processes may have changed it. The result must not be modified.
func (s *Store) failures() ([]metastore.LastError, error) {
	names, err := metastore.FailureNames(s.fs, s.dir)
	if err != nil {
		return nil, err
	}
	fl := &s.meta.failures
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if slices.Equal(names, fl.names) {
		return fl.list, nil
	}
	byName := make(map[string]*metastore.LastError, len(names))
	list := make([]metastore.LastError, 0, len(names))
	for _, n := range names {
		e, ok := fl.byName[n]
		if !ok {
			if e, err = metastore.ReadFailure(s.fs, s.dir, n); err != nil {
				return nil, err
			}
		}
		byName[n] = e
		if e != nil {
			list = append(list, *e)
		}
	}
	fl.byName, fl.list, fl.names = byName, list, names
	return list, nil
}

// failureOf returns the newest recorded failure of dataset ds, or nil.
func (s *Store) failureOf(ds string) (*metastore.LastError, error) {
	fails, err := s.failures()
	if err != nil {
		return nil, err
	}
	for i := len(fails) - 1; i >= 0; i-- {
		if fails[i].Dataset == ds {
			le := fails[i]
			return &le, nil
		}
	}
	return nil, nil
}

// recordError keeps the reason of a failed write: in the dataset's
// last_error when the dataset exists, and in the store's failure log (which
// also answers .metadata/NAME.json for a name that never committed).
// Cancellations (an unmount, a killed writer) are not failures of the input.
func (s *Store) recordError(name, source string, err error) {
	if s.opt.ReadOnly || errors.Is(err, context.Canceled) || errors.Is(err, ErrReadOnly) || ValidName(name) != nil {
		return
	}
	le := newLastError(name, source, err)
	dir := s.datasetDir(name)
	if _, serr := s.fs.Stat(filepath.Join(dir, metastore.LogDir)); serr == nil {
		if werr := metastore.WriteLastError(s.fs, dir, le); werr != nil {
			s.log.Warn("recording last error", "dataset", name, "err", werr)
		}
	}
	if werr := metastore.AppendFailure(s.fs, s.dir, le, metastore.MaxFailures); werr != nil {
		s.log.Warn("recording failure", "dataset", name, "err", werr)
	}
}

// newLastError describes err, with the file, line, column and value of the
// first bad cell when the error names one.
func newLastError(name, source string, err error) *metastore.LastError {
	le := &metastore.LastError{Time: time.Now().UTC(), Dataset: name, Source: source, File: source, Error: err.Error()}
	var pe *formats.ParseError
	var oe *formats.OHLCError
	if errors.As(err, &oe) && oe.First != nil {
		pe = oe.First
	} else if !errors.As(err, &pe) {
		pe = nil
	}
	if pe != nil {
		if pe.File != "" {
			le.File = pe.File
		}
		le.Line, le.Column, le.ColumnName, le.Value = pe.Line, pe.Column, pe.Name, pe.Value
	}
	return le
}
