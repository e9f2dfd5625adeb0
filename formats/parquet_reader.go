package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// source is one output column and where its values come from.
type source struct {
	out  int       // index in the output schema
	info *leafInfo // nil: synthesized (symbol/provider)
	cur  colCursor
	// parse is set for a string column read as timestamps.
	parse bool
	// epoch is set for an integer column read as timestamps (unit inferred
	// from magnitude).
	epoch bool
}

type parquetDecoder struct {
	file    *parquet.File
	opt     Options
	name    string
	schema  Schema
	srcs    []*source
	header  []SourceColumn
	rg      int   // current row group
	rgLeft  int64 // rows left in the current row group
	row     int64 // rows read so far (for Line)
	stats   Stats
	first   *ParseError
	done    bool
	scratch *Batch
	lowered map[string]string
	vendor  string   // provider of rows when the file has no provider column
	dst     dstInfer // resolves ambiguous local times under AmbiguousInfer
}

// OpenParquet streams bars from an arbitrary Parquet file. Columns are mapped
// with NormalizeName; pandas index columns are recognized. See the package
// documentation for the type mapping.
func OpenParquet(r io.ReaderAt, size int64, opt Options) (dec Decoder, err error) {
	name := opt.File
	if name == "" {
		name = "input"
	}
	defer recoverParquet(name, &err)
	f, err := openParquetFile(r, size, name, opt.batchLimit())
	if err != nil {
		return nil, err
	}
	leaves, nested, err := flatLeaves(f.Metadata())
	if err != nil {
		return nil, fmt.Errorf("%s: corrupt Parquet schema: %v: %w", name, err, ErrUnsupported)
	}
	if len(nested) > 0 {
		return nil, fmt.Errorf("%s: nested or repeated column(s) %s cannot be read as bars: %w", name, strings.Join(nested, ", "), ErrUnsupported)
	}
	if opt.BatchRows <= 0 {
		opt.BatchRows = 1 << 16
	}
	d := &parquetDecoder{file: f, opt: opt, name: name, rg: -1}
	if err := d.mapColumns(leaves, pandasIndexColumns(f)); err != nil {
		return nil, err
	}
	return d, nil
}

// pandasIndexColumns returns the names pandas stored its index under
// (key/value metadata "pandas", field index_columns; RangeIndex entries are
// objects and have no column).
func pandasIndexColumns(f *parquet.File) map[string]bool {
	meta, ok := f.Lookup("pandas")
	if !ok {
		return nil
	}
	var pm struct {
		IndexColumns []json.RawMessage `json:"index_columns"`
	}
	if json.Unmarshal([]byte(meta), &pm) != nil {
		return nil
	}
	out := map[string]bool{}
	for _, raw := range pm.IndexColumns {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out[s] = true
		}
	}
	return out
}

func isIntConv(c conversion) bool {
	return c == convInt32 || c == convUint32 || c == convInt64 || c == convUint64
}

func (d *parquetDecoder) mapColumns(leaves []leafInfo, pandasIndex map[string]bool) error {
	h := headerSpec{file: d.name, names: make([]string, len(leaves)), indexTS: -1, provider: d.opt.Provider}
	drop := make([]bool, len(leaves))
	for i := range leaves {
		li := &leaves[i]
		h.names[i] = li.Name
		norm := NormalizeName(li.Name)
		if li.Name == "__index_level_0__" || pandasIndex[li.Name] {
			if norm != ColTimestamp {
				// A timestamp-typed index is the timestamp when no column is.
				if li.Type == TypeTimestamp && h.indexTS < 0 {
					h.indexTS = i
				}
				if li.Type == TypeTimestamp || isIntConv(li.Conv) || li.Name == "__index_level_0__" {
					drop[i] = true
				}
			}
		}
		if isIndexName(li.Name) && isIntConv(li.Conv) {
			drop[i] = true // a RangeIndex written as a column
		}
	}
	h.skip = func(i int) bool { return drop[i] }
	m, err := mapHeader(h)
	if err != nil {
		return err
	}
	// A present but unreadable required column is the better reason: it
	// names what the file actually holds.
	for _, i := range append([]int{m.tsCol, m.volCol}, m.price[:]...) {
		if i >= 0 && leaves[i].Conv == convUnsupported {
			li := &leaves[i]
			return fmt.Errorf("%s: column %q is %s: %w", d.name, li.Name, li.Why, ErrUnsupported)
		}
	}
	if err := m.checkRequired(h); err != nil {
		return err
	}
	d.stats.Vendor = m.vendor
	d.vendor = m.vendor
	unsupported := func(li *leafInfo, want string) error {
		why := li.Why
		if why == "" {
			why = li.Type.String()
		}
		return fmt.Errorf("%s: column %q is %s, want %s: %w", d.name, li.Name, why, want, ErrUnsupported)
	}
	d.header = make([]SourceColumn, NumCanonical)
	add := func(out int, li *leafInfo) *source {
		s := &source{out: out, info: li}
		s.cur.info = li
		d.srcs = append(d.srcs, s)
		if out < NumCanonical {
			d.header[out] = SourceColumn{Pos: li.Leaf + 1, Name: li.Name}
		}
		return s
	}
	// Canonical columns.
	ts := &leaves[m.tsCol]
	switch {
	case ts.Type == TypeTimestamp:
		add(IdxTimestamp, ts)
	case ts.Type == TypeString:
		add(IdxTimestamp, ts).parse = true
	case isIntConv(ts.Conv):
		add(IdxTimestamp, ts).epoch = true
	default:
		return unsupported(ts, "a timestamp")
	}
	for k := range m.price {
		li := &leaves[m.price[k]]
		if li.Type != TypeFloat64 && li.Type != TypeInt64 {
			return unsupported(li, "a number")
		}
		add(IdxOpen+k, li)
	}
	vol := &leaves[m.volCol]
	volType := TypeFloat64
	switch vol.Type {
	case TypeInt64:
		volType = TypeInt64
	case TypeFloat64:
	default:
		return unsupported(vol, "a number")
	}
	add(IdxVolume, vol)
	for _, c := range []struct{ out, src int }{{IdxSymbol, m.symCol}, {IdxProvider, m.provCol}} {
		if c.src < 0 {
			continue
		}
		li := &leaves[c.src]
		if li.Type != TypeString {
			return unsupported(li, "text")
		}
		if c.out == IdxProvider && d.opt.Provider != "" {
			continue
		}
		add(c.out, li)
	}
	d.schema = BaseSchema(volType)
	for _, e := range m.extras {
		li := &leaves[e.src]
		if li.Conv == convUnsupported {
			return unsupported(li, "a number, text, boolean or timestamp")
		}
		d.schema = append(d.schema, Field{Name: e.name, Type: li.Type})
		add(len(d.schema)-1, li)
	}
	return nil
}

func (d *parquetDecoder) Schema() Schema { return d.schema }
func (d *parquetDecoder) Stats() Stats   { return d.stats }

func (d *parquetDecoder) Close() error {
	for _, s := range d.srcs {
		s.cur.close()
	}
	return nil
}

var (
	errNullValue  = errors.New("missing value (null)")
	errEpochRange = errors.New("epoch number out of range")
)

// Next returns the next batch of at most Options.BatchRows rows.
func (d *parquetDecoder) Next() (b *Batch, err error) {
	defer recoverParquet(d.name, &err)
	for {
		if d.done {
			if d.stats.OHLCViolations > 0 && d.opt.OHLCCheck != OHLCWarn {
				return nil, &OHLCError{File: d.name, Count: d.stats.OHLCViolations, First: d.first}
			}
			return nil, io.EOF
		}
		raw, n, err := d.fill()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		b, err := d.finish(raw, n)
		if err != nil {
			return nil, err
		}
		if b.Len() == 0 {
			continue
		}
		d.stats.Rows += int64(b.Len())
		return b, nil
	}
}

// fill reads up to BatchRows rows of every source column, crossing row
// groups as needed. It sets d.done at the end of the file.
func (d *parquetDecoder) fill() ([]Column, int, error) {
	want := d.opt.BatchRows
	limit := int64(d.opt.batchLimit())
	raw := make([]Column, len(d.srcs))
	counted := make([]int, len(d.srcs)) // values of raw[i] already in bytes
	var bytes int64
	groups := d.file.RowGroups()
	n := 0
	for n < want {
		if d.rgLeft == 0 {
			d.rg++
			if d.rg >= len(groups) {
				d.done = true
				break
			}
			d.rgLeft = groups[d.rg].NumRows()
			var resident int64
			for _, s := range d.srcs {
				s.cur.maxValue = d.opt.recordLimit()
				s.cur.deep = true
				if err := s.cur.reset(d.file, d.rg, s.info.Leaf); err != nil {
					return nil, 0, fmt.Errorf("%s: row group %d: %v: %w", d.name, d.rg, err, ErrUnsupported)
				}
				resident += s.cur.resident
			}
			if resident > limit {
				return nil, 0, &ParseError{File: d.name, Line: d.row + int64(n) + 1, Err: fmt.Errorf("%w: row group %d: the pages of its columns hold %d bytes at once, more than the batch limit of %s (MaxBatchBytes)", ErrTooLarge, d.rg, resident, sizeText(int(limit)))}
			}
			continue
		}
		k := int(min(int64(want-n), d.rgLeft))
		for i, s := range d.srcs {
			for got := 0; got < k; {
				m, err := s.cur.read(&raw[i], k-got)
				if err == io.EOF {
					return nil, 0, fmt.Errorf("%s: row group %d: column %q has fewer values than the row group's %d rows: %w", d.name, d.rg, s.info.Name, d.file.RowGroups()[d.rg].NumRows(), ErrUnsupported)
				}
				if errors.Is(err, ErrTooLarge) {
					return nil, 0, &ParseError{File: d.name, Line: d.row + int64(n+got) + 1, Column: s.info.Leaf + 1, Name: s.info.Name, Err: err}
				}
				if err != nil {
					if errors.Is(err, ErrUnsupported) {
						return nil, 0, fmt.Errorf("%s: row group %d: %w", d.name, d.rg, err)
					}
					return nil, 0, fmt.Errorf("%s: row group %d: column %q: %v: %w", d.name, d.rg, s.info.Name, err, ErrUnsupported)
				}
				got += m
			}
			c := &raw[i]
			l := c.Len(s.info.Type)
			if s.info.Type == TypeString {
				for _, v := range c.Str[counted[i]:] {
					bytes += int64(len(v)) + 16
				}
			} else {
				bytes += 8 * int64(l-counted[i])
			}
			counted[i] = l
			if bytes > limit {
				return nil, 0, &ParseError{File: d.name, Line: d.row + int64(n+k), Column: s.info.Leaf + 1, Name: s.info.Name, Err: errBatchLimit(int(limit), n+k)}
			}
		}
		n += k
		d.rgLeft -= int64(k)
	}
	return raw, n, nil
}

// finish turns the raw source columns into a canonical batch: timestamp
// conversion, null rules, symbol/provider, row numbers and validation.
func (d *parquetDecoder) finish(raw []Column, n int) (*Batch, error) {
	b := &Batch{Schema: d.schema, Cols: make([]Column, len(d.schema))}
	first := d.row + 1
	d.row += int64(n)
	perr := func(out, i int, v string, err error) *ParseError {
		pe := &ParseError{File: d.name, Line: first + int64(i), Name: d.schema[out].Name, Value: v, Err: err}
		for _, s := range d.srcs {
			if s.out == out {
				pe.Column, pe.Name = s.info.Leaf+1, s.info.Name
			}
		}
		return pe
	}
	loc := d.opt.Location
	infer := d.opt.Ambiguous == AmbiguousInfer
	var amb map[int]int64 // under infer: ambiguous rows -> their later instant
	// local keeps an ambiguous canonical timestamp for inference.
	local := func(out, i int, early, late int64, err error) error {
		if errors.Is(err, errAmbiguous) && infer && out == IdxTimestamp {
			if amb == nil {
				amb = map[int]int64{}
			}
			amb[i] = late
			return nil
		}
		return err
	}
	for k, s := range d.srcs {
		col := raw[k]
		switch {
		case s.parse:
			ints := make([]int64, n)
			for i, str := range col.Str {
				if col.IsNull(i) {
					continue
				}
				v, late, err := parseTimestampLate(str, loc)
				if err = local(s.out, i, v, late, err); err != nil {
					return nil, perr(s.out, i, str, err)
				}
				ints[i] = v
			}
			col = Column{Int: ints, Null: col.Null}
		case s.epoch:
			for i, v := range col.Int {
				if col.IsNull(i) {
					continue
				}
				ns, ok := epochToNanos(v)
				if !ok {
					return nil, perr(s.out, i, fmt.Sprint(v), errEpochRange)
				}
				col.Int[i] = ns
			}
		case s.info.Type == TypeTimestamp && !s.info.UTC && isZoned(loc):
			for i, v := range col.Int {
				if col.IsNull(i) {
					continue
				}
				sec, nsec := v/1e9, v%1e9
				if nsec < 0 {
					sec, nsec = sec-1, nsec+1e9
				}
				u, late, err := localToUTC(sec, loc)
				if err = local(s.out, i, u*1e9+nsec, late*1e9+nsec, err); err != nil {
					return nil, perr(s.out, i, string(appendCSVTimestamp(nil, v)), err)
				}
				col.Int[i] = u*1e9 + nsec
			}
		}
		if d.schema[s.out].Type == TypeFloat64 && s.info.Type == TypeInt64 {
			fl := make([]float64, n)
			for i, v := range col.Int {
				fl[i] = float64(v)
			}
			col = Column{Float: fl, Null: col.Null}
		}
		b.Cols[s.out] = col
	}
	// Symbol and provider when not read from the file.
	if b.Cols[IdxSymbol].Str == nil {
		b.Cols[IdxSymbol].Str = repeatString(d.opt.Symbol, n)
	} else {
		for i, v := range b.Cols[IdxSymbol].Str {
			if strings.TrimSpace(v) == "" && !b.Cols[IdxSymbol].IsNull(i) {
				return nil, perr(IdxSymbol, i, v, errEmptySymbol)
			}
		}
	}
	if infer {
		ts, syms := b.Cols[IdxTimestamp].Int, b.Cols[IdxSymbol].Str
		for i := range ts {
			if late, ok := amb[i]; ok {
				v, err := d.dst.pick(ts[i], ts[i], late, syms[i])
				if err != nil {
					return nil, perr(IdxTimestamp, i, string(appendCSVTimestamp(nil, ts[i])), err)
				}
				ts[i] = v
			} else if !b.Cols[IdxTimestamp].IsNull(i) {
				d.dst.plain(ts[i])
			}
		}
	}
	switch {
	case d.opt.Provider != "":
		b.Cols[IdxProvider].Str = repeatString(d.opt.Provider, n)
	case b.Cols[IdxProvider].Str == nil:
		b.Cols[IdxProvider].Str = repeatString(d.vendor, n)
	default:
		p := &b.Cols[IdxProvider]
		if d.lowered == nil {
			d.lowered = map[string]string{}
		}
		for i, v := range p.Str {
			l, ok := d.lowered[v]
			if !ok {
				l = strings.ToLower(v)
				if len(d.lowered) < 1024 {
					d.lowered[v] = l
				}
			}
			p.Str[i] = l
		}
		p.Null = nil // a null provider is the empty provider
	}
	// Null rules: a row whose four prices are all null is an empty bar and
	// is skipped; any other null in a canonical column is an error.
	var keep []int
	for i := 0; i < n; i++ {
		nulls := 0
		for c := IdxOpen; c <= IdxClose; c++ {
			if b.Cols[c].IsNull(i) {
				nulls++
			}
		}
		if nulls == 4 {
			if keep == nil {
				keep = make([]int, 0, n)
				for j := 0; j < i; j++ {
					keep = append(keep, j)
				}
			}
			d.stats.SkippedEmpty++
			continue
		}
		for c := IdxTimestamp; c < NumCanonical; c++ {
			if b.Cols[c].IsNull(i) {
				return nil, perr(c, i, "", errNullValue)
			}
		}
		if keep != nil {
			keep = append(keep, i)
		}
	}
	b.Line = make([]int64, n)
	for i := range b.Line {
		b.Line[i] = first + int64(i)
	}
	if keep != nil {
		b = b.Take(keep)
	}
	for c := 0; c < NumCanonical; c++ {
		b.Cols[c].Null = nil
	}
	if err := ValidateBatch(b, d.name, d.header, &d.stats, &d.first); err != nil {
		return nil, err
	}
	return b, nil
}

func repeatString(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// epochToNanos reads an integer timestamp without a declared unit by its
// magnitude: seconds, milliseconds, microseconds or nanoseconds since the
// epoch (the digit counts of ParseTimestamp's epoch forms).
func epochToNanos(v int64) (int64, bool) {
	a := v
	if a < 0 {
		a = -a
	}
	var mul int64
	switch {
	case a < 1e11:
		mul = 1e9
	case a < 1e14:
		mul = 1e6
	case a < 1e17:
		mul = 1e3
	default:
		return v, true
	}
	if a > math.MaxInt64/mul {
		return 0, false
	}
	return v * mul, true
}
