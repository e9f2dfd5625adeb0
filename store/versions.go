package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"bcfs/metastore"
)

// VersionInfo is one retained version of a dataset, as `bcfs log` shows it.
type VersionInfo struct {
	Version     int64           `json:"version"`
	Time        time.Time       `json:"time"` // commit time, UTC
	Parent      int64           `json:"parent"`
	Rows        int64           `json:"rows"`
	CSVSize     int64           `json:"csv_size"`
	ParquetSize int64           `json:"parquet_size"`
	Source      string          `json:"source"` // file name, "settings", "rollback to N", "retention"
	Report      json.RawMessage `json:"report"` // the change's dedup report, or null
}

// Sources of commits that are not ingests.
const (
	SourceSettings  = "settings"
	SourceRetention = "retention"
)

// SourceRollback is the source of a version made by Rollback to version v.
func SourceRollback(v int64) string { return fmt.Sprintf("rollback to %d", v) }

func infoOf(m *metastore.Manifest) VersionInfo {
	rep := m.Report
	if len(rep) == 0 {
		rep = json.RawMessage("null")
	}
	return VersionInfo{Version: m.Version, Time: m.CommittedAt.UTC(), Parent: m.Parent, Rows: m.RowCount,
		CSVSize: m.CSVSize, ParquetSize: m.ParquetSize, Source: m.Source, Report: rep}
}

// VersionNumbers lists the version numbers of a dataset that have a
// manifest, ascending, from one read of its _log folder; no manifest is
// opened. A torn manifest of a crashed commit is listed too (loading it
// fails).
func (s *Store) VersionNumbers(name string) ([]int64, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	vs, err := metastore.Versions(s.fs, s.datasetDir(name))
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("dataset %q: %w", name, ErrNotFound)
	}
	return vs, nil
}

// Log returns the retained versions of a dataset, newest first. Manifests
// that do not decode (a torn commit) are left out.
func (s *Store) Log(name string) ([]VersionInfo, error) {
	vs, err := s.VersionNumbers(name)
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, 0, len(vs))
	for i := len(vs) - 1; i >= 0; i-- {
		ce, err := s.cachedVersion(name, vs[i])
		if errors.Is(err, metastore.ErrCorrupt) || errors.Is(err, metastore.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			continue // torn, or removed by retention since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ce.info)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dataset %q: %w", name, ErrNotFound)
	}
	return out, nil
}

// Manifest returns version v of a dataset (0: the head). A version that is
// not kept is ErrNotFound with a message naming the oldest kept version.
func (s *Store) Manifest(name string, v int64) (*metastore.Manifest, error) {
	if v == 0 {
		return s.head(name)
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	m, err := metastore.Load(s.fs, s.datasetDir(name), v)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, metastore.ErrNotFound) && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return nil, s.missingVersion(name, v)
}

// missingVersion explains why version v of a dataset cannot be read.
func (s *Store) missingVersion(name string, v int64) error {
	vs, err := s.VersionNumbers(name)
	if err != nil {
		return err
	}
	oldest, newest := vs[0], vs[len(vs)-1]
	switch {
	case v < oldest:
		return fmt.Errorf("dataset %q version %d was removed by retention; the oldest version kept is %d: %w",
			name, v, oldest, ErrNotFound)
	case v > newest:
		return fmt.Errorf("dataset %q has no version %d; the newest is %d: %w", name, v, newest, ErrNotFound)
	}
	return fmt.Errorf("dataset %q version %d is not kept (kept: %d..%d, with gaps): %w", name, v, oldest, newest, ErrNotFound)
}

// VersionEntry describes version v of a dataset (0: the head) like Stat.
// Answers are cached by the manifest file's identity (size and
// modification time, one stat), since a version never changes: stat'ing
// N.csv and N.parquet of a thousand versions reads each manifest once.
func (s *Store) VersionEntry(name string, v int64) (Entry, error) {
	if v == 0 {
		m, err := s.head(name)
		if err != nil {
			return Entry{}, err
		}
		return entryOf(name, m), nil
	}
	if err := ValidName(name); err != nil {
		return Entry{}, err
	}
	ce, err := s.cachedVersion(name, v)
	if err != nil {
		if errors.Is(err, metastore.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return Entry{}, s.missingVersion(name, v)
		}
		return Entry{}, err
	}
	return ce.e, nil
}

// cachedVersion returns version v's Entry and VersionInfo, from the cache
// when its manifest file is the one cached (one stat), else loading it.
func (s *Store) cachedVersion(name string, v int64) (cachedVersionEntry, error) {
	dir := s.datasetDir(name)
	fi, err := s.fs.Stat(filepath.Join(dir, filepath.FromSlash(metastore.ManifestName(v))))
	if err != nil {
		return cachedVersionEntry{}, err
	}
	key := versionKey{name, v}
	if ce, ok := s.versionEntries.get(key, fi.ModTime(), fi.Size()); ok {
		return ce, nil
	}
	m, err := metastore.Load(s.fs, dir, v)
	if err != nil {
		return cachedVersionEntry{}, err
	}
	return s.versionEntries.put(key, fi.ModTime(), fi.Size(), m), nil
}

type versionKey struct {
	name    string
	version int64
}

type cachedVersionEntry struct {
	mod  time.Time
	size int64
	e    Entry
	info VersionInfo
}

// versionEntryCache maps (dataset, version) to its Entry, valid while the
// manifest file has the same size and modification time. It is emptied
// when it reaches maxVersionEntries.
type versionEntryCache struct {
	mu sync.Mutex
	m  map[versionKey]cachedVersionEntry
}

const maxVersionEntries = 100_000

func (c *versionEntryCache) get(k versionKey, mod time.Time, size int64) (cachedVersionEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ce, ok := c.m[k]
	if !ok || !ce.mod.Equal(mod) || ce.size != size {
		return cachedVersionEntry{}, false
	}
	return ce, true
}

func (c *versionEntryCache) put(k versionKey, mod time.Time, size int64, m *metastore.Manifest) cachedVersionEntry {
	ce := cachedVersionEntry{mod: mod, size: size, e: entryOf(k.name, m), info: infoOf(m)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxVersionEntries {
		c.m = map[versionKey]cachedVersionEntry{}
	}
	c.m[k] = ce
	return ce
}

// PinVersion pins version v of a dataset (0: the head); a version retention
// removed is a clear ErrNotFound naming the oldest kept one.
func (s *Store) PinVersion(name string, v int64) (*Snapshot, error) {
	sn, err := s.Pin(name, v)
	if err != nil && v != 0 && errors.Is(err, ErrNotFound) {
		return nil, s.missingVersion(name, v)
	}
	return sn, err
}

// VersionAsOf returns the newest version of a dataset committed at or before
// t: the highest-numbered kept version whose commit time is not after t.
func (s *Store) VersionAsOf(name string, t time.Time) (int64, error) {
	vs, err := s.VersionNumbers(name)
	if err != nil {
		return 0, err
	}
	dir := s.datasetDir(name)
	var oldest *metastore.Manifest
	for i := len(vs) - 1; i >= 0; i-- {
		m, err := metastore.Load(s.fs, dir, vs[i])
		if errors.Is(err, metastore.ErrCorrupt) || errors.Is(err, metastore.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if !m.CommittedAt.After(t) {
			return m.Version, nil
		}
		oldest = m
	}
	if oldest == nil {
		return 0, fmt.Errorf("dataset %q: %w", name, ErrNotFound)
	}
	return 0, fmt.Errorf("dataset %q has no version committed at or before %s; the oldest version kept is %d, committed %s: %w",
		name, t.UTC().Format(time.RFC3339), oldest.Version, oldest.CommittedAt.UTC().Format(time.RFC3339), ErrNotFound)
}

// ParseTime reads a point in time as RFC 3339 ("2024-06-01T14:30:00Z",
// fractions allowed) or a UTC date ("2024-06-01", meaning its end: the
// newest version committed on or before that day).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Add(24*time.Hour - time.Nanosecond), nil
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2024-06-01T14:30:00Z) or a date (2024-06-01)", s)
}

// ParseDuration reads a duration with units d, h, m and s ("90d", "12h",
// "1d12h", "30s"); Go's units (ms, us, ns) are accepted too.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration %q: want a number then a unit d, h, m or s (90d, 12h, 30s)", orig)
		}
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') && s[j] != '.' {
			j++
		}
		num, unit := s[:i], s[i:j]
		s = s[j:]
		if unit == "d" {
			d, err := time.ParseDuration(num + "h")
			if err != nil {
				return 0, fmt.Errorf("duration %q: %v", orig, err)
			}
			total += 24 * d
			continue
		}
		if unit == "" || strings.ContainsAny(unit, " ") {
			return 0, fmt.Errorf("duration %q: %q has no unit (d, h, m or s)", orig, num)
		}
		d, err := time.ParseDuration(num + unit)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want units d, h, m or s", orig)
		}
		total += d
	}
	if total < 0 {
		return 0, fmt.Errorf("duration %q is negative", orig)
	}
	return total, nil
}

// LogDoc renders Log as the indented JSON array that `bcfs log --json`
// prints and .versions/NAME/log.json holds.
func (s *Store) LogDoc(name string) ([]byte, error) {
	l, err := s.Log(name)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DatasetNames lists every dataset name, sorted, from the store's folders
// alone (no manifest is read).
func (s *Store) DatasetNames() ([]string, error) { return s.datasetNames() }

// RollbackResult says what Rollback committed.
type RollbackResult struct {
	Dataset   string `json:"dataset"`
	To        int64  `json:"to"`        // the version whose content was restored
	From      int64  `json:"from"`      // the head it replaced
	Version   int64  `json:"version"`   // the new version (From when nothing changed)
	Committed bool   `json:"committed"` // false when the head already had that content
	Rows      int64  `json:"rows"`
}

// Rollback commits a new version of a dataset whose content is exactly
// version to's: its partitions, schema and settings, so both views export
// the same bytes. It is an ordinary commit (through Update, the same
// exclusive commit as an ingest): in the history, undoable by another
// rollback, and a concurrent ingest lands either before it (and is rolled
// back) or after it.
func (s *Store) Rollback(ctx context.Context, name string, to int64) (*RollbackResult, error) {
	target, err := s.Manifest(name, to)
	if err != nil {
		return nil, err
	}
	res := &RollbackResult{Dataset: name, To: to, Rows: target.RowCount}
	m, err := s.Update(ctx, name, func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		if head == nil {
			return nil, nil, fmt.Errorf("dataset %q: %w", name, ErrNotFound)
		}
		res.From, res.Version = head.Version, head.Version
		if sameContent(head, target) {
			return nil, nil, nil
		}
		next := *target
		next.Partitions = slices.Clone(target.Partitions)
		next.CommittedAt = time.Time{}
		next.Source = SourceRollback(to)
		rep, err := json.Marshal(map[string]int64{"rolled_back_to": to, "replaced_version": head.Version,
			"rows_before": head.RowCount, "rows_after": target.RowCount})
		if err != nil {
			return nil, nil, err
		}
		next.Report = rep
		return &next, nil, nil
	})
	if m != nil {
		res.Version, res.Committed = m.Version, true
		s.log.Info("rolled back", "dataset", name, "to", to, "version", m.Version)
	}
	return res, err
}
