package store

import (
	"context"
	"fmt"
	"strings"

	"bcfs/formats"
	"bcfs/metastore"
)

// DiffExamples is how many example rows of each kind a Diff keeps.
const DiffExamples = 5

// Diff says how version To of a dataset differs from version From, row by
// row under the dataset's dedup key (To's setting).
type Diff struct {
	Dataset   string `json:"dataset"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
	Key       string `json:"key"` // dedup strategy the rows are matched by
	RowsFrom  int64  `json:"rows_from"`
	RowsTo    int64  `json:"rows_to"`
	Added     int64  `json:"added"`
	Removed   int64  `json:"removed"`
	Changed   int64  `json:"changed"`
	Unchanged int64  `json:"unchanged"`
	// Header is the CSV header the example rows are rendered under.
	Header         string       `json:"header"`
	AddedRows      []DiffRow    `json:"added_examples"`
	RemovedRows    []DiffRow    `json:"removed_examples"`
	ChangedRows    []DiffChange `json:"changed_examples"`
	PartitionsSame int          `json:"partitions_shared"` // partition files both versions share (not read)
}

// DiffRow is one row as its CSV view line (no newline).
type DiffRow struct {
	Row      string `json:"row"`
	Provider string `json:"provider"`
}

// DiffChange is one key whose row differs between the versions.
type DiffChange struct {
	Before         string   `json:"before"`
	After          string   `json:"after"`
	ProviderBefore string   `json:"provider_before"`
	ProviderAfter  string   `json:"provider_after"`
	Columns        []string `json:"columns"` // columns whose values differ
}

// Diff compares versions a and b of a dataset. Partition files both share are
// equal by construction and are not read, so the cost follows the changed
// partitions. Rows are streamed in (timestamp, symbol) order, one partition
// of each side in memory at a time.
func (s *Store) Diff(ctx context.Context, name string, a, b int64) (*Diff, error) {
	ma, err := s.Manifest(name, a)
	if err != nil {
		return nil, err
	}
	mb, err := s.Manifest(name, b)
	if err != nil {
		return nil, err
	}
	schema, err := formats.Unify(ma.Schema, mb.Schema)
	if err != nil {
		return nil, fmt.Errorf("diff %s %d %d: schemas do not unify: %w", name, a, b, err)
	}
	d := &Diff{Dataset: name, From: ma.Version, To: mb.Version, Key: mb.Settings.Dedup,
		RowsFrom: ma.RowCount, RowsTo: mb.RowCount,
		Header:      strings.TrimSuffix(string(formats.AppendCSVHeader(nil, schema)), "\n"),
		AddedRows:   []DiffRow{},
		RemovedRows: []DiffRow{},
		ChangedRows: []DiffChange{}}
	inA := map[string]bool{}
	for _, p := range ma.Partitions {
		inA[p.Path] = true
	}
	shared := map[string]bool{}
	for _, p := range mb.Partitions {
		if inA[p.Path] {
			shared[p.Path] = true
		}
	}
	d.PartitionsSame = len(shared)
	dir := s.datasetDir(name)
	ra := &rowStream{s: s, dir: dir, schema: schema, skip: shared, parts: ma.Partitions}
	rb := &rowStream{s: s, dir: dir, schema: schema, skip: shared, parts: mb.Partitions}
	ga, gb := &tsGroup{}, &tsGroup{}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := ra.group(ga); err != nil {
			return nil, err
		}
		if err := rb.group(gb); err != nil {
			return nil, err
		}
		if ga.empty() && gb.empty() {
			break
		}
		switch {
		case gb.empty() || !ga.empty() && ga.ts < gb.ts:
			for _, r := range ga.rows {
				d.removed(r)
			}
			ga.rows = ga.rows[:0]
		case ga.empty() || gb.ts < ga.ts:
			for _, r := range gb.rows {
				d.added(r)
			}
			gb.rows = gb.rows[:0]
		default:
			d.matchGroup(ga.rows, gb.rows)
			ga.rows, gb.rows = ga.rows[:0], gb.rows[:0]
		}
	}
	d.Unchanged = d.RowsTo - d.Added - d.Changed
	return d, nil
}

// rowRef is one row of a batch.
type rowRef struct {
	b *formats.Batch
	i int
}

func (r rowRef) csv() string {
	line := formats.AppendCSVRows(nil, r.b.Slice(r.i, r.i+1))
	return strings.TrimSuffix(string(line), "\n")
}

func (r rowRef) provider() string { return r.b.Providers()[r.i] }

func (d *Diff) added(r rowRef) {
	d.Added++
	if len(d.AddedRows) < DiffExamples {
		d.AddedRows = append(d.AddedRows, DiffRow{Row: r.csv(), Provider: r.provider()})
	}
}

func (d *Diff) removed(r rowRef) {
	d.Removed++
	if len(d.RemovedRows) < DiffExamples {
		d.RemovedRows = append(d.RemovedRows, DiffRow{Row: r.csv(), Provider: r.provider()})
	}
}

// matchGroup pairs the rows of one timestamp by key: symbol
// (timestamp_symbol), nothing more (timestamp_only), or every value
// (all_columns, where a differing row is a removal plus an addition).
func (d *Diff) matchGroup(as, bs []rowRef) {
	usedB := make([]bool, len(bs))
	for _, ra := range as {
		found := -1
		for j, rb := range bs {
			if usedB[j] {
				continue
			}
			var same bool
			switch d.Key {
			case "timestamp_only":
				same = true
			case "all_columns":
				same = formats.RowsEqual(ra.b, ra.i, rb.b, rb.i)
			default:
				same = ra.b.Symbols()[ra.i] == rb.b.Symbols()[rb.i]
			}
			if same {
				found = j
				break
			}
		}
		if found < 0 {
			d.removed(ra)
			continue
		}
		usedB[found] = true
		rb := bs[found]
		if formats.RowsEqual(ra.b, ra.i, rb.b, rb.i) {
			continue
		}
		d.Changed++
		if len(d.ChangedRows) < DiffExamples {
			var cols []string
			for c, f := range ra.b.Schema {
				one := func(x *formats.Batch, i int) *formats.Batch {
					return &formats.Batch{Schema: formats.Schema{f}, Cols: []formats.Column{sliceCol(x.Cols[c], f.Type, i)}}
				}
				if !formats.RowsEqual(one(ra.b, ra.i), 0, one(rb.b, rb.i), 0) {
					cols = append(cols, f.Name)
				}
			}
			d.ChangedRows = append(d.ChangedRows, DiffChange{Before: ra.csv(), After: rb.csv(),
				ProviderBefore: ra.provider(), ProviderAfter: rb.provider(), Columns: cols})
		}
	}
	for j, rb := range bs {
		if !usedB[j] {
			d.added(rb)
		}
	}
}

// sliceCol returns row i of a column as a one-value column.
func sliceCol(c formats.Column, t formats.Type, i int) formats.Column {
	var out formats.Column
	if c.Null != nil {
		out.Null = c.Null[i : i+1]
	}
	switch t {
	case formats.TypeTimestamp, formats.TypeInt64:
		out.Int = c.Int[i : i+1]
	case formats.TypeFloat64:
		out.Float = c.Float[i : i+1]
	case formats.TypeString:
		out.Str = c.Str[i : i+1]
	case formats.TypeBool:
		out.Bool = c.Bool[i : i+1]
	}
	return out
}

// tsGroup holds the rows of one timestamp.
type tsGroup struct {
	ts   int64
	rows []rowRef
}

func (g *tsGroup) empty() bool { return len(g.rows) == 0 }

// rowStream yields the rows of a version's partitions (except skipped ones)
// in order, reading one partition at a time.
type rowStream struct {
	s      *Store
	dir    string
	schema formats.Schema
	skip   map[string]bool
	parts  []metastore.Partition
	next   int // next partition to read
	cur    *formats.Batch
	pos    int
}

// group fills g with the rows of the next timestamp unless it already holds
// some. Rows of one timestamp never span partitions (partitions are time
// buckets).
func (r *rowStream) group(g *tsGroup) error {
	if !g.empty() {
		return nil
	}
	for r.cur == nil || r.pos >= r.cur.Len() {
		if r.next >= len(r.parts) {
			return nil
		}
		p := r.parts[r.next]
		r.next++
		if r.skip[p.Path] {
			continue
		}
		b, err := r.s.readPartition(r.dir, p)
		if err != nil {
			return err
		}
		if b, err = formats.Conform(b, r.schema); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, p.Path, err)
		}
		r.cur, r.pos = b, 0
	}
	ts := r.cur.Timestamps()
	g.ts = ts[r.pos]
	for r.pos < r.cur.Len() && ts[r.pos] == g.ts {
		g.rows = append(g.rows, rowRef{r.cur, r.pos})
		r.pos++
	}
	return nil
}
