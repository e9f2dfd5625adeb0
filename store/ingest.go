package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"bcfs/dedupmerge"
	"bcfs/formats"
	"bcfs/metastore"
)

// maxCommitAttempts bounds the re-merge loop when other writers keep winning
// the commit point.
const maxCommitAttempts = 50

// IngestResult says what an ingest did.
type IngestResult struct {
	Dataset   string            `json:"dataset"`
	Source    string            `json:"source"`
	Version   int64             `json:"version"`   // version after the ingest (unchanged if nothing changed)
	Committed bool              `json:"committed"` // a new version was made
	DryRun    bool              `json:"dry_run,omitempty"`
	Report    dedupmerge.Report `json:"report"`
	Input     formats.Stats     `json:"input"`
	Retries   int               `json:"retries,omitempty"` // commit conflicts re-merged
}

// badInput marks err as the input's fault.
func badInput(err error) error {
	if errors.Is(err, ErrBadInput) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBadInput, err)
}

// Ingest parses the file at srcPath, validates it, deduplicates it, merges it
// into dataset name (creating it) and commits a new version, unless nothing
// changes. A bad file returns an error wrapping ErrBadInput and changes
// nothing but the dataset's last_error.
func (s *Store) Ingest(ctx context.Context, name, srcPath string, opt IngestOptions) (*IngestResult, error) {
	if s.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if opt.Source == "" {
		opt.Source = srcPath
	}
	mu := s.lockDataset(name)
	res, err := s.ingest(ctx, name, srcPath, opt)
	mu.Unlock()
	if res != nil && res.Committed {
		s.notify(name)
	}
	if err != nil {
		s.log.Error("ingest failed", "dataset", name, "source", opt.Source, "err", err)
		if !opt.DryRun && errors.Is(err, ErrBadInput) {
			s.recordError(name, opt.Source, err)
		}
		return nil, err
	}
	if res.Committed {
		s.log.Info("ingested", "dataset", name, "source", opt.Source, "version", res.Version,
			"added", res.Report.RowsAdded, "replaced", res.Report.RowsReplaced)
		go s.gc(name)
	}
	return res, nil
}

// recordError keeps the reason of a failed ingest in the dataset's
// last_error, when the dataset exists.
func (s *Store) recordError(name, source string, err error) {
	dir := s.datasetDir(name)
	if _, serr := s.fs.Stat(filepath.Join(dir, "_log")); serr != nil {
		return
	}
	le := &metastore.LastError{Time: time.Now().UTC(), Source: source, Error: err.Error()}
	if werr := metastore.WriteLastError(s.fs, dir, le); werr != nil {
		s.log.Warn("recording last error", "dataset", name, "err", werr)
	}
}

// plan is the fixed part of one ingest: settings and the spilled input.
type plan struct {
	name     string
	dir      string
	opt      IngestOptions
	settings metastore.Settings
	policy   dedupmerge.Policy
	inSchema formats.Schema
	spill    *spiller
	stats    formats.Stats
	ohlcWarn bool
	// replaceAll: the spill holds the whole dataset (a settings change);
	// stored partitions are not merged but replaced.
	replaceAll bool
}

func (s *Store) ingest(ctx context.Context, name, srcPath string, opt IngestOptions) (*IngestResult, error) {
	start := time.Now()
	dir := s.datasetDir(name)
	head, err := s.head(name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	settings := metastore.DefaultSettings()
	if head != nil {
		settings = head.Settings
	} else {
		// A new dataset's granularity comes from its first rows.
		settings.Granularity = ""
		if opt.Timezone != "" {
			settings.Timezone = opt.Timezone
		}
	}
	tz := settings.Timezone
	if opt.Timezone != "" {
		tz = opt.Timezone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, badInput(fmt.Errorf("timezone %q: %w", tz, err))
	}
	ohlc := settings.OHLCCheck
	if opt.OHLCCheck != "" {
		ohlc = opt.OHLCCheck
	}
	if ohlc != string(formats.OHLCReject) && ohlc != string(formats.OHLCWarn) {
		return nil, badInput(fmt.Errorf("ohlc check %q: want reject or warn", ohlc))
	}
	strategy, err := dedupmerge.ParseStrategy(settings.Dedup)
	if err != nil {
		return nil, err
	}

	f, err := os.Open(srcPath)
	if err != nil {
		return nil, badInput(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	dopt := formats.Options{File: opt.Source, Symbol: path.Base(name),
		Provider: strings.ToLower(strings.TrimSpace(opt.Provider)), Location: loc,
		OHLCCheck: formats.OHLCCheck(ohlc)}
	if head != nil {
		for _, fl := range head.Schema {
			dopt.Header = append(dopt.Header, fl.Name)
		}
	}
	dec, err := formats.Open(f, info.Size(), dopt)
	if err != nil {
		return nil, badInput(err)
	}
	defer dec.Close()

	work, err := os.MkdirTemp(s.SpoolDir(), "ingest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	gran := settings.Granularity
	if gran == "" && settings.Partition != "auto" && settings.Partition != "" {
		gran = settings.Partition
	}
	var sp *spiller
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badInput(err)
		}
		if sp == nil {
			if gran == "" {
				gran = estimateGranularity(b)
			}
			sp = newSpiller(work, gran, dec.Schema())
		}
		if err := sp.add(b); err != nil {
			return nil, err
		}
	}
	if sp == nil {
		if gran == "" {
			gran = granYear
		}
		sp = newSpiller(work, gran, dec.Schema())
	}
	if err := sp.close(); err != nil {
		return nil, err
	}
	settings.Granularity = gran
	s.log.Debug("decoded and spilled", "dataset", name, "rows", dec.Stats().Rows, "partitions", len(sp.files), "elapsed", time.Since(start))
	p := &plan{name: name, dir: dir, opt: opt, settings: settings,
		policy:   dedupmerge.Policy{Strategy: strategy, Preference: settings.ProviderPreference},
		inSchema: dec.Schema(), spill: sp, stats: dec.Stats(), ohlcWarn: ohlc == string(formats.OHLCWarn)}
	return s.commitLoop(ctx, p, head)
}

// commitLoop merges the plan onto head and commits, re-merging onto the new
// head whenever another writer wins the commit point.
func (s *Store) commitLoop(ctx context.Context, p *plan, head *metastore.Manifest) (*IngestResult, error) {
	for attempt := 0; ; attempt++ {
		if head != nil && head.Settings.Granularity != p.spill.gran && !p.replaceAll {
			// Another writer created the dataset with another granularity.
			if err := p.spill.rebucket(head.Settings.Granularity); err != nil {
				return nil, err
			}
			p.settings = head.Settings
		}
		start := time.Now()
		res, m, written, err := s.merge(ctx, p, head)
		if errors.Is(err, metastore.ErrConflict) && attempt+1 < maxCommitAttempts {
			s.removeFiles(p.dir, written)
			if head, err = metastore.Head(s.fs, p.dir); err != nil {
				return nil, fmt.Errorf("reload head after conflict: %w", err)
			}
			continue
		}
		if err != nil {
			s.removeFiles(p.dir, written)
			return nil, err
		}
		s.log.Debug("merged", "dataset", p.name, "partitions written", len(written), "elapsed", time.Since(start))
		res.Retries = attempt
		if m == nil || p.opt.DryRun {
			return res, nil
		}
		if err := s.fs.MkdirAll(filepath.Join(p.dir, "_log"), 0o755); err != nil {
			s.removeFiles(p.dir, written)
			return nil, err
		}
		err = metastore.Commit(s.fs, p.dir, m)
		if err == nil || errors.Is(err, metastore.ErrNotDurable) {
			// Past the commit point the version is visible: its files stay
			// even if the final fsync failed (then the caller hears of it).
			s.mu.Lock()
			s.heads[p.name] = m
			s.mu.Unlock()
			res.Version, res.Committed = m.Version, true
			return res, err
		}
		s.removeFiles(p.dir, written)
		if !errors.Is(err, metastore.ErrConflict) || attempt+1 >= maxCommitAttempts {
			return nil, fmt.Errorf("commit %s version %d: %w", p.name, m.Version, err)
		}
		head, err = metastore.Head(s.fs, p.dir)
		if err != nil {
			return nil, fmt.Errorf("reload head after conflict: %w", err)
		}
	}
}

func (s *Store) removeFiles(dir string, rel []string) {
	for _, r := range rel {
		_ = s.fs.Remove(filepath.Join(dir, filepath.FromSlash(r)))
	}
}

type partResult struct {
	part    metastore.Partition
	keep    bool // the stored partition is unchanged
	written bool
	rep     dedupmerge.Report
}

// merge merges every touched partition and builds the next manifest. It
// returns a nil manifest when nothing changes. written lists new partition
// files (relative to the dataset dir) to remove if the commit does not happen.
func (s *Store) merge(ctx context.Context, p *plan, head *metastore.Manifest) (*IngestResult, *metastore.Manifest, []string, error) {
	res := &IngestResult{Dataset: p.name, Source: p.opt.Source, DryRun: p.opt.DryRun, Input: p.stats}
	schema := p.inSchema
	old := map[string]metastore.Partition{}
	var headVersion int64
	if head != nil {
		headVersion = head.Version
		res.Version = headVersion
		if !p.replaceAll {
			var err error
			if schema, err = formats.Unify(head.Schema, p.inSchema); err != nil {
				return nil, nil, nil, badInput(fmt.Errorf("%s: does not fit dataset %s: %w", p.opt.Source, p.name, err))
			}
			for _, pt := range head.Partitions {
				old[pt.Key] = pt
			}
		}
	}
	schemaChanged := head == nil || !schema.Equal(head.Schema)
	keySet := map[string]bool{}
	for _, k := range p.spill.keys() {
		keySet[k] = true
	}
	if schemaChanged {
		for k := range old {
			keySet[k] = true
		}
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	results := make([]partResult, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, key := range keys {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			r, err := s.mergePartition(p, schema, key, old, schemaChanged)
			results[i] = r
			return err
		})
	}
	err := g.Wait()
	var written []string
	for _, r := range results {
		if r.written {
			written = append(written, r.part.Path)
		}
	}
	if err != nil {
		return nil, nil, written, err
	}

	changed := schemaChanged || p.replaceAll
	for _, r := range results {
		res.Report.Add(r.rep)
		if !r.keep {
			changed = true
		}
	}
	res.Report.Finish(p.stats.Rows)
	if !changed {
		return res, nil, written, nil
	}
	if p.opt.DryRun {
		return res, nil, written, nil
	}

	version, err := s.nextVersion(p.dir, headVersion)
	if err != nil {
		return nil, nil, written, err
	}
	m := &metastore.Manifest{FormatVersion: 1, Dataset: p.name, Version: version, Parent: headVersion,
		CommittedAt: time.Now().UTC().Truncate(time.Millisecond), Schema: schema, Settings: p.settings, Source: p.opt.Source}
	if head != nil {
		m.OHLCWarnings = head.OHLCWarnings
	}
	if p.ohlcWarn {
		m.OHLCWarnings += p.stats.OHLCViolations
	}
	touched := map[string]bool{}
	for _, r := range results {
		touched[r.part.Key] = true
		m.Partitions = append(m.Partitions, r.part)
	}
	for k, pt := range old {
		if !touched[k] {
			m.Partitions = append(m.Partitions, pt)
		}
	}
	syms, provs := map[string]bool{}, map[string]bool{}
	for _, pt := range m.Partitions {
		for _, v := range pt.Symbols {
			syms[v] = true
		}
		for _, v := range pt.Providers {
			provs[v] = true
		}
	}
	m.Symbols, m.Providers = sortedKeys(syms), sortedKeys(provs)
	sort.Slice(m.Partitions, func(i, j int) bool { return m.Partitions[i].Key < m.Partitions[j].Key })
	m.CSVSize = int64(len(formats.AppendCSVHeader(nil, schema)))
	for _, pt := range m.Partitions {
		m.RowCount += pt.Rows
		for _, rg := range pt.RowGroups {
			m.CSVSize += rg.CSVLength
		}
	}
	size, err := s.parquetViewSize(p.dir, m)
	if err != nil {
		return nil, nil, written, err
	}
	m.ParquetSize = size
	if m.Report, err = json.Marshal(res.Report); err != nil {
		return nil, nil, written, err
	}
	return res, m, written, nil
}

// nextVersion returns the version number to commit on top of head. It is
// head+1 unless manifests above the head exist that do not decode (a torn
// write of a crashed process): those numbers are skipped, or every commit
// would conflict with them forever. A readable manifest above the head means
// another writer committed: ErrConflict, so the caller re-merges.
func (s *Store) nextVersion(dir string, head int64) (int64, error) {
	vs, err := metastore.Versions(s.fs, dir)
	if err != nil {
		return 0, err
	}
	next := head + 1
	for _, v := range vs {
		if v <= head {
			continue
		}
		if _, err := metastore.Load(s.fs, dir, v); err == nil {
			return 0, fmt.Errorf("version %d appeared above head %d: %w", v, head, metastore.ErrConflict)
		}
		next = v + 1
	}
	return next, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mergePartition merges the spilled input of one partition key with the
// stored partition of that key.
func (s *Store) mergePartition(p *plan, schema formats.Schema, key string, old map[string]metastore.Partition, schemaChanged bool) (partResult, error) {
	incoming := formats.NewBatch(schema, 0)
	if path, ok := p.spill.path(key); ok {
		b, err := readSpill(path, p.inSchema, p.spill.rows[key])
		if err != nil {
			return partResult{}, err
		}
		if incoming, err = formats.Conform(b, schema); err != nil {
			return partResult{}, badInput(err)
		}
	}
	stored := formats.NewBatch(schema, 0)
	prev, hasPrev := old[key]
	if hasPrev {
		b, err := s.readPartition(p.dir, prev)
		if err != nil {
			return partResult{}, err
		}
		if stored, err = formats.Conform(b, schema); err != nil {
			return partResult{}, err
		}
	}
	// Merge sorts and deduplicates the incoming rows itself (keeping the
	// later of equal-rank rows: spill order is input order), counting a key
	// that conflicts both within the input and with the store once.
	merged, rep := dedupmerge.Merge(stored, incoming, p.policy)
	r := partResult{rep: rep, part: prev, keep: hasPrev && !rep.Changed() && !schemaChanged}
	if r.keep {
		return r, nil
	}
	if p.opt.DryRun {
		r.part = metastore.Partition{Key: key, Rows: int64(merged.Len())}
		return r, nil
	}
	pt, err := s.writePartition(p.dir, key, merged)
	if err != nil {
		return r, err
	}
	r.part, r.written = pt, true
	return r, nil
}

// distinct returns the sorted distinct values of v.
func distinct(v []string) []string {
	seen := map[string]bool{}
	last, first := "", true
	for _, s := range v {
		if s == last && !first {
			continue
		}
		last, first = s, false
		seen[s] = true
	}
	return sortedKeys(seen)
}

// parquetViewSize builds the concatenated Parquet view's layout from the
// partition footers to learn its exact size.
func (s *Store) parquetViewSize(dir string, m *metastore.Manifest) (int64, error) {
	srcs := make([]formats.ViewSource, 0, len(m.Partitions))
	for _, pt := range m.Partitions {
		f, err := s.fs.Open(filepath.Join(dir, filepath.FromSlash(pt.Path)))
		if err != nil {
			return 0, err
		}
		defer f.Close()
		srcs = append(srcs, formats.ViewSource{R: f, Size: pt.Size})
	}
	l, err := formats.BuildViewLayout(m.Schema, srcs)
	if err != nil {
		return 0, err
	}
	return l.Size(), nil
}

// spiller buckets incoming batches into one spill file per partition key.
type spiller struct {
	dir    string
	gran   string
	schema formats.Schema
	files  map[string]string       // key -> spill path
	rows   map[string]int          // key -> rows spilled
	open   map[string]*spillWriter // keys with an open writer
	seq    int
}

// maxOpenSpills bounds open spill files (and their buffers).
const maxOpenSpills = 128

func newSpiller(dir, gran string, s formats.Schema) *spiller {
	return &spiller{dir: dir, gran: gran, schema: s, files: map[string]string{}, rows: map[string]int{}, open: map[string]*spillWriter{}}
}

func (sp *spiller) keys() []string {
	out := make([]string, 0, len(sp.files))
	for k := range sp.files {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (sp *spiller) path(key string) (string, bool) {
	p, ok := sp.files[key]
	return p, ok
}

func (sp *spiller) writer(key string) (*spillWriter, error) {
	if w, ok := sp.open[key]; ok {
		return w, nil
	}
	if len(sp.open) >= maxOpenSpills {
		for k, w := range sp.open {
			if err := w.close(); err != nil {
				return nil, err
			}
			delete(sp.open, k)
		}
	}
	p, ok := sp.files[key]
	if !ok {
		sp.seq++
		p = filepath.Join(sp.dir, fmt.Sprintf("%s-%06d.spill", sp.gran, sp.seq))
		sp.files[key] = p
	}
	w, err := createSpill(p)
	if err != nil {
		return nil, err
	}
	sp.open[key] = w
	return w, nil
}

// add writes each row of b to its partition's spill, keeping input order.
func (sp *spiller) add(b *formats.Batch) error {
	ts := b.Timestamps()
	if len(ts) == 0 {
		return nil
	}
	var groups map[string][]int
	key, lo, hi := partitionOf(ts[0], sp.gran)
	single := true
	for i, t := range ts {
		if t >= lo && t < hi {
			if !single {
				groups[key] = append(groups[key], i)
			}
			continue
		}
		if single {
			single = false
			groups = map[string][]int{key: seq(i)}
		}
		key, lo, hi = partitionOf(t, sp.gran)
		groups[key] = append(groups[key], i)
	}
	if single {
		w, err := sp.writer(key)
		if err != nil {
			return err
		}
		sp.rows[key] += len(ts)
		return w.write(b)
	}
	for k, idx := range groups {
		w, err := sp.writer(k)
		if err != nil {
			return err
		}
		sp.rows[k] += len(idx)
		if err := w.write(b.Take(idx)); err != nil {
			return err
		}
	}
	return nil
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (sp *spiller) close() error {
	for k, w := range sp.open {
		if err := w.close(); err != nil {
			return err
		}
		delete(sp.open, k)
	}
	return nil
}

// rebucket re-spills everything under another granularity.
func (sp *spiller) rebucket(gran string) error {
	if err := sp.close(); err != nil {
		return err
	}
	next := newSpiller(sp.dir, gran, sp.schema)
	next.seq = sp.seq
	for _, k := range sp.keys() {
		b, err := readSpill(sp.files[k], sp.schema, sp.rows[k])
		if err != nil {
			return err
		}
		if err := next.add(b); err != nil {
			return err
		}
		if err := os.Remove(sp.files[k]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := next.close(); err != nil {
		return err
	}
	*sp = *next
	return nil
}
