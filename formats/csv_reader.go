package formats

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Errors of the CSV decoder, wrapped in *ParseError.
var (
	errBadNumber      = errors.New("not a number")
	errFractionalInt  = errors.New("fractional value in a column typed int64 from the first batch of rows; not truncated")
	errBadBool        = errors.New("not true/false")
	errMissingValue   = errors.New("empty value in a row whose other price fields are present")
	errMissingVolume  = errors.New("empty volume in a row with prices")
	errFieldCount     = errors.New("wrong number of fields")
	errDuplicateField = errors.New("duplicate column")
	errEmptySymbol    = errors.New("empty symbol: a file with a symbol column must name the symbol on every row (the dataset's name is the symbol only of files without a symbol column)")
)

const defaultBatchRows = 64 << 10

// csvDecoder implements Decoder for CSV text.
type csvDecoder struct {
	opt       Options
	sc        *RecordScanner
	batchRows int

	header  []string // source header as written
	nfields int
	columnMap

	schema   Schema
	srcCols  []SourceColumn // for the canonical columns
	provider string         // constant provider when no column
	stats    Stats

	first *rawRows // buffered first batch until Next returns it
	final error    // io.EOF or the error that ended reading, once seen

	// A reader goroutine scans records into rawRows while the caller's
	// goroutine converts the previous ones: the two halves of the work
	// are about equal, and the machine has more than one core.
	full      chan *rawRows // scanned batches, in order; closed when the reader stops
	free      chan *rawRows // converted batches returned for reuse
	done      chan struct{} // closed to stop the reader
	stopOnce  sync.Once
	err       error // sticky
	firstOHLC *ParseError

	dst     dstInfer            // resolves ambiguous local times under AmbiguousInfer
	footer  bool                // a vendor footer was skipped (read before the reader goroutine starts)
	strs    map[string]string   // interned symbol, provider and extra strings
	recent  [internSlots]string // strs values by a cheap hash of their bytes, checked first
	provRaw []byte              // the provider cell last lowered and interned, as written
	provStr string              // its interned lower-case form
	scratch []byte
	row     [][]byte

	// The last timestamp text parsed without error and its instants.
	tsText       []byte
	tsNS, tsLate int64
	tsOK         bool
}

// OpenCSV streams bars from CSV text (already decompressed). Header
// detection, column mapping, vendor detection, timestamp parsing and
// validation happen here.
func OpenCSV(r io.Reader, opt Options) (Decoder, error) {
	d := &csvDecoder{opt: opt, sc: NewRecordScanner(r), batchRows: opt.BatchRows, strs: make(map[string]string)}
	d.sc.SetMaxRecordBytes(opt.MaxRecordBytes)
	if d.batchRows <= 0 {
		d.batchRows = defaultBatchRows
	}
	if err := d.readHeader(); err != nil {
		return nil, err
	}
	if err := d.fillFirst(); err != nil {
		return nil, err
	}
	if err := d.buildSchema(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *csvDecoder) Schema() Schema { return d.schema }
func (d *csvDecoder) Stats() Stats   { return d.stats }

// Close stops the reader goroutine and waits for it.
func (d *csvDecoder) Close() error {
	d.stop()
	if d.full != nil {
		for range d.full {
		}
	}
	return nil
}

func (d *csvDecoder) stop() {
	d.stopOnce.Do(func() {
		if d.done != nil {
			close(d.done)
		}
	})
}

func (d *csvDecoder) perr(line int64, col int, v []byte, err error) *ParseError {
	pe := &ParseError{File: d.opt.File, Line: line, Err: err}
	if col >= 0 {
		pe.Column = col + 1
		if col < len(d.header) {
			pe.Name = d.header[col]
		}
	}
	if v != nil {
		pe.Value = string(v)
	}
	return pe
}

func (d *csvDecoder) notBars(format string, args ...any) error {
	return notBars(d.opt.File, format, args...)
}

// withFile fills in the file name of a scanner error.
func (d *csvDecoder) withFile(err error) error {
	var pe *ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: reading: %w", fileName(d.opt), err)
	}
	if pe.File == "" {
		pe.File = d.opt.File
		if pe.Column > 0 && pe.Column <= len(d.header) {
			pe.Name = d.header[pe.Column-1]
		}
	}
	return err
}

// Next returns the next batch of up to opt.BatchRows rows.
func (d *csvDecoder) Next() (*Batch, error) {
	if d.err != nil {
		return nil, d.err
	}
	b, err := d.next()
	if err != nil {
		d.err = err
		return nil, err
	}
	return b, nil
}

func (d *csvDecoder) next() (*Batch, error) {
	for {
		var r *rawRows
		switch {
		case d.first != nil:
			if d.first.err == nil {
				d.startReader()
			}
			r, d.first = d.first, nil
		case d.final != nil:
			return nil, d.finish()
		default:
			var ok bool
			if r, ok = <-d.full; !ok {
				return nil, d.finish()
			}
		}
		b := pooledBatch(d.schema, r.len())
		for i := 0; i < r.len(); i++ {
			d.row = r.row(i, d.row)
			if err := d.appendRow(b, d.row, r.lines[i]); err != nil {
				d.stop()
				return nil, err
			}
		}
		if r.err != nil {
			d.final = r.err
		}
		if d.free != nil {
			select {
			case d.free <- r:
			default:
			}
		}
		if len(b.Line) == 0 {
			ReleaseBatch(b)
			continue
		}
		if err := ValidateBatch(b, d.opt.File, d.srcCols, &d.stats, &d.firstOHLC); err != nil {
			d.stop()
			return nil, err
		}
		d.stats.Rows += int64(len(b.Line))
		return b, nil
	}
}

// finish is what Next returns after the last batch.
func (d *csvDecoder) finish() error {
	if d.final != nil && d.final != io.EOF {
		return d.final
	}
	if d.stats.OHLCViolations > 0 && d.opt.OHLCCheck != OHLCWarn {
		return &OHLCError{File: d.opt.File, Count: d.stats.OHLCViolations, First: d.firstOHLC}
	}
	return io.EOF
}

// appendRow converts one record into b, or skips it when its prices are all
// empty.
func (d *csvDecoder) appendRow(b *Batch, f [][]byte, line int64) error {
	p := &d.price
	if isNullText(f[p[0]]) && isNullText(f[p[1]]) && isNullText(f[p[2]]) && isNullText(f[p[3]]) {
		d.stats.SkippedEmpty++
		return nil
	}
	sym := d.opt.Symbol
	if d.symCol >= 0 {
		s := trimBytes(f[d.symCol])
		if len(s) == 0 {
			return d.perr(line, d.symCol, f[d.symCol], errEmptySymbol)
		}
		sym = d.intern(s)
	}
	ts, late, err := d.timestamp(f)
	if err == nil && d.opt.Ambiguous == AmbiguousInfer {
		d.dst.plain(ts)
	}
	if errors.Is(err, errAmbiguous) && d.opt.Ambiguous == AmbiguousInfer {
		ts, err = d.dst.pick(ts, ts, late, sym)
	}
	if err == nil && ts%1000 != 0 {
		err = errSubMicro
	}
	if err != nil {
		v := f[d.tsCol]
		if d.timeCol >= 0 {
			v = d.scratch
		}
		return d.perr(line, d.tsCol, v, err)
	}
	c := b.Cols
	c[IdxTimestamp].Int = append(c[IdxTimestamp].Int, ts)
	for k := 0; k < 4; k++ {
		v := f[p[k]]
		x, ok := parseFloatFast(v)
		if !ok {
			if x, ok = parseNumber(v, false, &d.scratch); !ok {
				if len(trimBytes(v)) == 0 {
					return d.perr(line, p[k], v, errMissingValue)
				}
				return d.perr(line, p[k], v, errBadNumber)
			}
		}
		c[IdxOpen+k].Float = append(c[IdxOpen+k].Float, x)
	}
	v := f[d.volCol]
	vc := &c[IdxVolume]
	if len(trimBytes(v)) == 0 {
		return d.perr(line, d.volCol, v, errMissingVolume)
	}
	if d.schema[IdxVolume].Type == TypeInt64 {
		n, err := d.parseInt(v)
		if err != nil {
			return d.perr(line, d.volCol, v, err)
		}
		vc.Int = append(vc.Int, n)
	} else {
		x, ok := parseNumber(v, false, &d.scratch)
		if !ok {
			return d.perr(line, d.volCol, v, errBadNumber)
		}
		vc.Float = append(vc.Float, x)
	}
	c[IdxSymbol].Str = append(c[IdxSymbol].Str, sym)
	prov := d.provider
	if d.provCol >= 0 && d.opt.Provider == "" {
		prov = d.internLower(trimBytes(f[d.provCol]))
	}
	c[IdxProvider].Str = append(c[IdxProvider].Str, prov)
	for _, e := range d.extras {
		if err := d.appendExtra(&c[e.dst], d.schema[e.dst].Type, f[e.src], e.pct, len(b.Line)); err != nil {
			return d.perr(line, e.src, f[e.src], err)
		}
	}
	b.Line = append(b.Line, line)
	return nil
}

// timestamp parses the row's timestamp; for an ambiguous local time it
// returns both instants (see parseTimestampLate). Bars of several symbols
// repeat a timestamp on consecutive rows: the text of the last one parsed
// without error is kept, and the same text gives the same instants.
func (d *csvDecoder) timestamp(f [][]byte) (ns, late int64, err error) {
	text := f[d.tsCol]
	if d.timeCol >= 0 {
		d.scratch = append(d.scratch[:0], trimBytes(f[d.tsCol])...)
		d.scratch = append(d.scratch, ' ')
		d.scratch = append(d.scratch, trimBytes(f[d.timeCol])...)
		text = d.scratch
	}
	if d.tsOK && string(text) == string(d.tsText) {
		return d.tsNS, d.tsLate, nil
	}
	ns, late, err = parseTimestampLate(unsafeString(text), d.opt.Location)
	d.tsOK = err == nil
	if d.tsOK {
		d.tsText, d.tsNS, d.tsLate = append(d.tsText[:0], text...), ns, late
	}
	return ns, late, err
}

func (d *csvDecoder) parseInt(v []byte) (int64, error) {
	if n, ok := parseIntBytes(trimBytes(v)); ok {
		return n, nil
	}
	if _, ok := parseNumber(v, false, &d.scratch); ok {
		return 0, errFractionalInt
	}
	return 0, errBadNumber
}

// appendExtra converts one extra cell; row is the index it lands at.
func (d *csvDecoder) appendExtra(c *Column, t Type, v []byte, pct bool, row int) error {
	// Text keeps every value but the empty one; other types read the
	// spelled-out missing values (null, N/A) as null too. NaN stays a
	// float NaN, which the view prints back as NaN.
	null := len(trimBytes(v)) == 0
	var x float64
	switch {
	case t == TypeFloat64 && !null:
		var ok bool
		if x, ok = parseNumber(v, pct, &d.scratch); !ok {
			if !isNullText(v) {
				return errBadNumber
			}
			null = true
		}
	case t != TypeString:
		null = isNullText(v)
	}
	if null && c.Null == nil {
		c.Null = make([]bool, row, d.batchRows)
	}
	switch t {
	case TypeInt64:
		var n int64
		if !null {
			var err error
			if n, err = d.parseInt(v); err != nil {
				return err
			}
		}
		c.Int = append(c.Int, n)
	case TypeTimestamp:
		var ns int64
		if !null {
			// Extra timestamp columns print in UTC (AppendCSVRows).
			var err error
			if ns, err = parseTimestamp(unsafeString(v), nil); err != nil {
				return err
			}
		}
		c.Int = append(c.Int, ns)
	case TypeFloat64:
		c.Float = append(c.Float, x)
	case TypeBool:
		var b bool
		if !null {
			var ok bool
			if b, ok = parseBool(trimBytes(v)); !ok {
				return errBadBool
			}
		}
		c.Bool = append(c.Bool, b)
	case TypeString:
		s := ""
		if !null {
			s = d.intern(v)
		}
		c.Str = append(c.Str, s)
	}
	if c.Null != nil {
		c.Null = append(c.Null, null)
	}
	return nil
}

// maxInterned bounds the intern table; values past it are allocated each time.
const maxInterned = 1 << 14

// internSlots is the size of the direct-mapped cache in front of the
// intern table: a file's few symbols hit it without hashing the whole
// value or probing the map.
const internSlots = 64

func internSlot(b []byte) int {
	n := len(b)
	if n == 0 {
		return 0
	}
	return (n*31 + int(b[0])*7 + int(b[n/2])*3 + int(b[n-1])) & (internSlots - 1)
}

func (d *csvDecoder) intern(b []byte) string {
	slot := &d.recent[internSlot(b)]
	if *slot == string(b) {
		return *slot
	}
	s, ok := d.strs[string(b)]
	if !ok {
		s = string(b)
		if len(d.strs) < maxInterned {
			d.strs[s] = s
		}
	}
	*slot = s
	return s
}

func (d *csvDecoder) internLower(b []byte) string {
	if d.provRaw != nil && string(b) == string(d.provRaw) {
		return d.provStr
	}
	s := ""
	lower := true
	for _, c := range b {
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			lower = false
			break
		}
	}
	if lower {
		s = d.intern(b)
	} else {
		s = d.intern([]byte(strings.ToLower(string(b))))
	}
	d.provRaw, d.provStr = append(d.provRaw[:0], b...), s
	return s
}
