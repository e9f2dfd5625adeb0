package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"bcfs/dedupmerge"
	"bcfs/formats"
	"bcfs/metastore"
)

// IngestResult says what an ingest did.
type IngestResult struct {
	Dataset   string            `json:"dataset"`
	Source    string            `json:"source"`
	Version   int64             `json:"version"`   // version after the ingest (unchanged if nothing changed)
	Committed bool              `json:"committed"` // a new version was made
	DryRun    bool              `json:"dry_run,omitempty"`
	Report    dedupmerge.Report `json:"report"` // counts of the whole dataset (wholeDatasetCounts)
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
	start := time.Now()
	var res *IngestResult
	attempts := 0
	m, err := s.updateIn(ctx, name, func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		attempts++
		r, m, written, err := s.ingestOnce(ctx, name, srcPath, opt, head)
		if opt.Written != nil {
			opt.Written()
		}
		res = r
		if opt.DryRun {
			m = nil
		}
		return m, written, err
	}, opt.Group)
	if m != nil {
		res.Version, res.Committed = m.Version, true
	}
	if res != nil {
		res.Retries = attempts - 1
	}
	if err != nil && m == nil {
		s.log.Error("ingest failed", "dataset", name, "source", opt.Source, "err", err)
		if !opt.DryRun {
			s.recordError(name, opt.Source, err)
		}
		return nil, err
	}
	if res.Committed {
		s.log.Info("ingested", "dataset", name, "source", opt.Source, "version", res.Version,
			"added", res.Report.RowsAdded, "replaced", res.Report.RowsReplaced, "elapsed", time.Since(start))
	}
	return res, err
}

// plan is the fixed part of one ingest attempt.
type plan struct {
	name     string
	dir      string
	opt      IngestOptions
	head     *metastore.Manifest // nil for a new dataset
	settings metastore.Settings  // Granularity "" means: estimate from the first rows
	policy   dedupmerge.Policy
	ohlcWarn bool
	// replaceAll: the input is the whole dataset (a settings change), so
	// stored partitions are replaced, not merged.
	replaceAll bool
}

// batchSource is what build reads: a decoder, or the stored partitions of
// a dataset being rewritten.
type batchSource interface {
	Schema() formats.Schema
	Next() (*formats.Batch, error)
}

// ingestOnce decodes the input and merges it onto head, returning the
// manifest to commit (nil when nothing changes) and the partition files it
// wrote (to remove if the commit does not happen).
func (s *Store) ingestOnce(ctx context.Context, name, srcPath string, opt IngestOptions, head *metastore.Manifest) (*IngestResult, *metastore.Manifest, []string, error) {
	p, dec, err := s.openInput(name, srcPath, opt, head)
	if err != nil {
		return nil, nil, nil, err
	}
	defer dec.Close()
	return s.build(ctx, p, inputSource{dec}, dec.Stats)
}

// openInput resolves an ingest's settings against head (nil for a new
// dataset) and opens the decoder of srcPath; closing the decoder closes the
// file.
func (s *Store) openInput(name, srcPath string, opt IngestOptions, head *metastore.Manifest) (*plan, formats.Decoder, error) {
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
		return nil, nil, badInput(fmt.Errorf("timezone %q: %w", tz, err))
	}
	ohlc := settings.OHLCCheck
	if opt.OHLCCheck != "" {
		ohlc = opt.OHLCCheck
	}
	if ohlc != string(formats.OHLCReject) && ohlc != string(formats.OHLCWarn) {
		return nil, nil, badInput(fmt.Errorf("ohlc check %q: want reject or warn", ohlc))
	}
	if a := formats.Ambiguous(opt.Ambiguous); a != "" && a != formats.AmbiguousRaise && a != formats.AmbiguousInfer {
		return nil, nil, badInput(fmt.Errorf("ambiguous %q: want raise or infer", opt.Ambiguous))
	}
	strategy, err := dedupmerge.ParseStrategy(settings.Dedup)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(srcPath)
	if err != nil {
		return nil, nil, badInput(err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	dopt := formats.Options{File: opt.Source, Symbol: path.Base(name),
		Provider: strings.ToLower(strings.TrimSpace(opt.Provider)), Location: loc,
		OHLCCheck: formats.OHLCCheck(ohlc), BatchRows: decodeBatchRows, Limits: opt.Limits.Or(s.opt.DecodeLimits),
		Ambiguous: formats.Ambiguous(opt.Ambiguous)}
	if head != nil {
		for _, fl := range head.Schema {
			dopt.Header = append(dopt.Header, fl.Name)
		}
		dopt.Schema = head.Schema
	}
	var in io.ReaderAt = f
	if opt.Progress != nil {
		opt.Progress.Store(0)
		in = countingReaderAt{f, opt.Progress}
	}
	dec, err := formats.Open(in, info.Size(), dopt)
	if err != nil {
		f.Close()
		return nil, nil, badInput(err)
	}
	p := &plan{name: name, dir: s.datasetDir(name), opt: opt, head: head, settings: settings,
		policy:   dedupmerge.Policy{Strategy: strategy, Preference: settings.ProviderPreference},
		ohlcWarn: ohlc == string(formats.OHLCWarn)}
	return p, fileDecoder{dec, f}, nil
}

// fileDecoder is a decoder that closes its file too.
type fileDecoder struct {
	formats.Decoder
	f *os.File
}

func (d fileDecoder) Close() error {
	err := d.Decoder.Close()
	if ferr := d.f.Close(); err == nil {
		err = ferr
	}
	return err
}

// inputSource marks every error of a decoder as the input's fault.
type inputSource struct{ formats.Decoder }

func (in inputSource) Next() (*formats.Batch, error) {
	b, err := in.Decoder.Next()
	if err != nil && err != io.EOF {
		err = badInput(err)
	}
	return b, err
}

// removeEmptyDataset removes the folders an uncommitted first ingest left
// (dry run or failure), so no empty folder appears where the dataset was
// meant to be. Only empty partition folders, an empty _log (a commit that
// failed after making it) and an empty dataset folder go: os.Remove
// refuses anything holding a file.
func (s *Store) removeEmptyDataset(dir string) {
	var rec func(d string)
	rec = func(d string) {
		ents, _ := s.fs.ReadDir(d)
		for _, e := range ents {
			if e.IsDir() && strings.Contains(e.Name(), "=") {
				rec(filepath.Join(d, e.Name()))
				_ = s.fs.Remove(filepath.Join(d, e.Name()))
			}
		}
	}
	rec(dir)
	_ = s.fs.Remove(filepath.Join(dir, metastore.LogDir))
	if ents, err := s.fs.ReadDir(dir); err == nil && len(ents) == 0 {
		_ = s.fs.Remove(dir)
	}
}

func (s *Store) removeFiles(dir string, rel []string) {
	for _, r := range rel {
		_ = s.fs.Remove(filepath.Join(dir, filepath.FromSlash(r)))
	}
}

// build streams src through a router that merges each partition's incoming
// rows onto the stored partition as soon as the input has moved past it,
// then assembles the next manifest. Input errors are ErrBadInput; nothing
// build writes is visible until the caller commits.
func (s *Store) build(ctx context.Context, p *plan, src batchSource, stats func() formats.Stats) (*IngestResult, *metastore.Manifest, []string, error) {
	start := time.Now()
	first, err := src.Next()
	if err == io.EOF {
		first, err = nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	schema := src.Schema()
	old := map[string][]metastore.Partition{}
	var headVersion int64
	if p.head != nil {
		headVersion = p.head.Version
		if !p.replaceAll {
			if schema, err = formats.Unify(p.head.Schema, schema); err != nil {
				return nil, nil, nil, badInput(fmt.Errorf("%s: does not fit dataset %s: %w", p.opt.Source, p.name, err))
			}
			old = keyFiles(p.head.Partitions)
		}
	}
	gran := p.settings.Granularity
	switch {
	case gran != "":
	case p.settings.Partition != "auto" && p.settings.Partition != "":
		gran = p.settings.Partition
	case first != nil:
		gran = estimateGranularity(first)
	default:
		gran = granYear
	}
	p.settings.Granularity = gran
	schemaChanged := p.head == nil || !schema.Equal(p.head.Schema)

	r := newRouter(ctx, s, p, schema, old, schemaChanged)
	for b := first; b != nil; {
		if r.ctx.Err() != nil {
			break // a merge failed or ctx ended: wait reports which
		}
		if b, err = formats.Conform(b, schema); err != nil {
			err = badInput(err)
			break
		}
		r.add(b)
		if b, err = src.Next(); err == io.EOF {
			b, err = nil, nil
		}
	}
	if err == nil && r.ctx.Err() == nil {
		r.flushAll()
	}
	keys, werr := r.wait()
	written := r.written()
	if err == nil {
		err = werr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, nil, written, err
	}
	s.log.Debug("merged", "dataset", p.name, "partitions", len(keys), "written", len(written), "elapsed", time.Since(start))

	res := &IngestResult{Dataset: p.name, Source: p.opt.Source, DryRun: p.opt.DryRun, Input: stats(), Version: headVersion}
	changed := schemaChanged || p.replaceAll
	touched := map[string]bool{}
	var parts []metastore.Partition
	for _, k := range keys {
		ks := r.keys[k]
		res.Report.Add(ks.rep)
		touched[k] = true
		if ks.written != "" {
			changed = true
		}
		parts = append(parts, ks.result()...)
	}
	res.Report.Finish(res.Input.Rows)
	wholeDatasetCounts(&res.Report, old, touched, parts, res.Input.Rows)
	if !changed || p.opt.DryRun {
		return res, nil, written, nil
	}
	for k, files := range old {
		if !touched[k] {
			parts = append(parts, files...)
		}
	}
	sortPartitions(parts)
	m := &metastore.Manifest{Schema: schema, Settings: p.settings, Source: p.opt.Source, Partitions: parts}
	if p.head != nil {
		m.OHLCWarnings = p.head.OHLCWarnings
	}
	if p.ohlcWarn {
		m.OHLCWarnings += res.Input.OHLCViolations
	}
	syms, provs := map[string]bool{}, map[string]bool{}
	m.CSVSize = csvViewSize(m)
	for _, pt := range parts {
		m.RowCount += pt.Rows
		for _, v := range pt.Symbols {
			syms[v] = true
		}
		for _, v := range pt.Providers {
			provs[v] = true
		}
	}
	m.Symbols, m.Providers = sortedKeys(syms), sortedKeys(provs)
	if m.ParquetSize, err = s.parquetViewSize(p.dir, m); err != nil {
		return nil, nil, written, err
	}
	if m.Report, err = json.Marshal(res.Report); err != nil {
		return nil, nil, written, err
	}
	return res, m, written, nil
}

// wholeDatasetCounts makes the report's original_count and final_count the
// whole dataset's, as in the reference: the stored rows plus the incoming
// rows, and the rows after the merge (the merge itself counted only the
// partitions it touched). parts are the touched partitions' results.
func wholeDatasetCounts(r *dedupmerge.Report, old map[string][]metastore.Partition, touched map[string]bool, parts []metastore.Partition, incoming int64) {
	r.OriginalCount, r.FinalCount = incoming, 0
	for k, files := range old {
		for _, pt := range files {
			r.OriginalCount += pt.Rows
			if !touched[k] {
				r.FinalCount += pt.Rows
			}
		}
	}
	for _, pt := range parts {
		r.FinalCount += pt.Rows
	}
	r.DuplicatesRemoved = r.OriginalCount - r.FinalCount
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
