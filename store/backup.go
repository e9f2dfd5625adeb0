package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"bcfs/backend"
	"bcfs/metastore"
)

// The layout of a backup target (a folder or a bucket prefix):
//
//	bcfs-backup.json                          marker: what this is, format version
//	data/<sha[:2]>/<sha256>.parquet           partition files, named by content
//	datasets/<name>/_log/<20 digits>.json     manifests, byte for byte as in the store
//
// Partition files are content-addressed: a name is its SHA-256, so an object
// the target already lists with the right size is the right file and is not
// sent again, whichever dataset or version references it. A manifest is
// written (put-if-absent) only after every file it references is stored and
// checked, so a target never holds a version it cannot restore.
const (
	backupMarker   = "bcfs-backup.json"
	backupData     = "data/"
	backupDatasets = "datasets/"
	backupFormat   = 1
	// backupWorkers bounds concurrent uploads or downloads per target.
	backupWorkers = 4
	// backupsFile keeps the last result per target, in the store root.
	backupsFile = "backups.json"
)

// maxManifest bounds a manifest read from a target.
const maxManifest = 256 << 20

var targetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// BackupTargets returns the configured targets in the order added.
func (s *Store) BackupTargets() ([]metastore.BackupTarget, error) {
	c, err := metastore.ReadConfig(s.fs, s.dir)
	if err != nil {
		return nil, err
	}
	return c.BackupTargets, nil
}

// AddBackupTarget adds a named target. The URL is checked; a folder is
// created (with its marker) now, so that a later backup never creates it:
// a folder that is gone then means a disk not mounted, not a place to
// write to. A bucket is not contacted.
func (s *Store) AddBackupTarget(ctx context.Context, name, rawURL string) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	if !targetNameRE.MatchString(name) {
		return fmt.Errorf("%w: target name %q: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", ErrBadInput, name)
	}
	loc, err := backend.ParseURL(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	return metastore.UpdateConfig(s.fs, s.dir, func(c *metastore.StoreConfig) error {
		if err := checkNewTarget(c, name, loc); err != nil {
			return err
		}
		if loc.Scheme == "file" {
			b, err := loc.Open(ctx, true)
			if err != nil {
				return err
			}
			if err := b.PutIfAbsent(ctx, backupMarker, backend.Bytes(markerBytes())); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
		c.BackupTargets = append(c.BackupTargets, metastore.BackupTarget{Name: name, URL: loc.String()})
		return nil
	})
}

func checkNewTarget(c *metastore.StoreConfig, name string, loc backend.Location) error {
	for _, t := range c.BackupTargets {
		if t.Name == name {
			return fmt.Errorf("backup target %q (%s): %w", name, t.URL, ErrExists)
		}
		if t.URL == loc.String() {
			return fmt.Errorf("%s is already backup target %q: %w", t.URL, t.Name, ErrExists)
		}
	}
	return nil
}

// RemoveBackupTarget forgets a target; what it holds is left alone.
func (s *Store) RemoveBackupTarget(name string) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	return metastore.UpdateConfig(s.fs, s.dir, func(c *metastore.StoreConfig) error {
		i := slices.IndexFunc(c.BackupTargets, func(t metastore.BackupTarget) bool { return t.Name == name })
		if i < 0 {
			return fmt.Errorf("backup target %q: %w", name, ErrNotFound)
		}
		c.BackupTargets = slices.Delete(c.BackupTargets, i, i+1)
		return nil
	})
}

// ResolveTargets returns the configured targets named, in the order given;
// no names means all of them. An unknown name is ErrNotFound.
func (s *Store) ResolveTargets(names []string) ([]metastore.BackupTarget, error) {
	all, err := s.BackupTargets()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		if len(all) == 0 {
			return nil, fmt.Errorf("no backup targets configured (bcfs backup target add NAME URL): %w", ErrNotFound)
		}
		return all, nil
	}
	var out []metastore.BackupTarget
	for _, n := range names {
		i := slices.IndexFunc(all, func(t metastore.BackupTarget) bool { return t.Name == n })
		if i < 0 {
			known := make([]string, len(all))
			for j, t := range all {
				known[j] = t.Name
			}
			return nil, fmt.Errorf("backup target %q is not configured (known: %s): %w", n, strings.Join(known, ", "), ErrNotFound)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// Progress counts the work of a backup or restore while it runs; a
// terminal display reads it. Totals grow as targets are listed.
type Progress struct {
	Files, Bytes           atomic.Int64
	TotalFiles, TotalBytes atomic.Int64
}

// OpenFunc connects to a backend URL; tests wrap the backend it returns.
type OpenFunc func(ctx context.Context, url string, create bool) (backend.Backend, error)

// OpenURL is the default OpenFunc.
func OpenURL(ctx context.Context, url string, create bool) (backend.Backend, error) {
	loc, err := backend.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return loc.Open(ctx, create)
}

// BackupOptions tune Backup.
type BackupOptions struct {
	Datasets []string // none means all
	Progress *Progress
	Open     OpenFunc // nil means OpenURL
}

// BackupResult is the outcome of one backup to one target.
type BackupResult struct {
	Target        string    `json:"target"`
	URL           string    `json:"url"`
	OK            bool      `json:"ok"`
	Error         string    `json:"error,omitempty"`
	Started       time.Time `json:"started"`
	Seconds       float64   `json:"seconds"`
	Datasets      int       `json:"datasets"`
	FilesSent     int       `json:"files_sent"`
	FilesHeld     int       `json:"files_already_held"`
	ManifestsSent int       `json:"manifests_sent"`
	BytesSent     int64     `json:"bytes_sent"`
	VersionsHeld  int       `json:"versions_held"`
}

// Backup copies every kept version of the datasets (all, or opt.Datasets)
// to every target, concurrently, and records each target's result in the
// store (LastBackups). A target's failure does not stop the others.
func (s *Store) Backup(ctx context.Context, targets []metastore.BackupTarget, opt BackupOptions) ([]BackupResult, error) {
	if opt.Open == nil {
		opt.Open = OpenURL
	}
	if opt.Progress == nil {
		opt.Progress = new(Progress)
	}
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	if len(opt.Datasets) > 0 {
		for _, n := range opt.Datasets {
			if _, err := s.head(n); err != nil {
				return nil, err
			}
		}
		names = opt.Datasets
	}
	results := make([]BackupResult, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.backupTo(ctx, t, names, opt)
		}()
	}
	wg.Wait()
	if !s.opt.ReadOnly {
		if err := s.recordBackups(results); err != nil {
			s.log.Warn("recording backup results", "err", err)
		}
	}
	return results, nil
}

// sourceVersion is one version of a dataset to back up.
type sourceVersion struct {
	dataset string
	version int64
	raw     []byte
	m       *metastore.Manifest
}

func manifestKey(dataset string, v int64) string {
	return backupDatasets + dataset + "/" + metastore.ManifestName(v)
}

func dataKey(sha string) string { return backupData + sha[:2] + "/" + sha + ".parquet" }

func (s *Store) backupTo(ctx context.Context, t metastore.BackupTarget, names []string, opt BackupOptions) (res BackupResult) {
	res = BackupResult{Target: t.Name, URL: t.URL, Started: time.Now().UTC()}
	var errs []string
	defer func() {
		res.Seconds = time.Since(res.Started).Seconds()
		res.OK = len(errs) == 0
		res.Error = strings.Join(errs, "; ")
	}()
	b, err := opt.Open(ctx, t.URL, false)
	if err != nil {
		errs = append(errs, err.Error())
		return res
	}
	if err := b.PutIfAbsent(ctx, backupMarker, backend.Bytes(markerBytes())); err != nil && !errors.Is(err, fs.ErrExist) {
		errs = append(errs, err.Error())
		return res
	}
	held, err := listSizes(ctx, b, backupData)
	if err != nil {
		errs = append(errs, err.Error())
		return res
	}
	manifests, err := listSizes(ctx, b, backupDatasets)
	if err != nil {
		errs = append(errs, err.Error())
		return res
	}
	for k := range manifests {
		if isManifestKey(k) {
			res.VersionsHeld++
		}
	}
	// Plan: the versions the target lacks and the files they need.
	var todo []sourceVersion
	planned := map[string]bool{}
	for _, name := range names {
		vs, err := s.localVersions(name)
		if err != nil {
			errs = append(errs, fmt.Sprintf("dataset %s: %v", name, err))
			continue
		}
		res.Datasets++
		for _, sv := range vs {
			key := manifestKey(name, sv.version)
			if size, ok := manifests[key]; ok {
				if size != int64(len(sv.raw)) {
					errs = append(errs, fmt.Sprintf("dataset %s version %d: %s/%s is a different manifest (%d bytes, ours %d): was the dataset deleted and created again? Back it up to another target",
						name, sv.version, b.Location(), key, size, len(sv.raw)))
				}
				continue
			}
			todo = append(todo, sv)
			opt.Progress.TotalBytes.Add(int64(len(sv.raw)))
			for i := range sv.m.Partitions {
				p := &sv.m.Partitions[i]
				k := dataKey(p.SHA256)
				if size, ok := held[k]; (ok && size == p.Size) || planned[k] {
					continue
				}
				planned[k] = true
				opt.Progress.TotalFiles.Add(1)
				opt.Progress.TotalBytes.Add(p.Size)
			}
		}
	}
	failed := map[string]bool{} // datasets with a failed version: later versions wait
	for _, sv := range todo {
		if failed[sv.dataset] {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err.Error())
			return res
		}
		sent, bytes, skipped, err := s.sendFiles(ctx, b, sv, held, opt.Progress)
		res.FilesSent += sent
		res.BytesSent += bytes
		res.FilesHeld += skipped
		if err == nil {
			err = putManifest(ctx, b, sv)
		}
		if err != nil {
			failed[sv.dataset] = true
			errs = append(errs, fmt.Sprintf("dataset %s version %d: %v", sv.dataset, sv.version, err))
			if !errors.Is(err, errSourceDamaged) {
				return res // the target itself failed: the rest would too
			}
			continue
		}
		res.ManifestsSent++
		res.BytesSent += int64(len(sv.raw))
		res.VersionsHeld++
		opt.Progress.Bytes.Add(int64(len(sv.raw)))
	}
	return res
}

// errSourceDamaged marks a failure of the store's own copy (a partition whose
// bytes do not match its manifest): that dataset is skipped, the target is
// fine.
var errSourceDamaged = errors.New("the store's copy is damaged (run bcfs verify)")

func markerBytes() []byte {
	b, _ := json.MarshalIndent(map[string]any{"format": "bcfs-backup", "format_version": backupFormat}, "", "  ")
	return append(b, '\n')
}

// localVersions returns the kept versions of a dataset that decode,
// ascending, with their manifest bytes.
func (s *Store) localVersions(name string) ([]sourceVersion, error) {
	dir := s.datasetDir(name)
	vs, err := metastore.Versions(s.fs, dir)
	if err != nil {
		return nil, err
	}
	var out []sourceVersion
	for _, v := range vs {
		raw, err := readAllFS(s.fs, filepath.Join(dir, filepath.FromSlash(metastore.ManifestName(v))))
		if errors.Is(err, fs.ErrNotExist) {
			continue // collected while we listed
		}
		if err != nil {
			return nil, err
		}
		m, err := metastore.Decode(raw)
		if err != nil || m.Version != v {
			continue // a torn manifest of a crashed writer is not a version
		}
		out = append(out, sourceVersion{dataset: name, version: v, raw: raw, m: m})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dataset %q: %w", name, ErrNotFound)
	}
	return out, nil
}

func readAllFS(fsys metastore.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxManifest))
}

// sendFiles stores the partition files of sv that the target lacks and
// checks each one's size after the put (the put itself checks SHA-256).
func (s *Store) sendFiles(ctx context.Context, b backend.Backend, sv sourceVersion, held map[string]int64, pr *Progress) (sent int, bytes int64, skipped int, err error) {
	var mu sync.Mutex // protects held, sent, bytes
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(backupWorkers)
	dir := s.datasetDir(sv.dataset)
	for i := range sv.m.Partitions {
		p := sv.m.Partitions[i]
		k := dataKey(p.SHA256)
		mu.Lock()
		size, ok := held[k]
		mu.Unlock()
		if ok && size == p.Size {
			skipped++
			continue
		}
		g.Go(func() error {
			f, err := s.fs.Open(filepath.Join(dir, filepath.FromSlash(p.Path)))
			if err != nil {
				return fmt.Errorf("%s: %w: %v", p.Path, errSourceDamaged, err)
			}
			defer f.Close()
			err = b.Put(gctx, k, backend.Blob{R: countingReaderAt{f, &pr.Bytes}, Size: p.Size, SHA256: p.SHA256})
			if errors.Is(err, backend.ErrChecksum) {
				return fmt.Errorf("%s: %w: %v", p.Path, errSourceDamaged, err)
			}
			if err != nil {
				return err
			}
			info, err := b.Stat(gctx, k)
			if err != nil {
				return err
			}
			if info.Size != p.Size {
				return fmt.Errorf("%s/%s holds %d bytes after the upload of %d", b.Location(), k, info.Size, p.Size)
			}
			pr.Files.Add(1)
			mu.Lock()
			held[k] = p.Size
			sent++
			bytes += p.Size
			mu.Unlock()
			return nil
		})
	}
	err = g.Wait()
	return sent, bytes, skipped, err
}

// countingReaderAt adds what is read to a progress counter.
type countingReaderAt struct {
	r io.ReaderAt
	n *atomic.Int64
}

func (c countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// putManifest publishes a version on the target: exclusively, and an
// existing manifest (a concurrent backup) counts when it is the same size.
func putManifest(ctx context.Context, b backend.Backend, sv sourceVersion) error {
	key := manifestKey(sv.dataset, sv.version)
	err := b.PutIfAbsent(ctx, key, backend.Bytes(sv.raw))
	if errors.Is(err, fs.ErrExist) {
		info, serr := b.Stat(ctx, key)
		if serr == nil && info.Size == int64(len(sv.raw)) {
			return nil
		}
		return fmt.Errorf("%s/%s exists and differs", b.Location(), key)
	}
	return err
}

// listSizes lists a prefix of the target: name -> size.
func listSizes(ctx context.Context, b backend.Backend, prefix string) (map[string]int64, error) {
	out := map[string]int64{}
	err := b.List(ctx, prefix, func(i backend.Info) error {
		out[i.Name] = i.Size
		return nil
	})
	return out, err
}

// isManifestKey reports whether a target key is datasets/<name>/_log/<N>.json.
func isManifestKey(k string) bool {
	_, _, ok := parseManifestKey(k)
	return ok
}

func parseManifestKey(k string) (dataset string, version int64, ok bool) {
	rest, ok := strings.CutPrefix(k, backupDatasets)
	if !ok {
		return "", 0, false
	}
	dir, base := path.Split(rest)
	ds, ok := strings.CutSuffix(dir, "/"+metastore.LogDir+"/")
	if !ok || ValidName(ds) != nil {
		return "", 0, false
	}
	v, ok := metastore.ParseManifestName(base)
	return ds, v, ok
}

// LastBackups returns the last result per target, in the order the
// targets were last backed up.
func (s *Store) LastBackups() ([]BackupResult, error) {
	f, err := s.fs.Open(filepath.Join(s.dir, backupsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return []BackupResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var doc struct {
		Targets []BackupResult `json:"targets"`
	}
	if err := json.NewDecoder(f).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", filepath.Join(s.dir, backupsFile), ErrCorrupt, err)
	}
	return doc.Targets, nil
}

// backupsMu serializes the updates of backups.json within this process.
var backupsMu sync.Mutex

// recordBackups merges results into backups.json (one entry per target).
func (s *Store) recordBackups(results []BackupResult) error {
	backupsMu.Lock()
	defer backupsMu.Unlock()
	old, err := s.LastBackups()
	if err != nil {
		old = nil // a damaged record is replaced by the new one
	}
	for _, r := range results {
		if i := slices.IndexFunc(old, func(o BackupResult) bool { return o.Target == r.Target }); i >= 0 {
			old[i] = r
		} else {
			old = append(old, r)
		}
	}
	sort.SliceStable(old, func(i, j int) bool { return old[i].Target < old[j].Target })
	data, err := json.MarshalIndent(map[string]any{"targets": old}, "", "  ")
	if err != nil {
		return err
	}
	return metastore.ReplaceFile(s.fs, filepath.Join(s.dir, backupsFile), append(data, '\n'))
}
