package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"bcfs/formats"
	"bcfs/metastore"
)

// DefaultBatchFiles is the most files IngestFiles merges in one commit when
// BatchOptions.MaxFiles is 0.
const DefaultBatchFiles = 1000

// batchHeld, if set, is called after every decoded batch of a group with the
// bytes the group holds (batchBytes) and its bound; a test hook.
var batchHeld func(held, bound int64)

// BatchOptions are the options of IngestFiles.
type BatchOptions struct {
	// IngestOptions apply to every file; Source and Progress are ignored
	// (each file is its own source).
	IngestOptions
	// MaxFiles bounds the files of one commit (0: DefaultBatchFiles);
	// 1 commits every file on its own, as Ingest does.
	MaxFiles int
	// MaxBytes bounds the decoded rows a group holds before it is merged
	// (batchBytes; 0: a quarter of Options.IngestBufferBytes): at most
	// MaxBytes plus one decoder batch, twice that while the rows are split
	// by partition, then the build's own bounds. A file that alone does
	// not fit is ingested on its own, streaming.
	MaxBytes int64
}

// FileResult is what became of one file of IngestFiles.
type FileResult struct {
	File  string        `json:"file"`
	Input formats.Stats `json:"input"`
	// Err is why the file was refused (nil: its rows were merged, or it
	// changed nothing). A refused file's rows are in no version.
	Err error `json:"-"`
}

// GroupResult is one commit of IngestFiles: the files it merged, in order,
// and the ingest result of the commit (nil when no file of the group
// could be read). Commit.Input sums the good files' inputs.
type GroupResult struct {
	Files  []FileResult
	Commit *IngestResult
}

// IngestFiles merges files into dataset name with the result of ingesting
// them one after another in the order given (Ingest of each file: the same
// rows, the same conflict resolution, provider rank first, then the later
// file wins), in as few commits as the bounds allow. Each file is decoded
// and validated on its own: a bad file is refused with its error (file,
// line, column, value), changes nothing, and the others still merge. The
// good files of a group are merged onto the head in one build and one
// commit, so a folder of small files pays for one commit, not one per file.
//
// done is called once per group, in order, after its commit. IngestFiles
// returns only ctx's error; every other failure is a file's.
func (s *Store) IngestFiles(ctx context.Context, name string, files []string, opt BatchOptions, done func(GroupResult)) error {
	if opt.MaxFiles <= 0 {
		opt.MaxFiles = DefaultBatchFiles
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = s.opt.IngestBufferBytes / 4
		if opt.MaxBytes <= 0 {
			opt.MaxBytes = DefaultIngestBufferBytes / 4
		}
	}
	opt.Progress = nil
	single := func(f string) GroupResult {
		o := opt.IngestOptions
		o.Source = f
		res, err := s.Ingest(ctx, name, f, o)
		g := GroupResult{Files: []FileResult{{File: f, Err: err}}, Commit: res}
		if res != nil {
			g.Files[0].Input = res.Input
		}
		return g
	}
	for i := 0; i < len(files); {
		if err := ctx.Err(); err != nil {
			return err
		}
		if opt.MaxFiles == 1 || i == len(files)-1 {
			done(single(files[i]))
			i++
			continue
		}
		group := files[i:min(len(files), i+opt.MaxFiles)]
		g, next, err := s.ingestGroup(ctx, name, group, opt)
		switch {
		case next == 0: // the first file alone is over the bound
			done(single(files[i]))
			i++
			continue
		case err != nil && errors.Is(err, ErrBadInput) && next > 1:
			// The merge refused what each file passed on its own: find
			// the culprit the slow way, one file after another.
			for _, f := range group[:next] {
				done(single(f))
			}
		case err != nil:
			// Every file of the group failed: with its own error if it
			// had one, else with the group's.
			own := map[string]error{}
			for _, f := range g.Files {
				own[f.File] = f.Err
			}
			out := GroupResult{}
			for _, f := range group[:next] {
				e := own[f]
				if e == nil {
					e = err
				}
				out.Files = append(out.Files, FileResult{File: f, Err: e})
			}
			done(out)
		default:
			done(g)
		}
		i += next
	}
	return ctx.Err()
}

// ingestGroup decodes files from the start of files until MaxBytes is
// reached, merges the good ones onto the head and commits them as one
// version. next is the number of files it took (0: the first file alone
// is over the bound). A build error is returned as err with the group's
// per-file results.
func (s *Store) ingestGroup(ctx context.Context, name string, files []string, opt BatchOptions) (GroupResult, int, error) {
	var (
		g       GroupResult
		next    = len(files) // if fn never runs, the error is every file's
		retries int
	)
	m, err := s.updateIn(ctx, name, func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		retries++
		g = GroupResult{}
		src, p, n := s.decodeGroup(name, files, opt, head, &g)
		next = n
		if src == nil {
			return nil, nil, nil // nothing to merge
		}
		p.opt.Source = groupLabel(src.files)
		res, m, written, err := s.build(ctx, p, src, func() formats.Stats { return src.stats })
		if err != nil {
			return nil, written, err
		}
		res.Retries = retries - 1
		g.Commit = res
		if m != nil {
			if m.Report, err = withFiles(m.Report, src.files); err != nil {
				return nil, written, err
			}
		}
		if opt.DryRun {
			m = nil
		}
		return m, written, nil
	}, opt.Group)
	if m != nil && g.Commit != nil {
		g.Commit.Version, g.Commit.Committed = m.Version, true
	}
	if err != nil && m == nil {
		s.log.Error("ingest failed", "dataset", name, "files", next, "err", err)
		return g, next, err
	}
	for _, f := range g.Files {
		if f.Err != nil {
			s.log.Error("ingest failed", "dataset", name, "source", f.File, "err", f.Err)
			if !opt.DryRun {
				s.recordError(name, f.File, f.Err)
			}
		}
	}
	if g.Commit != nil && g.Commit.Committed {
		s.log.Info("ingested", "dataset", name, "source", g.Commit.Source, "files", next, "version", g.Commit.Version,
			"added", g.Commit.Report.RowsAdded, "replaced", g.Commit.Report.RowsReplaced)
	}
	return g, next, err
}

// groupLabel names a commit of several files in the manifest's source:
// the first file and how many more (the report lists them all).
func groupLabel(files []string) string {
	if len(files) == 1 {
		return files[0]
	}
	if len(files) == 2 {
		return files[0] + " and 1 more file"
	}
	return fmt.Sprintf("%s and %d more files", files[0], len(files)-1)
}

// withFiles adds the list of files merged to a commit's report.
func withFiles(report json.RawMessage, files []string) (json.RawMessage, error) {
	var r map[string]any
	if err := json.Unmarshal(report, &r); err != nil {
		return nil, err
	}
	r["files"] = files
	return json.Marshal(r)
}

// decodeGroup decodes files one after another into memory, each as its own
// ingest onto the result of the previous ones would (the header and column
// types of the dataset as the earlier files leave it), until the decoded
// rows reach opt.MaxBytes. A file that fails is recorded in g with its
// error and contributes nothing. It returns the good files' batches (nil
// when there are none), the plan of the merge onto head, and how many
// files it consumed.
func (s *Store) decodeGroup(name string, files []string, opt BatchOptions, head *metastore.Manifest, g *GroupResult) (*filesSource, *plan, int) {
	var (
		src  *filesSource
		plan *plan
		held int64
	)
	for k, f := range files {
		o := opt.IngestOptions
		o.Source = f
		// The dataset as the earlier good files leave it.
		at := head
		if src != nil {
			at = &metastore.Manifest{Schema: src.schema, Settings: plan.settings}
		}
		p, dec, err := s.openInput(name, f, o, at)
		if err != nil {
			g.Files = append(g.Files, FileResult{File: f, Err: err})
			continue
		}
		var batches []*formats.Batch
		var n int64
		over, failed := false, false
		for {
			b, err := inputSource{dec}.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				batches, failed = nil, true
				g.Files = append(g.Files, FileResult{File: f, Err: err})
				break
			}
			batches = append(batches, b)
			n += batchBytes(b)
			if batchHeld != nil {
				batchHeld(held+n, opt.MaxBytes)
			}
			if held+n > opt.MaxBytes {
				over = true
				break
			}
		}
		stats, schema := dec.Stats(), dec.Schema()
		dec.Close()
		if over {
			if k == 0 {
				return nil, nil, 0
			}
			return src.inPartitionOrder(plan), plan, k // this file starts the next group
		}
		if failed {
			continue
		}
		if at != nil {
			if schema, err = formats.Unify(at.Schema, schema); err != nil {
				g.Files = append(g.Files, FileResult{File: f,
					Err: badInput(fmt.Errorf("%s: does not fit dataset %s: %w", f, name, err))})
				continue
			}
		}
		g.Files = append(g.Files, FileResult{File: f, Input: stats})
		held += n
		if src == nil {
			src, plan = &filesSource{}, p
			if len(batches) > 0 {
				src.first = batches[0]
			}
		}
		src.schema = schema
		src.batches = append(src.batches, batches...)
		src.files = append(src.files, f)
		src.stats.Rows += stats.Rows
		src.stats.SkippedEmpty += stats.SkippedEmpty
		src.stats.OHLCViolations += stats.OHLCViolations
		if src.stats.Vendor == "" {
			src.stats.Vendor = stats.Vendor
		}
	}
	return src.inPartitionOrder(plan), plan, len(files)
}

// inPartitionOrder fixes the plan's granularity as one after another would
// (the head's; for a new dataset the one the first good file's rows
// suggest, as build does for that file alone) and reorders the group's
// rows partition by partition, keeping their order within each partition:
// the merge of a partition depends only on its rows and their order (the
// later wins), so the result is the same, but the router then merges each
// partition once instead of once per stretch of files that touch it.
func (src *filesSource) inPartitionOrder(p *plan) *filesSource {
	if src == nil {
		return nil
	}
	gran := p.settings.Granularity
	switch {
	case gran != "":
	case p.settings.Partition != "auto" && p.settings.Partition != "":
		gran = p.settings.Partition
	case src.first != nil:
		gran = estimateGranularity(src.first)
	default:
		gran = granYear
	}
	p.settings.Granularity = gran
	src.first = nil
	pieces := map[string][]*formats.Batch{}
	for i, b := range src.batches {
		src.batches[i] = nil
		groups := map[string][]int{}
		var keys []string
		for r, ts := range b.Timestamps() {
			k, _, _ := partitionOf(ts, gran)
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], r)
		}
		if len(keys) == 1 {
			pieces[keys[0]] = append(pieces[keys[0]], b)
			continue
		}
		for _, k := range keys {
			pieces[k] = append(pieces[k], b.Take(groups[k]))
		}
	}
	keys := make([]string, 0, len(pieces))
	for k := range pieces {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	src.batches = src.batches[:0]
	for _, k := range keys {
		src.batches = append(src.batches, pieces[k]...)
	}
	return src
}

// filesSource is the good files of a group as one input: their batches
// in file order, in the schema they unify to.
type filesSource struct {
	schema  formats.Schema
	first   *formats.Batch // the first good file's first batch, until ordered
	batches []*formats.Batch
	files   []string
	stats   formats.Stats
}

func (g *filesSource) Schema() formats.Schema { return g.schema }

func (g *filesSource) Next() (*formats.Batch, error) {
	if len(g.batches) == 0 {
		return nil, io.EOF
	}
	b := g.batches[0]
	g.batches[0] = nil // the router holds what it still needs
	g.batches = g.batches[1:]
	return b, nil
}
