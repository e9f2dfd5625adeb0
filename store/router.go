package store

import (
	"context"
	"sort"

	"golang.org/x/sync/errgroup"

	"bcfs/dedupmerge"
	"bcfs/formats"
	"bcfs/metastore"
)

// Memory bounds of the router. Incoming rows wait in memory until the input
// has moved past their partition (staleBatches batches without a row for
// it), or until maxBufferedRows rows or Options.IngestBufferBytes bytes
// (batchBytes) wait in all, when the largest partition's rows go first. Vendor files are sorted by time, forwards or
// backwards, so each partition is normally merged once, while the decoder
// goes on with the next; a file in random order merges a partition several
// times, each merge on top of the previous one.
const (
	staleBatches = 2
	mergeWorkers = 2
)

// DefaultIngestBufferBytes is the router's byte bound when
// Options.IngestBufferBytes is 0.
const DefaultIngestBufferBytes = 256 << 20

// Variables so tests can force budget flushes and many small batches, and
// watch what the router holds.
var (
	maxBufferedRows = 2_000_000
	decodeBatchRows = 0 // 0: the decoder's default
	// routerBuffered, if set, is called after every add with the bytes
	// still buffered and the bound.
	routerBuffered func(buffered, bound int64)
)

// batchBytes is what b holds in memory as the router counts it: the text of
// its string values plus the string headers, 8 bytes per integer, float and
// timestamp, 1 per bool and per null flag, 8 per source line number.
func batchBytes(b *formats.Batch) int64 {
	var n int64
	for c := range b.Cols {
		col := &b.Cols[c]
		n += int64(8*(len(col.Int)+len(col.Float)) + len(col.Bool) + len(col.Null) + 16*len(col.Str))
		for _, s := range col.Str {
			n += int64(len(s))
		}
	}
	return n + 8*int64(len(b.Line))
}

// router buckets incoming batches by partition and merges each bucket onto
// its partition in a bounded pool of workers.
type router struct {
	s             *Store
	p             *plan
	schema        formats.Schema
	old           map[string][]metastore.Partition // the head's files of each key, in time order
	schemaChanged bool

	g   *errgroup.Group
	ctx context.Context

	// Owned by the goroutine calling add and flushAll.
	buf      map[string][]*formats.Batch
	bufRows  map[string]int
	bufBytes map[string]int64
	total    int
	bytes    int64          // buffered bytes in all (batchBytes)
	maxBytes int64          // the bound on bytes
	touched  map[string]int // key -> sequence number of the last batch with rows for it
	seq      int
	runs     []rowRun // add's scratch
	keys     map[string]*keyState
}

// keyState is the merge state of one partition key. done is set by the
// routing goroutine; the other fields are written by the key's merges, which
// run one at a time in submission order (each waits for the previous one's
// done), and read after wait.
type keyState struct {
	done chan struct{}
	// The result is base, then part when written is set. base starts as
	// the head's files of the key: an append keeps them and writes part
	// for the rows past them; any other merge folds them into part.
	base    []metastore.Partition
	part    metastore.Partition // the file this ingest wrote for the key
	written string              // part's path, "" if none
	rep     dedupmerge.Report
	merges  int
}

func newRouter(ctx context.Context, s *Store, p *plan, schema formats.Schema, old map[string][]metastore.Partition, schemaChanged bool) *router {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(mergeWorkers)
	maxBytes := s.opt.IngestBufferBytes
	if maxBytes <= 0 {
		maxBytes = DefaultIngestBufferBytes
	}
	return &router{s: s, p: p, schema: schema, old: old, schemaChanged: schemaChanged, g: g, ctx: gctx,
		buf: map[string][]*formats.Batch{}, bufRows: map[string]int{}, bufBytes: map[string]int64{},
		maxBytes: maxBytes, touched: map[string]int{}, keys: map[string]*keyState{}}
}

// add routes the rows of b (in schema) to their partitions' buffers, then
// flushes buffers the input has moved past and, over budget, the largest.
func (r *router) add(b *formats.Batch) {
	r.seq++
	ts := b.Timestamps()
	if len(ts) == 0 {
		return
	}
	// Runs of consecutive rows of one partition: one for most batches of
	// time-ordered input, a few where it crosses a boundary, many when
	// the input is not in time order.
	key, lo, hi := partitionOf(ts[0], r.p.settings.Granularity)
	runs, start := r.runs[:0], 0
	for i, t := range ts {
		if t >= lo && t < hi {
			continue
		}
		runs = append(runs, rowRun{key, start, i})
		key, lo, hi = partitionOf(t, r.p.settings.Granularity)
		start = i
	}
	runs = append(runs, rowRun{key, start, len(ts)})
	r.runs = runs[:0]
	if len(runs) == 1 {
		r.buffer(key, b)
	} else {
		// Each key's runs are copied out range by range into one batch.
		rows := map[string]int{}
		for _, run := range runs {
			rows[run.key] += run.hi - run.lo
		}
		parts := make(map[string]*formats.Batch, len(rows))
		for _, run := range runs {
			part := parts[run.key]
			if part == nil {
				part = formats.NewBatch(b.Schema, rows[run.key])
				if b.Line != nil {
					part.Line = make([]int64, 0, rows[run.key])
				}
				parts[run.key] = part
			}
			part.AppendRange(b, run.lo, run.hi)
		}
		keys := make([]string, 0, len(parts))
		for k := range parts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			r.buffer(k, parts[k])
		}
		formats.ReleaseBatch(b)
	}
	for k, last := range r.touched {
		if r.seq-last >= staleBatches && r.bufRows[k] > 0 {
			r.flush(k)
		}
	}
	for r.total > maxBufferedRows {
		largest, n := "", 0
		for k, rows := range r.bufRows {
			if rows > n || (rows == n && k < largest) {
				largest, n = k, rows
			}
		}
		r.flush(largest)
	}
	for r.bytes >= r.maxBytes && r.bytes > 0 {
		largest, n := "", int64(0)
		for k, bytes := range r.bufBytes {
			if bytes > n || (bytes == n && k < largest) {
				largest, n = k, bytes
			}
		}
		r.flush(largest)
	}
	if routerBuffered != nil {
		routerBuffered(r.bytes, r.maxBytes)
	}
}

func (r *router) buffer(key string, b *formats.Batch) {
	r.buf[key] = append(r.buf[key], b)
	r.bufRows[key] += b.Len()
	r.total += b.Len()
	n := batchBytes(b)
	r.bufBytes[key] += n
	r.bytes += n
	r.touched[key] = r.seq
}

// rowRun is rows [lo, hi) of a batch, all of partition key.
type rowRun struct {
	key    string
	lo, hi int
}

// flush hands the buffered rows of key to a merge worker. It blocks while
// all workers are busy, which bounds the memory of the whole ingest.
func (r *router) flush(key string) {
	bufs := r.buf[key]
	var incoming *formats.Batch
	switch len(bufs) {
	case 0:
		incoming = formats.NewBatch(r.schema, 0)
	case 1:
		incoming = bufs[0] // nothing else holds it: no copy
	default:
		incoming = formats.NewBatch(r.schema, r.bufRows[key])
		if bufs[0].Line != nil {
			incoming.Line = make([]int64, 0, r.bufRows[key])
		}
		for _, b := range bufs {
			incoming.Append(b)
			formats.ReleaseBatch(b)
		}
	}
	r.total -= r.bufRows[key]
	r.bytes -= r.bufBytes[key]
	delete(r.buf, key)
	delete(r.bufRows, key)
	delete(r.bufBytes, key)
	ks := r.keys[key]
	if ks == nil {
		ks = &keyState{}
		r.keys[key] = ks
	}
	prev, done := ks.done, make(chan struct{})
	ks.done = done
	r.g.Go(func() error {
		defer close(done)
		if prev != nil {
			select {
			case <-prev:
			case <-r.ctx.Done():
				return r.ctx.Err()
			}
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		return r.merge(key, ks, incoming)
	})
}

// flushAll flushes every buffer and, when the schema changed, rewrites the
// stored partitions the input did not touch.
func (r *router) flushAll() {
	keys := make([]string, 0, len(r.buf))
	for k := range r.buf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.flush(k)
	}
	if r.schemaChanged {
		for k := range r.old {
			if r.keys[k] == nil {
				r.flush(k)
			}
		}
	}
}

// wait waits for every merge and returns the keys merged, sorted.
func (r *router) wait() ([]string, error) {
	err := r.g.Wait()
	keys := make([]string, 0, len(r.keys))
	for k := range r.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, err
}

// written lists the files this ingest wrote that are still current. Call
// after wait.
func (r *router) written() []string {
	var out []string
	for _, ks := range r.keys {
		if ks.written != "" {
			out = append(out, ks.written)
		}
	}
	return out
}
