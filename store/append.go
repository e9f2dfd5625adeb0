package store

import (
	"os"
	"slices"

	"bcfs/dedupmerge"
	"bcfs/formats"
	"bcfs/metastore"
)

// A partition key may have several files (metastore.FormatMultiFile): an
// ingest whose rows for a key all come after the key's last stored
// timestamp writes only those rows, as one more file of the key (the
// append), instead of rewriting the key's rows. So a commit writes about
// what it adds, whatever the partition size. Rows that overlap the stored
// time range merge as before, onto all of the key's files, into one file.
//
// Reads fan out over a key's files; maxKeyFiles bounds them: an append
// that would exceed it folds the newest files with the new rows into one
// (foldFrom), never the first file, and never a file more than twice the
// size of what is folded with it, so a row is rewritten about log2(appends)
// times however often a key is appended to, not once per fold. Compaction
// (compact.go, run by cleanup) folds a key's files into one later.

// maxKeyFiles is the most files a key gets from appends.
const maxKeyFiles = 32

// appendDisabled turns the append off (BCFS_APPEND=0): every ingest
// rewrites the keys it touches, as bcfs did before appends. It exists as
// the peer of scripts/bench_updates.sh.
var appendDisabled = os.Getenv("BCFS_APPEND") == "0"

// keyFiles groups a manifest's partitions by key, each key's files in
// time order (the manifest's order).
func keyFiles(parts []metastore.Partition) map[string][]metastore.Partition {
	out := map[string][]metastore.Partition{}
	for _, pt := range parts {
		out[pt.Key] = append(out[pt.Key], pt)
	}
	return out
}

// sortPartitions puts partitions in manifest order: by key, then time.
func sortPartitions(parts []metastore.Partition) {
	slices.SortStableFunc(parts, func(a, b metastore.Partition) int {
		if a.Key != b.Key {
			if a.Key < b.Key {
				return -1
			}
			return 1
		}
		return a.MinTS.Compare(b.MinTS)
	})
}

// readFiles reads files of one key (in time order) into one batch in
// schema: their concatenation, sorted since their time ranges follow each
// other.
func (s *Store) readFiles(dir string, files []metastore.Partition, schema formats.Schema) (*formats.Batch, error) {
	var n int64
	for _, pt := range files {
		n += pt.Rows
	}
	out := formats.NewBatch(schema, int(n))
	for _, pt := range files {
		b, err := s.readPartition(dir, pt)
		if err != nil {
			return nil, err
		}
		if b, err = formats.Conform(b, schema); err != nil {
			return nil, err
		}
		out.Append(b)
	}
	return out, nil
}

// minTimestamp returns the smallest timestamp of b (which has rows).
func minTimestamp(b *formats.Batch) int64 {
	ts := b.Timestamps()
	m := ts[0]
	for _, t := range ts[1:] {
		m = min(m, t)
	}
	return m
}

// foldFrom picks where the fold of an append at the cap starts: going back
// from the newest file, it takes every file at most twice the rows taken so
// far (starting with rows, the rows being added), stopping at the first
// larger one or at the key's first file; it takes at least the newest file.
func foldFrom(base []metastore.Partition, rows int64) int {
	j := len(base) - 1
	sum := rows + base[j].Rows
	for j > 1 && base[j-1].Rows <= 2*sum {
		j--
		sum += base[j].Rows
	}
	return j
}

// merge merges incoming onto the key's current result (ks.base, then this
// ingest's last file for the key). When every incoming row comes after the
// last file of base, base stays and only this ingest's rows are written;
// otherwise everything is merged into one file.
func (r *router) merge(key string, ks *keyState, incoming *formats.Batch) error {
	dir := r.p.dir
	if ks.merges == 0 {
		ks.base = r.old[key]
	}
	var tail []metastore.Partition
	if ks.written != "" {
		tail = []metastore.Partition{ks.part}
	}
	base := ks.base
	onto := append(slices.Clone(base), tail...)
	keepBase := []metastore.Partition(nil)
	if n := len(base); n > 0 && !r.schemaChanged && !appendDisabled && incoming.Len() > 0 &&
		minTimestamp(incoming) > base[n-1].MaxTS.UnixNano() {
		keepBase, onto = base, tail
		if n+1 > maxKeyFiles {
			j := foldFrom(base, int64(incoming.Len())+ks.part.Rows)
			keepBase, onto = base[:j], append(slices.Clone(base[j:]), tail...)
		}
	}
	stored, err := r.s.readFiles(dir, onto, r.schema)
	if err != nil {
		return err
	}
	// Merge sorts and deduplicates the incoming rows itself, keeping the
	// later of two equal-rank rows (buffers keep input order).
	merged, rep := dedupmerge.Merge(stored, incoming, r.p.policy)
	if ks.merges == 0 {
		ks.rep = rep
	} else {
		// A later merge of the same key starts from the previous result:
		// its rows were already counted (build recounts the totals).
		ks.rep.OriginalCount += rep.OriginalCount - int64(stored.Len())
		ks.rep.FinalCount = rep.FinalCount
		ks.rep.DuplicatesRemoved = ks.rep.OriginalCount - ks.rep.FinalCount
		ks.rep.ConflictsResolved += rep.ConflictsResolved
		ks.rep.RowsAdded += rep.RowsAdded
		ks.rep.RowsReplaced += rep.RowsReplaced
		ks.rep.RowsUnchanged += rep.RowsUnchanged
	}
	ks.merges++
	switch {
	case !rep.Changed() && (ks.written != "" || !r.schemaChanged):
		return nil // the current result already holds these rows
	case merged.Len() == 0:
		return nil
	}
	pt, err := r.s.writePartition(dir, key, merged)
	if err != nil {
		return err
	}
	if ks.written != "" {
		// The previous result of this ingest was never committed.
		r.s.removeFiles(dir, []string{ks.written})
	}
	ks.base, ks.part, ks.written = keepBase, pt, pt.Path
	return nil
}

// result is the key's files after the ingest, in time order.
func (ks *keyState) result() []metastore.Partition {
	if ks.written == "" {
		return ks.base
	}
	return append(slices.Clone(ks.base), ks.part)
}
