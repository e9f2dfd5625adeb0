package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"bcfs/formats"
	"bcfs/metastore"
)

// Data lifecycle (the reference design's DataLifecycleManager, extended):
// retention policies live in the store's bcfs.json, are matched against
// dataset names by glob pattern (first match in the order added wins) and
// are applied by Cleanup, which reports what it removed. Without a matching
// policy every version of a dataset is kept.

// DefaultTrashPeriod is how long deleted datasets stay in the trash before
// Cleanup empties them, when the store does not set trash_period.
const DefaultTrashPeriod = 7 * 24 * time.Hour

// CleanupFile is the store file holding the last cleanup report
// (.metadata/cleanup.json).
const CleanupFile = "cleanup.json"

// MatchPattern reports whether a dataset name matches a policy pattern.
// Patterns are shell globs as in the reference's fnmatch: * matches any run
// of characters including '/', ? one character, [...] a class.
func MatchPattern(pattern, name string) (bool, error) {
	re, err := globRegexp(pattern)
	if err != nil {
		return false, err
	}
	return re.MatchString(name), nil
}

func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("pattern %q: unclosed [", pattern)
			}
			class := pattern[i+1 : i+1+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", pattern, err)
	}
	return re, nil
}

// Policy is a retention policy with its durations parsed.
type Policy struct {
	metastore.RetentionPolicy
	deleteAfter, keepHistory, dropRows time.Duration
}

func parsePolicy(p metastore.RetentionPolicy) (Policy, error) {
	out := Policy{RetentionPolicy: p}
	if p.Pattern == "" {
		return out, errors.New("policy: empty pattern")
	}
	if _, err := globRegexp(p.Pattern); err != nil {
		return out, err
	}
	if p.KeepVersions < 0 {
		return out, fmt.Errorf("policy %s: keep-versions %d: want >= 1", p.Pattern, p.KeepVersions)
	}
	for _, f := range []struct {
		flag string
		s    string
		d    *time.Duration
	}{{"delete-after", p.DeleteAfter, &out.deleteAfter}, {"keep-history", p.KeepHistory, &out.keepHistory},
		{"drop-rows-older-than", p.DropRowsOlderThan, &out.dropRows}} {
		if f.s == "" {
			continue
		}
		d, err := ParseDuration(f.s)
		if err != nil {
			return out, fmt.Errorf("policy %s: --%s: %w", p.Pattern, f.flag, err)
		}
		if d <= 0 {
			return out, fmt.Errorf("policy %s: --%s %s: want more than 0", p.Pattern, f.flag, f.s)
		}
		*f.d = d
	}
	if p.DeleteAfter == "" && p.KeepVersions == 0 && p.KeepHistory == "" && p.DropRowsOlderThan == "" {
		return out, fmt.Errorf("policy %s: give at least one of --delete-after, --keep-versions, --keep-history, --drop-rows-older-than", p.Pattern)
	}
	return out, nil
}

// prunesVersions reports whether the policy drops old versions.
func (p *Policy) prunesVersions() bool { return p.KeepVersions > 0 || p.keepHistory > 0 }

// Policies returns the store's retention policies in order, and its trash
// period.
func (s *Store) Policies() ([]metastore.RetentionPolicy, time.Duration, error) {
	c, err := metastore.ReadConfig(s.fs, s.dir)
	if err != nil {
		return nil, 0, err
	}
	period, err := trashPeriod(c)
	return c.RetentionPolicies, period, err
}

func trashPeriod(c *metastore.StoreConfig) (time.Duration, error) {
	if c.TrashPeriod == "" {
		return DefaultTrashPeriod, nil
	}
	d, err := ParseDuration(c.TrashPeriod)
	if err != nil {
		return 0, fmt.Errorf("bcfs.json trash_period: %w", err)
	}
	return d, nil
}

// AddPolicy appends a retention policy. A policy with the same pattern is
// ErrExists (remove it first: order decides which policy applies).
func (s *Store) AddPolicy(p metastore.RetentionPolicy) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	if _, err := parsePolicy(p); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return metastore.UpdateConfig(s.fs, s.dir, func(c *metastore.StoreConfig) error {
		for _, q := range c.RetentionPolicies {
			if q.Pattern == p.Pattern {
				return fmt.Errorf("policy %q: %w (bcfs policy rm %q first)", p.Pattern, ErrExists, p.Pattern)
			}
		}
		c.RetentionPolicies = append(c.RetentionPolicies, p)
		return nil
	})
}

// RemovePolicy removes the policy with exactly this pattern.
func (s *Store) RemovePolicy(pattern string) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	return metastore.UpdateConfig(s.fs, s.dir, func(c *metastore.StoreConfig) error {
		i := slices.IndexFunc(c.RetentionPolicies, func(q metastore.RetentionPolicy) bool { return q.Pattern == pattern })
		if i < 0 {
			return fmt.Errorf("policy %q: %w", pattern, ErrNotFound)
		}
		c.RetentionPolicies = slices.Delete(c.RetentionPolicies, i, i+1)
		return nil
	})
}

// SetTrashPeriod sets how long deleted datasets stay restorable before
// Cleanup empties them.
func (s *Store) SetTrashPeriod(period string) error {
	if s.opt.ReadOnly {
		return ErrReadOnly
	}
	if _, err := ParseDuration(period); err != nil {
		return fmt.Errorf("%w: trash period: %w", ErrBadInput, err)
	}
	return metastore.UpdateConfig(s.fs, s.dir, func(c *metastore.StoreConfig) error {
		c.TrashPeriod = period
		return nil
	})
}

// PolicyFor returns the first policy whose pattern matches name, or nil.
func PolicyFor(policies []Policy, name string) *Policy {
	for i := range policies {
		if ok, _ := MatchPattern(policies[i].Pattern, name); ok {
			return &policies[i]
		}
	}
	return nil
}

// CleanupOptions tune Cleanup.
type CleanupOptions struct {
	DryRun bool
	// Grace: only files older than this are removed (0: 10 minutes), so the
	// in-flight commits of other processes are safe.
	Grace time.Duration
}

// CleanupReport says what a cleanup removed (or, dry, would remove). The
// first three fields are the reference's CleanupResult.
type CleanupReport struct {
	// FilesRemoved counts the datasets deleted by --delete-after (moved to
	// the trash), RemovedFiles names them.
	FilesRemoved int      `json:"files_removed"`
	RemovedFiles []string `json:"removed_files"`
	// SpaceFreedBytes is what left the disk: partition files no kept
	// version references, dropped manifests and emptied trash entries.
	SpaceFreedBytes   int64 `json:"space_freed_bytes"`
	VersionsRemoved   int   `json:"versions_removed"`
	RowsDropped       int64 `json:"rows_dropped"`
	PartitionsRemoved int   `json:"partitions_removed"` // whole partitions dropped by row retention
	// PartitionsRewritten counts boundary partitions row retention rewrote.
	PartitionsRewritten int `json:"partitions_rewritten"`
	// PartitionsCompacted counts partition keys whose files were folded
	// into one (compact.go).
	PartitionsCompacted int `json:"partitions_compacted"`
	// FilesDeleted counts files deleted from disk (partitions, manifests,
	// temp files); TrashEmptied names the trash entries removed for good.
	FilesDeleted int              `json:"files_deleted"`
	TrashEmptied []string         `json:"trash_emptied"`
	DryRun       bool             `json:"dry_run"`
	Started      time.Time        `json:"started"`
	ElapsedMS    int64            `json:"elapsed_ms"`
	Datasets     []DatasetCleanup `json:"datasets"`
	Errors       []string         `json:"errors,omitempty"`
}

// DatasetCleanup is what cleanup did to one dataset.
type DatasetCleanup struct {
	Name                string  `json:"name"`
	Policy              string  `json:"policy,omitempty"` // pattern of the policy applied
	Deleted             bool    `json:"deleted,omitempty"`
	RetentionVersion    int64   `json:"retention_version,omitempty"` // version committed by row retention
	RowsDropped         int64   `json:"rows_dropped,omitempty"`
	PartitionsRemoved   int     `json:"partitions_removed,omitempty"`
	PartitionsRewritten int     `json:"partitions_rewritten,omitempty"`
	PartitionsCompacted int     `json:"partitions_compacted,omitempty"`
	CompactionVersion   int64   `json:"compaction_version,omitempty"` // version committed by compaction
	VersionsRemoved     []int64 `json:"versions_removed,omitempty"`
	FilesDeleted        int     `json:"files_deleted,omitempty"`
	BytesFreed          int64   `json:"bytes_freed,omitempty"`
}

func (d *DatasetCleanup) empty() bool {
	return !d.Deleted && d.RetentionVersion == 0 && d.RowsDropped == 0 && d.PartitionsCompacted == 0 &&
		len(d.VersionsRemoved) == 0 && d.FilesDeleted == 0
}

// Cleanup applies every retention policy to every dataset, compacts the
// partition keys whose files are due for it (compact.go), removes the
// files no kept version references (older than the grace period, not read
// by an open snapshot of this Store), and empties trash entries older than
// the trash period. Every step is a commit through Update, a tombstoned
// manifest removal or a removal of garbage, so a crash anywhere leaves a
// store whose every kept version is whole. With DryRun nothing changes and
// the report says what would happen. The last real report is kept in the
// store (.metadata/cleanup.json).
func (s *Store) Cleanup(ctx context.Context, opt CleanupOptions) (*CleanupReport, error) {
	if s.opt.ReadOnly && !opt.DryRun {
		return nil, ErrReadOnly
	}
	if opt.Grace == 0 {
		opt.Grace = metastore.DefaultGrace
	}
	start := time.Now()
	rep := &CleanupReport{DryRun: opt.DryRun, Started: start.UTC(), RemovedFiles: []string{}, TrashEmptied: []string{}, Datasets: []DatasetCleanup{}}
	c, err := metastore.ReadConfig(s.fs, s.dir)
	if err != nil {
		return nil, err
	}
	var policies []Policy
	for _, p := range c.RetentionPolicies {
		pp, err := parsePolicy(p)
		if err != nil {
			return nil, fmt.Errorf("bcfs.json: %w", err)
		}
		policies = append(policies, pp)
	}
	period, err := trashPeriod(c)
	if err != nil {
		return nil, err
	}
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		d, err := s.cleanupDataset(ctx, name, PolicyFor(policies, name), opt, start)
		if err != nil {
			if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
				return rep, err
			}
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", name, err))
			s.log.Warn("cleanup", "dataset", name, "err", err)
		}
		if d.Deleted {
			rep.FilesRemoved++
			rep.RemovedFiles = append(rep.RemovedFiles, name)
		}
		rep.VersionsRemoved += len(d.VersionsRemoved)
		rep.RowsDropped += d.RowsDropped
		rep.PartitionsRemoved += d.PartitionsRemoved
		rep.PartitionsRewritten += d.PartitionsRewritten
		rep.PartitionsCompacted += d.PartitionsCompacted
		rep.FilesDeleted += d.FilesDeleted
		rep.SpaceFreedBytes += d.BytesFreed
		if !d.empty() {
			rep.Datasets = append(rep.Datasets, d)
		}
	}
	if err := s.emptyOldTrash(rep, period, opt, start); err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("trash: %v", err))
	}
	if err := s.compactJournal(ctx, opt.DryRun); err != nil {
		rep.Errors = append(rep.Errors, fmt.Sprintf("journal: %v", err))
	}
	rep.ElapsedMS = time.Since(start).Milliseconds()
	if !opt.DryRun {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return rep, err
		}
		if err := metastore.ReplaceFile(s.fs, filepath.Join(s.dir, CleanupFile), append(data, '\n')); err != nil {
			return rep, fmt.Errorf("saving the cleanup report: %w", err)
		}
		s.log.Info("cleanup", "datasets_deleted", rep.FilesRemoved, "versions_removed", rep.VersionsRemoved,
			"rows_dropped", rep.RowsDropped, "files_deleted", rep.FilesDeleted, "space_freed_bytes", rep.SpaceFreedBytes,
			"trash_emptied", len(rep.TrashEmptied), "partitions_compacted", rep.PartitionsCompacted, "errors", len(rep.Errors), "elapsed", time.Since(start))
	}
	if len(rep.Errors) > 0 {
		return rep, fmt.Errorf("cleanup: %d error(s), first: %s", len(rep.Errors), rep.Errors[0])
	}
	return rep, nil
}

// LastCleanup returns the last saved cleanup report, or nil.
func (s *Store) LastCleanup() (*CleanupReport, error) {
	data, err := s.readSmallFile(filepath.Join(s.dir, CleanupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rep := new(CleanupReport)
	if err := json.Unmarshal(data, rep); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", CleanupFile, ErrCorrupt, err)
	}
	return rep, nil
}

func (s *Store) readSmallFile(p string) ([]byte, error) {
	f, err := s.fs.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64<<20))
}

// cleanupDataset applies policy p (nil: none) to one dataset, then
// collects its garbage.
func (s *Store) cleanupDataset(ctx context.Context, name string, p *Policy, opt CleanupOptions, now time.Time) (DatasetCleanup, error) {
	d := DatasetCleanup{Name: name}
	var dropped map[int64]time.Time // dry run: versions the policy would drop
	// Dry run: a version row retention or compaction would commit counts
	// as the new head, and the files of the head it would still name stay.
	pretendNewHead := false
	stillNamed := map[string]bool{}
	if p != nil {
		d.Policy = p.Pattern
		if p.deleteAfter > 0 {
			head, err := s.head(name)
			if err != nil {
				return d, err
			}
			if head.CommittedAt.Before(now.Add(-p.deleteAfter)) {
				d.Deleted = true
				if opt.DryRun {
					return d, nil
				}
				_, err := s.Trash(name, fmt.Sprintf("retention: policy %s --delete-after %s (last commit %s)",
					p.Pattern, p.DeleteAfter, head.CommittedAt.UTC().Format(time.RFC3339)))
				return d, err
			}
		}
		if p.dropRows > 0 {
			dr, err := s.dropRowsBefore(ctx, name, now.Add(-p.dropRows), opt.DryRun)
			if err != nil {
				return d, err
			}
			d.RowsDropped, d.PartitionsRemoved, d.PartitionsRewritten, d.RetentionVersion = dr.rows, dr.whole, dr.rewritten, dr.version
			if opt.DryRun && dr.rows > 0 {
				pretendNewHead = true
				head, err := s.head(name)
				if err != nil {
					return d, err
				}
				for _, pt := range head.Partitions {
					if !pt.MinTS.Before(now.Add(-p.dropRows)) {
						stillNamed[pt.Path] = true
					}
				}
			}
		}
	}
	// Compaction before version pruning, so that the versions it makes
	// old can go in the same cleanup.
	c, err := s.Compact(ctx, name, CompactOptions{DryRun: opt.DryRun, Now: now})
	if err != nil {
		return d, err
	}
	d.PartitionsCompacted, d.CompactionVersion = c.PartitionsCompacted, c.Version
	if opt.DryRun && c.PartitionsCompacted > 0 {
		pretendNewHead = true
		head, err := s.head(name)
		if err != nil {
			return d, err
		}
		folded := map[int]bool{}
		for _, g := range compactPlan(head, false, now) {
			for i := g.first; i < g.first+g.n; i++ {
				folded[i] = true
			}
		}
		for i, pt := range head.Partitions {
			if !folded[i] {
				stillNamed[pt.Path] = true
			}
		}
	}
	if p != nil {
		if p.prunesVersions() {
			drop, err := s.versionsToDrop(name, p, now, pretendNewHead)
			if err != nil {
				return d, err
			}
			if len(drop) > 0 {
				d.VersionsRemoved = drop
				if opt.DryRun {
					dropped = map[int64]time.Time{}
					for _, v := range drop {
						dropped[v] = time.Now()
					}
				} else {
					err := metastore.DropVersions(s.fs, s.datasetDir(name), drop)
					s.notify(name) // .versions listings change
					if err != nil {
						return d, err
					}
				}
			}
		}
	}
	res, err := s.collect(name, metastore.GCOptions{Grace: opt.Grace, DryRun: opt.DryRun, Dropped: dropped, Pinned: stillNamed})
	d.FilesDeleted += len(res.Removed)
	d.BytesFreed += res.Bytes
	return d, err
}

// versionsToDrop picks the versions policy p drops: those beyond the newest
// KeepVersions and committed before now-KeepHistory (with one bound set,
// that bound alone). The head is always kept. pretendNewHead counts a
// version row retention or compaction would commit (dry run) as the
// newest, and the head as any other version.
func (s *Store) versionsToDrop(name string, p *Policy, now time.Time, pretendNewHead bool) ([]int64, error) {
	dir := s.datasetDir(name)
	head, err := metastore.Head(s.fs, dir)
	if err != nil {
		return nil, err
	}
	vs, err := metastore.Versions(s.fs, dir)
	if err != nil {
		return nil, err
	}
	var drop []int64
	rank := 0 // position from the newest, counting the head as 0
	if pretendNewHead {
		rank = 1
	}
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		if v > head.Version {
			continue // a torn manifest above the head is not a version
		}
		r := rank
		rank++
		if v == head.Version && !pretendNewHead {
			continue
		}
		keepByCount := p.KeepVersions > 0 && r < p.KeepVersions
		keepByTime := false
		if p.keepHistory > 0 {
			m, err := metastore.Load(s.fs, dir, v)
			if errors.Is(err, metastore.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err // a version we cannot read is never dropped blindly
			}
			keepByTime = !m.CommittedAt.Before(now.Add(-p.keepHistory))
		}
		if !keepByCount && !keepByTime {
			drop = append(drop, v)
		}
	}
	sort.Slice(drop, func(i, j int) bool { return drop[i] < drop[j] })
	return drop, nil
}

// dropResult says what row retention did to one dataset.
type dropResult struct {
	rows             int64
	whole, rewritten int
	version          int64
}

// dropRowsBefore commits a version of a dataset without the rows whose
// timestamp is before cutoff: partitions entirely before it are left out
// without being read, only the partition straddling it is rewritten. It is
// an ordinary commit (through Update, source "retention"); older versions
// keep the rows until a version policy drops them.
func (s *Store) dropRowsBefore(ctx context.Context, name string, cutoff time.Time, dryRun bool) (dropResult, error) {
	var res dropResult
	build := func(head *metastore.Manifest, write bool) (*metastore.Manifest, []string, error) {
		res = dropResult{}
		if head == nil {
			return nil, nil, nil
		}
		dir := s.datasetDir(name)
		var parts []metastore.Partition
		var written []string
		for _, pt := range head.Partitions {
			switch {
			case pt.MaxTS.Before(cutoff):
				res.rows += pt.Rows
				res.whole++
			case pt.MinTS.Before(cutoff):
				if err := ctx.Err(); err != nil {
					return nil, written, err
				}
				b, err := s.readPartition(dir, pt)
				if err != nil {
					return nil, written, err
				}
				ts := b.Timestamps()
				first := sort.Search(len(ts), func(i int) bool { return ts[i] >= cutoff.UnixNano() })
				res.rows += int64(first)
				res.rewritten++
				if !write {
					continue
				}
				kept, err := formats.Conform(b.Slice(first, len(ts)), head.Schema)
				if err != nil {
					return nil, written, err
				}
				np, err := s.writePartition(dir, pt.Key, kept)
				if err != nil {
					return nil, written, err
				}
				written = append(written, np.Path)
				parts = append(parts, np)
			default:
				parts = append(parts, pt)
			}
		}
		if res.rows == 0 || !write {
			return nil, written, nil
		}
		next := *head
		next.Partitions = parts
		next.CommittedAt = time.Time{}
		next.Source = SourceRetention
		next.RowCount, next.CSVSize = 0, int64(len(formats.AppendCSVHeader(nil, head.Schema)))
		syms, provs := map[string]bool{}, map[string]bool{}
		for _, pt := range parts {
			next.RowCount += pt.Rows
			for _, rg := range pt.RowGroups {
				next.CSVSize += rg.CSVLength
			}
			for _, v := range pt.Symbols {
				syms[v] = true
			}
			for _, v := range pt.Providers {
				provs[v] = true
			}
		}
		next.Symbols, next.Providers = sortedKeys(syms), sortedKeys(provs)
		var err error
		if next.ParquetSize, err = s.parquetViewSize(dir, &next); err != nil {
			return nil, written, err
		}
		if next.Report, err = json.Marshal(map[string]any{"rows_dropped": res.rows, "partitions_removed": res.whole,
			"partitions_rewritten": res.rewritten, "rows_before": cutoff.UTC().Format(time.RFC3339Nano)}); err != nil {
			return nil, written, err
		}
		return &next, written, nil
	}
	if dryRun {
		head, err := s.head(name)
		if err != nil {
			return res, err
		}
		_, _, err = build(head, false)
		return res, err
	}
	m, err := s.Update(ctx, name, func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		return build(head, true)
	})
	if m != nil {
		res.version = m.Version
	}
	return res, err
}

// emptyOldTrash removes trash entries deleted more than period ago. Each
// entry loses its entry.json first (it leaves the trash listing), then its
// data; a crash in between leaves a folder without entry.json, which the
// next cleanup removes once older than the grace period.
func (s *Store) emptyOldTrash(rep *CleanupReport, period time.Duration, opt CleanupOptions, now time.Time) error {
	list, err := s.TrashList()
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, e := range list {
		listed[e.ID] = true
		if !e.DeletedAt.Before(now.Add(-period)) {
			continue
		}
		dir := s.trashEntryDir(e.ID)
		files, bytes := s.treeSize(dir)
		if !opt.DryRun {
			if err := s.fs.Remove(filepath.Join(dir, trashEntryFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := s.fs.RemoveAll(dir); err != nil {
				return err
			}
		}
		rep.TrashEmptied = append(rep.TrashEmptied, e.Name)
		rep.FilesDeleted += files
		rep.SpaceFreedBytes += bytes
	}
	// Leftovers of an interrupted emptying: no entry.json, older than grace.
	ents, err := s.fs.ReadDir(s.trashDir())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, de := range ents {
		if !de.IsDir() || listed[de.Name()] {
			continue
		}
		dir := s.trashEntryDir(de.Name())
		if _, err := s.fs.Stat(filepath.Join(dir, trashEntryFile)); err == nil {
			continue // an entry being moved (TrashList leaves those out)
		}
		info, err := de.Info()
		if err != nil || !info.ModTime().Before(now.Add(-opt.Grace)) {
			continue
		}
		files, bytes := s.treeSize(dir)
		if !opt.DryRun {
			if err := s.fs.RemoveAll(dir); err != nil {
				return err
			}
		}
		rep.FilesDeleted += files
		rep.SpaceFreedBytes += bytes
	}
	return nil
}

// treeSize counts the files and bytes under dir.
func (s *Store) treeSize(dir string) (files int, bytes int64) {
	ents, err := s.fs.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			f, b := s.treeSize(p)
			files, bytes = files+f, bytes+b
			continue
		}
		if info, err := e.Info(); err == nil {
			files++
			bytes += info.Size()
		}
	}
	return files, bytes
}
