package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"bcfs/backend"
	"bcfs/metastore"
)

// RestoreSource is one place a restore may read from.
type RestoreSource struct {
	Label string // the target's name, or its URL when it is not configured
	URL   string
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	Datasets []string  // none means every dataset the sources hold
	Version  int64     // restore this version (0: the newest)
	AsOf     time.Time // or the newest committed at or before this time
	Progress *Progress
	Open     OpenFunc // nil means OpenURL
	// Warn receives each skipped source, manifest or file as it happens.
	Warn func(string)
}

// RestoredFile says where one partition file came from.
type RestoredFile struct {
	Path string `json:"path"` // in the dataset dir
	From string `json:"from"` // a source label, or "store" when the store already held it
}

// RestoredDataset is the outcome of restoring one dataset.
type RestoredDataset struct {
	Dataset string `json:"dataset"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	// Version is the version restored, as numbered on the targets;
	// StoreVersion the number it has in the store now (the same when the
	// dataset was new, the next version when it existed).
	Version      int64          `json:"version"`
	StoreVersion int64          `json:"store_version"`
	Unchanged    bool           `json:"unchanged,omitempty"` // the dataset already held exactly this
	Rows         int64          `json:"rows"`
	History      []int64        `json:"history"` // versions restored with their numbers (new datasets)
	ManifestFrom string         `json:"manifest_from"`
	ServedBy     map[string]int `json:"served_by"` // source label -> files
	BytesFetched int64          `json:"bytes_fetched"`
	Files        []RestoredFile `json:"files"`
}

// RestoreReport is the outcome of Restore.
type RestoreReport struct {
	Datasets []RestoredDataset `json:"datasets"`
	Warnings []string          `json:"warnings"`
}

// OK reports whether every dataset was restored.
func (r *RestoreReport) OK() bool {
	for _, d := range r.Datasets {
		if !d.OK {
			return false
		}
	}
	return len(r.Datasets) > 0
}

// restoreSource is a RestoreSource once listed.
type restoreSource struct {
	RestoreSource
	b         backend.Backend
	data      map[string]int64
	manifests map[string]map[int64]bool // dataset -> versions
}

type restorer struct {
	s       *Store
	opt     RestoreOptions
	local   backend.Backend // the store's own objects (storeBackend)
	sources []*restoreSource

	mu       sync.Mutex // protects warnings
	warnings []string
}

func (r *restorer) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.warnings = append(r.warnings, msg)
	r.mu.Unlock()
	if r.opt.Warn != nil {
		r.opt.Warn(msg)
	}
}

// Restore rebuilds datasets from backup targets, trying the sources in
// order: an unreachable source, a missing or damaged manifest, and a
// missing file or one whose SHA-256 does not match are skipped with a
// warning, file by file. A dataset the store lacks gets the versions the
// targets hold up to the one asked for, with their numbers; a dataset the
// store has gets one new version equal to the restored one, through Update
// (its history stays).
func (s *Store) Restore(ctx context.Context, sources []RestoreSource, opt RestoreOptions) (*RestoreReport, error) {
	if s.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	if opt.Open == nil {
		opt.Open = OpenURL
	}
	if opt.Progress == nil {
		opt.Progress = new(Progress)
	}
	local, err := s.storeBackend()
	if err != nil {
		return nil, err
	}
	r := &restorer{s: s, opt: opt, local: local}
	for _, src := range sources {
		rs, err := r.list(ctx, src)
		if err != nil {
			r.warn("skipping %s (%s): %v", src.Label, src.URL, err)
			continue
		}
		r.sources = append(r.sources, rs)
	}
	if len(r.sources) == 0 {
		return &RestoreReport{Warnings: r.warnings}, fmt.Errorf("no backup source could be read (%d tried): %w", len(sources), ErrNotFound)
	}
	names := opt.Datasets
	if len(names) == 0 {
		seen := map[string]bool{}
		for _, src := range r.sources {
			for ds := range src.manifests {
				if !seen[ds] {
					seen[ds] = true
					names = append(names, ds)
				}
			}
		}
		sort.Strings(names)
	}
	rep := &RestoreReport{}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		d := r.restoreDataset(ctx, n)
		d.OK = d.Error == ""
		rep.Datasets = append(rep.Datasets, d)
	}
	rep.Warnings = r.warnings
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	return rep, nil
}

func (r *restorer) list(ctx context.Context, src RestoreSource) (*restoreSource, error) {
	b, err := r.opt.Open(ctx, src.URL, false)
	if err != nil {
		return nil, err
	}
	if _, err := b.Stat(ctx, backupMarker); err != nil {
		return nil, fmt.Errorf("holds no bcfs backup (no %s): %w", backupMarker, err)
	}
	rs := &restoreSource{RestoreSource: src, b: b, manifests: map[string]map[int64]bool{}}
	if rs.data, err = listSizes(ctx, b, backupData); err != nil {
		return nil, err
	}
	err = b.List(ctx, backupDatasets, func(i backend.Info) error {
		if ds, v, ok := parseManifestKey(i.Name); ok {
			if rs.manifests[ds] == nil {
				rs.manifests[ds] = map[int64]bool{}
			}
			rs.manifests[ds][v] = true
		}
		return nil
	})
	return rs, err
}

// manifest loads version v of a dataset from the first source that has a
// copy that decodes.
func (r *restorer) manifest(ctx context.Context, ds string, v int64) (*metastore.Manifest, string, error) {
	for _, src := range r.sources {
		if !src.manifests[ds][v] {
			continue
		}
		m, err := loadTargetManifest(ctx, src.b, ds, v)
		if err != nil {
			r.warn("%s: dataset %s version %d: %v; trying the next source", src.Label, ds, v, err)
			continue
		}
		return m, src.Label, nil
	}
	return nil, "", fmt.Errorf("no source holds a readable version %d of dataset %s: %w", v, ds, ErrNotFound)
}

// versions lists every version of ds any source holds, ascending.
func (r *restorer) versions(ds string) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, src := range r.sources {
		for v := range src.manifests[ds] {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

// pick chooses the version to restore and loads it.
func (r *restorer) pick(ctx context.Context, ds string, vs []int64) (*metastore.Manifest, string, error) {
	switch {
	case r.opt.Version > 0:
		if !slices.Contains(vs, r.opt.Version) {
			return nil, "", fmt.Errorf("no source holds version %d of dataset %s (they hold %v): %w", r.opt.Version, ds, vs, ErrNotFound)
		}
		return r.manifest(ctx, ds, r.opt.Version)
	case !r.opt.AsOf.IsZero():
		for i := len(vs) - 1; i >= 0; i-- {
			m, from, err := r.manifest(ctx, ds, vs[i])
			if err != nil {
				continue
			}
			if !m.CommittedAt.After(r.opt.AsOf) {
				return m, from, nil
			}
		}
		return nil, "", fmt.Errorf("no source holds a version of dataset %s committed at or before %s: %w", ds, r.opt.AsOf.UTC().Format(time.RFC3339), ErrNotFound)
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if m, from, err := r.manifest(ctx, ds, vs[i]); err == nil {
			return m, from, nil
		}
	}
	return nil, "", fmt.Errorf("no source holds a readable version of dataset %s: %w", ds, ErrNotFound)
}

func (r *restorer) restoreDataset(ctx context.Context, ds string) (d RestoredDataset) {
	d = RestoredDataset{Dataset: ds, ServedBy: map[string]int{}, Files: []RestoredFile{}, History: []int64{}}
	if err := ValidName(ds); err != nil {
		d.Error = err.Error()
		return d
	}
	vs := r.versions(ds)
	if len(vs) == 0 {
		d.Error = fmt.Sprintf("no source holds dataset %s", ds)
		return d
	}
	m, from, err := r.pick(ctx, ds, vs)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	d.Version, d.Rows, d.ManifestFrom = m.Version, m.RowCount, from
	head, err := r.s.head(ds)
	switch {
	case errors.Is(err, ErrNotFound):
		err = r.restoreHistory(ctx, ds, m, vs, &d)
	case err == nil:
		err = r.restoreOnto(ctx, ds, head, m, &d)
	}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

// restoreHistory restores a dataset the store lacks: the kept versions up
// to m, with their numbers. Every file is fetched before the first commit,
// so a dataset whose asked-for version cannot be rebuilt is left absent.
func (r *restorer) restoreHistory(ctx context.Context, ds string, m *metastore.Manifest, vs []int64, d *RestoredDataset) error {
	mu := r.s.lockDataset(ds)
	defer mu.Unlock()
	var older []*metastore.Manifest
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i] >= m.Version {
			continue
		}
		om, _, err := r.manifest(ctx, ds, vs[i])
		if err != nil {
			r.warn("dataset %s: version %d not restored: %v", ds, vs[i], err)
			continue
		}
		older = append(older, om)
	}
	slices.Reverse(older)
	fetched, err := r.fetchAll(ctx, ds, m, d)
	if err != nil {
		r.removeFetched(ds, fetched)
		return err
	}
	all := []*metastore.Manifest{}
	for _, om := range older {
		more, err := r.fetchAll(ctx, ds, om, d)
		fetched = append(fetched, more...)
		if err != nil {
			r.warn("dataset %s: version %d not restored: %v", ds, om.Version, err)
			continue
		}
		all = append(all, om)
	}
	all = append(all, m)
	dir := r.s.datasetDir(ds)
	for _, vm := range all {
		c := *vm
		c.Dataset = ds
		if err := metastore.Commit(r.s.fs, dir, &c); err != nil {
			if len(d.History) == 0 {
				r.removeFetched(ds, fetched)
			}
			return fmt.Errorf("commit version %d: %w", vm.Version, err)
		}
		d.History = append(d.History, vm.Version)
	}
	d.StoreVersion = m.Version
	if _, err := r.s.head(ds); err != nil {
		return err
	}
	r.s.notify(ds)
	return nil
}

// restoreOnto commits m's content as the next version of an existing
// dataset (like a rollback), unless the head already holds exactly it.
func (r *restorer) restoreOnto(ctx context.Context, ds string, head, m *metastore.Manifest, d *RestoredDataset) error {
	if sameContent(head, m) {
		d.Unchanged, d.StoreVersion = true, head.Version
		return nil
	}
	committed, err := r.s.Update(ctx, ds, func(*metastore.Manifest) (*metastore.Manifest, []string, error) {
		d.Files, d.ServedBy, d.BytesFetched = []RestoredFile{}, map[string]int{}, 0
		fetched, err := r.fetchAll(ctx, ds, m, d)
		if err != nil {
			return nil, fetched, err
		}
		c := *m
		c.CommittedAt = time.Time{}
		c.Report = nil // the report of the change that made the old version
		c.Source = fmt.Sprintf("restore of version %d from %s", m.Version, d.ManifestFrom)
		return &c, fetched, nil
	})
	if err != nil {
		return err
	}
	if committed == nil {
		d.Unchanged, d.StoreVersion = true, head.Version
		return nil
	}
	d.StoreVersion = committed.Version
	return nil
}

// sameContent reports whether two versions hold the same files, schema and
// settings.
func sameContent(a, b *metastore.Manifest) bool {
	if len(a.Partitions) != len(b.Partitions) || !reflect.DeepEqual(a.Schema, b.Schema) || !reflect.DeepEqual(a.Settings, b.Settings) {
		return false
	}
	for i := range a.Partitions {
		if a.Partitions[i].Path != b.Partitions[i].Path || a.Partitions[i].SHA256 != b.Partitions[i].SHA256 {
			return false
		}
	}
	return true
}

// fetchAll makes every partition of m present in the dataset dir and
// returns the files it wrote (slash paths relative to the dataset dir).
func (r *restorer) fetchAll(ctx context.Context, ds string, m *metastore.Manifest, d *RestoredDataset) ([]string, error) {
	var mu sync.Mutex // protects fetched and d
	var fetched []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(backupWorkers)
	for i := range m.Partitions {
		p := m.Partitions[i]
		r.opt.Progress.TotalFiles.Add(1)
		r.opt.Progress.TotalBytes.Add(p.Size)
		g.Go(func() error {
			from, wrote, err := r.fetch(gctx, ds, p)
			if err != nil {
				return err
			}
			r.opt.Progress.Files.Add(1)
			mu.Lock()
			defer mu.Unlock()
			if wrote {
				fetched = append(fetched, p.Path)
				d.BytesFetched += p.Size
			}
			if !slices.ContainsFunc(d.Files, func(f RestoredFile) bool { return f.Path == p.Path }) {
				d.Files = append(d.Files, RestoredFile{Path: p.Path, From: from})
				d.ServedBy[from]++
			}
			return nil
		})
	}
	err := g.Wait()
	sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Path < d.Files[j].Path })
	return fetched, err
}

// fetch puts one partition file into the dataset dir from the first source
// that has it with the right size and SHA-256. A file the store already
// holds intact is kept (from "store").
func (r *restorer) fetch(ctx context.Context, ds string, p metastore.Partition) (from string, wrote bool, err error) {
	name := path.Join(metastore.DatasetsDir, ds, p.Path)
	if sum, err := localSHA256(ctx, r.local, name); err == nil {
		if sum == p.SHA256 {
			r.opt.Progress.Bytes.Add(p.Size)
			return "store", false, nil
		}
		return "", false, fmt.Errorf("%s/%s exists with other content (SHA-256 %s, want %s)", r.local.Location(), name, sum, p.SHA256)
	}
	key := dataKey(p.SHA256)
	for _, src := range r.sources {
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
		size, ok := src.data[key]
		if !ok {
			r.warn("%s: dataset %s: file %s (%s) is missing; trying the next source", src.Label, ds, key, p.Path)
			continue
		}
		if size != p.Size {
			r.warn("%s: dataset %s: file %s (%s) is %d bytes, want %d; trying the next source", src.Label, ds, key, p.Path, size, p.Size)
			continue
		}
		o, err := src.b.Open(ctx, key)
		if err != nil {
			r.warn("%s: dataset %s: file %s (%s): %v; trying the next source", src.Label, ds, key, p.Path, err)
			continue
		}
		err = r.local.PutIfAbsent(ctx, name, backend.Blob{R: countingReaderAt{o, &r.opt.Progress.Bytes}, Size: p.Size, SHA256: p.SHA256})
		o.Close()
		if err == nil {
			return src.Label, true, nil
		}
		if errors.Is(err, backend.ErrChecksum) {
			r.warn("%s: dataset %s: file %s (%s) is damaged: %v; trying the next source", src.Label, ds, key, p.Path, err)
		} else {
			r.warn("%s: dataset %s: file %s (%s): %v; trying the next source", src.Label, ds, key, p.Path, err)
		}
	}
	return "", false, fmt.Errorf("partition %s (SHA-256 %s): no source has an intact copy", p.Path, p.SHA256)
}

func localSHA256(ctx context.Context, l backend.Backend, name string) (string, error) {
	o, err := l.Open(ctx, name)
	if err != nil {
		return "", err
	}
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(o, 0, o.Size())); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (r *restorer) removeFetched(ds string, files []string) {
	for _, f := range files {
		_ = r.local.Delete(context.Background(), path.Join(metastore.DatasetsDir, ds, f))
	}
	r.s.removeEmptyDataset(r.s.datasetDir(ds))
}
