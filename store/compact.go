package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"bcfs/metastore"
)

// Compaction folds the files appends left in a partition key into one
// file. It is a commit through Update (source "compaction") whose rows are
// those of the head, in the same order: the views' rows do not change,
// only how they are split into files and row groups. Older versions keep
// their files until retention drops them and GC collects them.
//
// Cleanup compacts what is due (compactPlan): every key with several files
// whose time bucket has ended (its end is past, or the dataset has a later
// key), so a month of daily appends is rewritten once, after its last day:
// the appends and that one rewrite write about twice the data added. A key
// still open is left to grow (an ingest bounds it at maxKeyFiles), since
// folding it while appends go on would rewrite the same rows again and
// again. Compact with All folds every key with several files into one.

// SourceCompaction is the source of a version made by compaction.
const SourceCompaction = "compaction"

// CompactOptions tune Compact.
type CompactOptions struct {
	DryRun bool
	// All folds every key with several files into one; otherwise only
	// what is due (see compactDue).
	All bool
	// Now decides which time buckets have ended (zero: time.Now()).
	Now time.Time
}

// CompactResult says what a compaction of one dataset did (or, dry, would
// do).
type CompactResult struct {
	Dataset string `json:"dataset"`
	// Version is the version committed, 0 when none was.
	Version int64 `json:"version,omitempty"`
	// PartitionsCompacted counts the keys whose files were folded.
	PartitionsCompacted int   `json:"partitions_compacted"`
	FilesBefore         int   `json:"files_before"` // files of those keys before
	FilesAfter          int   `json:"files_after"`  // and after
	BytesWritten        int64 `json:"bytes_written"`
	DryRun              bool  `json:"dry_run,omitempty"`
}

// compactGroup is a run of files of one key to fold into one file.
type compactGroup struct {
	key   string
	first int // index in the manifest's partitions of the first file folded
	n     int // files folded
}

// compactPlan picks the runs of files of m to fold.
func compactPlan(m *metastore.Manifest, all bool, now time.Time) []compactGroup {
	var out []compactGroup
	parts := m.Partitions
	for i := 0; i < len(parts); {
		j := i
		for j < len(parts) && parts[j].Key == parts[i].Key {
			j++
		}
		n := j - i
		switch {
		case n < 2:
		case all || j < len(parts) || bucketEnded(parts[i], m.Settings.Granularity, now):
			out = append(out, compactGroup{key: parts[i].Key, first: i, n: n})
		}
		i = j
	}
	return out
}

// bucketEnded reports whether the time bucket of pt's key ends at or before
// now.
func bucketEnded(pt metastore.Partition, gran string, now time.Time) bool {
	_, _, hi := partitionOf(pt.MinTS.UnixNano(), gran)
	return hi <= now.UnixNano()
}

// Compact folds the files of a dataset's partition keys (see CompactOptions)
// and commits the result as a new version, unless there is nothing to fold.
func (s *Store) Compact(ctx context.Context, name string, opt CompactOptions) (*CompactResult, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	res := &CompactResult{Dataset: name, DryRun: opt.DryRun}
	if opt.DryRun {
		head, err := s.head(name)
		if errors.Is(err, ErrNotFound) {
			return res, nil // no version yet: nothing to fold, as Update finds
		}
		if err != nil {
			return nil, err
		}
		for _, g := range compactPlan(head, opt.All, opt.Now) {
			res.PartitionsCompacted++
			res.FilesBefore += g.n
			res.FilesAfter++
		}
		return res, nil
	}
	if s.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	m, err := s.Update(ctx, name, func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		*res = CompactResult{Dataset: name}
		if head == nil {
			return nil, nil, nil
		}
		return s.compact(ctx, name, head, compactPlan(head, opt.All, opt.Now), res)
	})
	if m != nil {
		res.Version = m.Version
		s.log.Info("compacted", "dataset", name, "version", m.Version, "partitions", res.PartitionsCompacted,
			"files_before", res.FilesBefore, "bytes_written", res.BytesWritten)
	}
	return res, err
}

// compact writes one file for each group and returns the manifest after
// head with them in place of the files they fold.
func (s *Store) compact(ctx context.Context, name string, head *metastore.Manifest, plan []compactGroup, res *CompactResult) (*metastore.Manifest, []string, error) {
	if len(plan) == 0 {
		return nil, nil, nil
	}
	dir := s.datasetDir(name)
	var written []string
	parts := make([]metastore.Partition, 0, len(head.Partitions))
	next := 0 // head.Partitions before it are placed
	for _, g := range plan {
		if err := ctx.Err(); err != nil {
			return nil, written, err
		}
		files := head.Partitions[g.first : g.first+g.n]
		rows, err := s.readFiles(dir, files, head.Schema)
		if err != nil {
			return nil, written, err
		}
		pt, err := s.writePartition(dir, g.key, rows)
		if err != nil {
			return nil, written, err
		}
		written = append(written, pt.Path)
		// The same rows render the same CSV: a cheap check that nothing
		// was lost or changed on the way.
		if r, c := csvRows(files); r != pt.Rows || c != csvLen(pt) {
			return nil, written, fmt.Errorf("compaction of %s %s: wrote %d rows (%d bytes of CSV), its files hold %d (%d)", name, g.key, pt.Rows, csvLen(pt), r, c)
		}
		parts = append(parts, head.Partitions[next:g.first]...)
		parts = append(parts, pt)
		next = g.first + g.n
		res.PartitionsCompacted++
		res.FilesBefore += g.n
		res.FilesAfter++
		res.BytesWritten += pt.Size
	}
	parts = append(parts, head.Partitions[next:]...)
	m := *head
	m.Partitions, m.CommittedAt, m.Checksum, m.Source = parts, time.Time{}, "", SourceCompaction
	var err error
	if m.ParquetSize, err = s.parquetViewSize(dir, &m); err != nil {
		return nil, written, err
	}
	if m.Report, err = json.Marshal(map[string]any{"partitions_compacted": res.PartitionsCompacted,
		"files_before": res.FilesBefore, "files_after": res.FilesAfter}); err != nil {
		return nil, written, err
	}
	return &m, written, nil
}

// csvRows returns the rows of files and the length of their CSV rendering.
func csvRows(files []metastore.Partition) (rows, csv int64) {
	for _, f := range files {
		rows += f.Rows
		csv += csvLen(f)
	}
	return rows, csv
}

func csvLen(pt metastore.Partition) int64 {
	var n int64
	for _, rg := range pt.RowGroups {
		n += rg.CSVLength
	}
	return n
}
