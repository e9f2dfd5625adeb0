package formats

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// maxRecordBytes bounds one CSV record so that a file without line breaks
// (a one-line JSON dump, a binary file) cannot exhaust memory.
const maxRecordBytes = 64 << 20

var errRecordTooLong = errors.New("record longer than 64 MiB")

// RecordScanner splits RFC 4180 text into records. It is the generic layer
// under OpenCSV: quoted fields, "" escapes, line breaks and commas inside
// quotes (kept verbatim, so a quoted CRLF stays CRLF), CRLF or LF record
// ends, a UTF-8 BOM, a missing final newline. Blank lines are skipped.
// Errors are *ParseError wrapping csv.ErrQuote or csv.ErrBareQuote with the
// line where the record starts and the 1-based field number.
type RecordScanner struct {
	r      *bufio.Reader
	line   int64 // lines consumed so far
	start  int64 // line where the current record starts
	fields [][]byte
	buf    []byte // unescaped fields of a record that had quotes
	ends   []int
	long   []byte // a line longer than the bufio buffer
	began  bool   // the BOM check has run
}

// NewRecordScanner returns a scanner reading from r.
func NewRecordScanner(r io.Reader) *RecordScanner {
	return &RecordScanner{r: bufio.NewReaderSize(r, 1<<20)}
}

// Line returns the 1-based line where the last record returned by Next starts.
func (s *RecordScanner) Line() int64 { return s.start }

// readLine returns the next line with its terminator. The slice is valid
// until the next call.
func (s *RecordScanner) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(s.long) > maxRecordBytes {
				return nil, errRecordTooLong
			}
			line, err = s.r.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if len(line) > 0 {
		s.line++
		if err == io.EOF {
			err = nil
		}
	}
	if !s.began {
		s.began = true
		line = bytes.TrimPrefix(line, []byte("\ufeff"))
	}
	return line, err
}

// lineBody strips the record terminator: "\n", "\r\n", or a final "\r".
func lineBody(line []byte) []byte {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return line[:n]
}

// Next returns the fields of the next record, valid until the next call, or
// io.EOF after the last one.
func (s *RecordScanner) Next() ([][]byte, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			if err == errRecordTooLong {
				return nil, &ParseError{Line: s.line + 1, Err: err}
			}
			return nil, err
		}
		body := lineBody(line)
		if len(body) == 0 {
			continue
		}
		s.start = s.line
		if bytes.IndexByte(body, '"') >= 0 {
			return s.parseQuoted(line)
		}
		s.fields = s.fields[:0]
		for {
			i := bytes.IndexByte(body, ',')
			if i < 0 {
				s.fields = append(s.fields, body)
				return s.fields, nil
			}
			s.fields = append(s.fields, body[:i])
			body = body[i+1:]
		}
	}
}

// parseQuoted handles a record with at least one quote, copying unescaped
// fields into s.buf. A quoted field may run over several lines.
func (s *RecordScanner) parseQuoted(line []byte) ([][]byte, error) {
	s.buf = s.buf[:0]
	s.ends = s.ends[:0]
	col := 1
	perr := func(err error) error { return &ParseError{Line: s.start, Column: col, Err: err} }
	pos := 0
	body := lineBody(line)
fields:
	for {
		if pos >= len(body) || body[pos] != '"' {
			rest := body[pos:]
			i := bytes.IndexByte(rest, ',')
			f := rest
			if i >= 0 {
				f = rest[:i]
			}
			if bytes.IndexByte(f, '"') >= 0 {
				return nil, perr(csv.ErrBareQuote)
			}
			s.buf = append(s.buf, f...)
			s.ends = append(s.ends, len(s.buf))
			if i < 0 {
				break fields
			}
			pos += i + 1
			col++
			continue
		}
		pos++ // opening quote
		for {
			i := bytes.IndexByte(line[pos:], '"')
			if i < 0 {
				// The field goes on past this line.
				s.buf = append(s.buf, line[pos:]...)
				if len(s.buf) > maxRecordBytes {
					return nil, perr(errRecordTooLong)
				}
				var err error
				line, err = s.readLine()
				if err == io.EOF || err == nil && len(line) == 0 {
					return nil, perr(csv.ErrQuote)
				}
				if err != nil {
					return nil, err
				}
				body = lineBody(line)
				pos = 0
				continue
			}
			s.buf = append(s.buf, line[pos:pos+i]...)
			pos += i + 1
			switch {
			case pos < len(body) && body[pos] == '"':
				s.buf = append(s.buf, '"')
				pos++
			case pos < len(body) && body[pos] == ',':
				s.ends = append(s.ends, len(s.buf))
				pos++
				col++
				continue fields
			case pos >= len(body):
				s.ends = append(s.ends, len(s.buf))
				break fields
			default:
				return nil, perr(csv.ErrQuote)
			}
		}
	}
	s.fields = s.fields[:0]
	prev := 0
	for _, e := range s.ends {
		s.fields = append(s.fields, s.buf[prev:e:e])
		prev = e
	}
	return s.fields, nil
}

// Errors of the CSV decoder, wrapped in *ParseError.
var (
	errBadNumber      = errors.New("not a number")
	errFractionalInt  = errors.New("fractional value in a column typed int64 from the first batch of rows; not truncated")
	errBadBool        = errors.New("not true/false")
	errMissingValue   = errors.New("empty value in a row whose other price fields are present")
	errMissingVolume  = errors.New("empty volume in a row with prices")
	errFieldCount     = errors.New("wrong number of fields")
	errDuplicateField = errors.New("duplicate column")
)

const defaultBatchRows = 64 << 10

// field roles: where a source field goes.
type role uint8

const (
	roleDrop role = iota
	roleTimestamp
	roleDate // Date half of a Date + Time pair
	roleTime // Time half
	rolePrice
	roleVolume
	roleSymbol
	roleProvider
	roleExtra
)

// extraCol maps a source field to an extra schema column.
type extraCol struct {
	src    int  // source field index
	dst    int  // schema index
	pct    bool // a trailing '%' is accepted
	indexy bool // named like a pandas RangeIndex; dropped when integer
}

// csvDecoder implements Decoder for CSV text.
type csvDecoder struct {
	opt       Options
	sc        *RecordScanner
	batchRows int

	header  []string // source header as written
	nfields int
	tsCol   int // source field of the timestamp, or of the date half
	timeCol int // source field of the time half, -1 when none
	price   [4]int
	volCol  int
	symCol  int // -1 when absent
	provCol int // -1 when absent
	extras  []extraCol

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

	strs    map[string]string // interned symbol, provider and extra strings
	scratch []byte
	row     [][]byte
}

// OpenCSV streams bars from CSV text (already decompressed). Header
// detection, column mapping, vendor detection, timestamp parsing and
// validation happen here.
func OpenCSV(r io.Reader, opt Options) (Decoder, error) {
	d := &csvDecoder{opt: opt, sc: NewRecordScanner(r), batchRows: opt.BatchRows, strs: make(map[string]string)}
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
	file := d.opt.File
	if file == "" {
		file = "input"
	}
	return fmt.Errorf("%s: %w: %s", file, ErrNotBars, fmt.Sprintf(format, args...))
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

// readHeader finds the header line (skipping a one-line preamble such as
// CryptoDataDownload's "Created on ..."), or takes opt.Header for a
// headerless file, and maps the columns.
func (d *csvDecoder) readHeader() error {
	rec, err := d.sc.Next()
	if err == io.EOF {
		return d.notBars("no rows (empty CSV)")
	}
	if err != nil {
		return d.withFile(err)
	}
	hdr := copyStrings(rec)
	hdrLine := d.sc.Line()
	if looksLikeData(rec) {
		if len(d.opt.Header) == 0 {
			return d.notBars("no header: line %d looks like data (%s); name the columns or write into an existing dataset", hdrLine, clip(strings.Join(hdr, ",")))
		}
		d.first = newRawRows(len(rec))
		d.first.add(rec, hdrLine)
		hdr = append([]string(nil), d.opt.Header...)
	} else if countRecognized(hdr) < 2 {
		// A preamble line: the header may be the next line.
		next, err := d.sc.Next()
		if err != nil && err != io.EOF {
			return d.withFile(err)
		}
		if err == nil && countRecognized(next) >= 4 {
			hdr = copyStrings(next)
		} else if err == nil {
			d.first = newRawRows(len(rec))
			d.first.add(next, d.sc.Line())
		}
	}
	d.header = hdr
	d.nfields = len(hdr)
	if d.first != nil && d.first.nf != d.nfields {
		return d.perr(d.first.lines[0], -1, nil, fmt.Errorf("%w: %d, header has %d", errFieldCount, d.first.nf, d.nfields))
	}
	return d.mapColumns()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func copyStrings(rec [][]byte) []string {
	out := make([]string, len(rec))
	for i, f := range rec {
		out[i] = string(f)
	}
	return out
}

func countRecognized[T ~string | ~[]byte](rec []T) int {
	n := 0
	for _, f := range rec {
		switch NormalizeName(string(f)) {
		case ColTimestamp, ColOpen, ColHigh, ColLow, ColClose, ColVolume, ColSymbol:
			n++
		}
	}
	return n
}

// looksLikeData reports whether a first line is a data row rather than a
// header: no field is a known column name, the first field starts with a
// digit (a date, an epoch, a tick time) and at least two others are numbers.
func looksLikeData(rec [][]byte) bool {
	if len(rec) < 3 || countRecognized(rec) > 0 {
		return false
	}
	first := trimBytes(rec[0])
	if len(first) == 0 || first[0] < '0' || first[0] > '9' {
		return false
	}
	nums := 0
	for _, f := range rec[1:] {
		if _, ok := parseFloatFast(trimBytes(f)); ok {
			nums++
		}
	}
	return nums >= 2
}

// isIndexName reports a pandas or R row-name header: "", "Unnamed: 0", "index".
func isIndexName(h string) bool {
	f := foldName(h)
	return f == "" || f == "index" || strings.HasPrefix(f, "unnamed:")
}

// isTickerName reports a header that looks like a ticker symbol (AAPL, ^GSPC,
// BRK.B) or an ASSET:field pair, the columns of a wide table.
func isTickerName(h string) bool {
	h = strings.TrimSpace(h)
	if strings.Contains(h, ":") {
		return true
	}
	if h == "" || len(h) > 10 {
		return false
	}
	letter := false
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9' || c == '^' || c == '.' || c == '-' || c == '=':
		default:
			return false
		}
	}
	return letter
}

// mapColumns assigns a role to every source field.
func (d *csvDecoder) mapColumns() error {
	d.tsCol, d.timeCol, d.volCol, d.symCol, d.provCol = -1, -1, -1, -1, -1
	d.price = [4]int{-1, -1, -1, -1}
	canon := make([]string, len(d.header))
	for i, h := range d.header {
		canon[i] = NormalizeName(h)
	}
	// A Date + Time pair joins into the timestamp.
	dateCol, timeCol := -1, -1
	for i, h := range d.header {
		switch foldName(h) {
		case "date":
			if dateCol < 0 {
				dateCol = i
			}
		case "time":
			if timeCol < 0 {
				timeCol = i
			}
		}
	}
	if dateCol >= 0 && timeCol >= 0 {
		d.tsCol, d.timeCol = dateCol, timeCol
	}
	taken := map[string]bool{}
	names := map[string]bool{}
	var extraSrc []int
	for i := range d.header {
		if i == d.tsCol || i == d.timeCol {
			continue
		}
		c := canon[i]
		dup := false
		switch c {
		case ColTimestamp:
			if d.tsCol < 0 {
				d.tsCol = i
				continue
			}
			dup = true
		case ColOpen, ColHigh, ColLow, ColClose:
			k := map[string]int{ColOpen: 0, ColHigh: 1, ColLow: 2, ColClose: 3}[c]
			if d.price[k] < 0 {
				d.price[k] = i
				continue
			}
			dup = true
		case ColVolume:
			if d.volCol < 0 {
				d.volCol = i
				continue
			}
			dup = true
		case ColSymbol:
			if d.symCol < 0 {
				d.symCol = i
				continue
			}
			dup = true
		case ColProvider:
			if d.provCol < 0 {
				d.provCol = i
				continue
			}
			dup = true
		}
		if dup && foldName(d.header[i]) == c {
			return d.perr(d.sc.Line(), i, []byte(d.header[i]), fmt.Errorf("%w %q in the header", errDuplicateField, c))
		}
		extraSrc = append(extraSrc, i)
	}
	// A leading unnamed column (pandas index) is the timestamp when there is
	// no other one.
	if d.tsCol < 0 && len(extraSrc) > 0 && extraSrc[0] == 0 && isIndexName(d.header[0]) {
		d.tsCol = 0
		extraSrc = extraSrc[1:]
	}
	if err := d.checkRequired(); err != nil {
		return err
	}
	for _, n := range []string{ColTimestamp, ColOpen, ColHigh, ColLow, ColClose, ColVolume, ColSymbol, ColProvider} {
		names[n] = true
	}
	for _, i := range extraSrc {
		name := foldName(d.header[i])
		if name == "" || strings.HasPrefix(name, "unnamed:") {
			name = fmt.Sprintf("column_%d", i+1)
		}
		if c := canon[i]; !names[c] && !taken[c] && c != ColTimestamp {
			name = c // keep aliases such as adj_close and pct_chg
		}
		base := name
		for k := 2; names[name] || taken[name]; k++ {
			name = fmt.Sprintf("%s_%d", base, k)
		}
		taken[name] = true
		pct := strings.Contains(name, "pct") || strings.Contains(name, "%")
		d.extras = append(d.extras, extraCol{src: i, pct: pct, indexy: isIndexName(d.header[i])})
		d.schema = append(d.schema, Field{Name: name}) // types filled by buildSchema
	}
	d.detectVendor(canon)
	return nil
}

func (d *csvDecoder) checkRequired() error {
	var missing []string
	if d.tsCol < 0 {
		missing = append(missing, ColTimestamp)
	}
	for k, n := range []string{ColOpen, ColHigh, ColLow, ColClose} {
		if d.price[k] < 0 {
			missing = append(missing, n)
		}
	}
	if d.volCol < 0 {
		missing = append(missing, ColVolume)
	}
	if len(missing) == 0 {
		return nil
	}
	if d.price[0] < 0 && d.price[1] < 0 && d.price[2] < 0 {
		for _, h := range d.header {
			if f := foldName(h); f == "bid" || f == "ask" {
				return d.notBars("looks like quotes or ticks (bid/ask columns), not OHLC bars (header %s)", clip(strings.Join(d.header, ",")))
			}
		}
		tickers := 0
		for i, h := range d.header {
			if i != d.tsCol && isTickerName(h) {
				tickers++
			}
		}
		if tickers >= 2 {
			return d.notBars("looks like a wide one-column-per-symbol table (header %s); write one symbol per file with open, high, low, close, volume columns", clip(strings.Join(d.header, ",")))
		}
	}
	var rec []string
	add := func(i int, n string) {
		if i >= 0 {
			rec = append(rec, fmt.Sprintf("%s=%q", n, d.header[i]))
		}
	}
	add(d.tsCol, ColTimestamp)
	for k, n := range []string{ColOpen, ColHigh, ColLow, ColClose} {
		add(d.price[k], n)
	}
	add(d.volCol, ColVolume)
	add(d.symCol, ColSymbol)
	recognized := "none"
	if len(rec) > 0 {
		recognized = strings.Join(rec, ", ")
	}
	return d.notBars("missing required column(s) %s; recognized: %s (header %s)", strings.Join(missing, ", "), recognized, clip(strings.Join(d.header, ",")))
}

// detectVendor recognizes Yahoo, IBKR and Barchart exports by their headers.
func (d *csvDecoder) detectVendor(canon []string) {
	if d.opt.Provider != "" {
		d.provider = strings.ToLower(strings.TrimSpace(d.opt.Provider))
		return
	}
	if d.provCol >= 0 {
		return
	}
	has := map[string]bool{}
	for _, h := range d.header {
		has[foldName(h)] = true
	}
	switch {
	case has["average"] && has["barcount"]:
		d.stats.Vendor = "ibkr"
	case has["last"] && has["change"] && has["%chg"]:
		d.stats.Vendor = "barchart"
	case has["adj_close"] && (has["date"] || has["datetime"]):
		d.stats.Vendor = "yahoo"
	}
	d.provider = d.stats.Vendor
}

// rawRows holds the first batch of records as text, so that column types
// can be inferred before any value is converted.
type rawRows struct {
	nf    int
	buf   []byte
	ends  []int
	lines []int64
	err   error // io.EOF or the error that ended the input after these rows
}

// sizedLike returns an empty rawRows with room for as much as r holds, so
// that reading the next batches does not grow buffers step by step.
func (r *rawRows) sizedLike() *rawRows {
	return &rawRows{nf: r.nf, buf: make([]byte, 0, cap(r.buf)), ends: make([]int, 0, cap(r.ends)), lines: make([]int64, 0, cap(r.lines))}
}

func (r *rawRows) reset() {
	r.buf, r.ends, r.lines, r.err = r.buf[:0], r.ends[:0], r.lines[:0], nil
}

func newRawRows(nf int) *rawRows { return &rawRows{nf: nf} }

func (r *rawRows) add(rec [][]byte, line int64) {
	for _, f := range rec {
		r.buf = append(r.buf, f...)
		r.ends = append(r.ends, len(r.buf))
	}
	r.lines = append(r.lines, line)
}

func (r *rawRows) len() int { return len(r.lines) }

func (r *rawRows) field(i, j int) []byte {
	k := i*r.nf + j
	start := 0
	if k > 0 {
		start = r.ends[k-1]
	}
	return r.buf[start:r.ends[k]:r.ends[k]]
}

func (r *rawRows) row(i int, dst [][]byte) [][]byte {
	dst = dst[:0]
	for j := 0; j < r.nf; j++ {
		dst = append(dst, r.field(i, j))
	}
	return dst
}

// isFooter reports vendor trailer lines, skipped wherever they appear.
func isFooter(rec [][]byte) bool {
	return len(rec) >= 1 && bytes.HasPrefix(bytes.TrimSpace(rec[0]), []byte("Downloaded from Barchart"))
}

// nextRecord returns the next data record, checking its field count.
func (d *csvDecoder) nextRecord() ([][]byte, error) {
	for {
		rec, err := d.sc.Next()
		if err != nil {
			if err == io.EOF {
				return nil, err
			}
			return nil, d.withFile(err)
		}
		if len(rec) != d.nfields {
			if isFooter(rec) {
				continue
			}
			return nil, d.perr(d.sc.Line(), -1, nil, fmt.Errorf("%w: %d, header has %d", errFieldCount, len(rec), d.nfields))
		}
		return rec, nil
	}
}

// fillFirst buffers the first batch of records.
func (d *csvDecoder) fillFirst() error {
	if d.first == nil {
		d.first = newRawRows(d.nfields)
	}
	d.fill(d.first)
	if d.first.err != nil && d.first.err != io.EOF {
		return d.first.err
	}
	return nil
}

// fill scans up to batchRows records into r; r.err records why it stopped
// short (io.EOF or an error).
func (d *csvDecoder) fill(r *rawRows) {
	for r.len() < d.batchRows {
		rec, err := d.nextRecord()
		if err != nil {
			r.err = err
			return
		}
		r.add(rec, d.sc.Line())
	}
}

// startReader runs the scanner in its own goroutine from the second batch on.
func (d *csvDecoder) startReader() {
	// Three buffers circulate (the first batch's among them), so memory
	// stays at three batches of text however long the input.
	d.full = make(chan *rawRows, 1)
	d.free = make(chan *rawRows, 3)
	d.done = make(chan struct{})
	d.free <- d.first.sizedLike()
	d.free <- d.first.sizedLike()
	go func() {
		defer close(d.full)
		for {
			var r *rawRows
			select {
			case r = <-d.free:
				r.reset()
			case <-d.done:
				return
			}
			d.fill(r)
			select {
			case d.full <- r:
			case <-d.done:
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
}

// valueKind classifies one text value for type inference.
type valueKind uint8

const (
	kindEmpty valueKind = iota
	kindInt
	kindFloat
	kindBool
	kindString
)

func classify(v []byte, pct bool) valueKind {
	v = trimBytes(v)
	if len(v) == 0 {
		return kindEmpty
	}
	if _, ok := parseIntBytes(v); ok {
		return kindInt
	}
	if _, ok := parseNumber(v, pct, nil); ok {
		return kindFloat
	}
	if _, ok := parseBool(v); ok {
		return kindBool
	}
	return kindString
}

// buildSchema infers the volume and extra column types from the buffered
// first batch and fixes the schema.
func (d *csvDecoder) buildSchema() error {
	first := d.first
	volType := TypeInt64
	for i := 0; i < first.len(); i++ {
		if classify(first.field(i, d.volCol), false) == kindFloat {
			volType = TypeFloat64
			break
		}
	}
	schema := BaseSchema(volType)
	kept := d.extras[:0]
	for k, e := range d.extras {
		var seen [kindString + 1]bool
		for i := 0; i < first.len(); i++ {
			seen[classify(first.field(i, e.src), e.pct)] = true
		}
		t := TypeString
		switch {
		case seen[kindString] || seen[kindBool] && (seen[kindInt] || seen[kindFloat]):
			t = TypeString
		case seen[kindBool]:
			t = TypeBool
		case seen[kindFloat]:
			t = TypeFloat64
		case seen[kindInt]:
			t = TypeInt64
		}
		if e.indexy && t == TypeInt64 {
			continue // a pandas/R row number, not data
		}
		e.dst = len(schema)
		schema = append(schema, Field{Name: d.schema[k].Name, Type: t})
		kept = append(kept, e)
	}
	d.extras = kept
	d.schema = schema
	d.srcCols = make([]SourceColumn, NumCanonical)
	set := func(idx, src int) {
		if src >= 0 {
			d.srcCols[idx] = SourceColumn{Pos: src + 1, Name: d.header[src]}
		}
	}
	set(IdxTimestamp, d.tsCol)
	for k := 0; k < 4; k++ {
		set(IdxOpen+k, d.price[k])
	}
	set(IdxVolume, d.volCol)
	set(IdxSymbol, d.symCol)
	set(IdxProvider, d.provCol)
	return nil
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
		b := NewBatch(d.schema, r.len())
		b.Line = make([]int64, 0, r.len())
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

// isNullText reports an empty cell or a null spelled out as text.
func isNullText(v []byte) bool {
	v = trimBytes(v)
	switch len(v) {
	case 0:
		return true
	case 3:
		return (v[0]|0x20) == 'n' && (v[1]|0x20) == 'a' && (v[2]|0x20) == 'n'
	case 4:
		return bytes.EqualFold(v, []byte("null")) || bytes.EqualFold(v, []byte("none"))
	}
	return false
}

// appendRow converts one record into b, or skips it when its prices are all
// empty.
func (d *csvDecoder) appendRow(b *Batch, f [][]byte, line int64) error {
	p := &d.price
	if isNullText(f[p[0]]) && isNullText(f[p[1]]) && isNullText(f[p[2]]) && isNullText(f[p[3]]) {
		d.stats.SkippedEmpty++
		return nil
	}
	ts, err := d.timestamp(f)
	if err != nil {
		col := d.tsCol
		v := f[d.tsCol]
		if d.timeCol >= 0 {
			v = d.scratch
		}
		return d.perr(line, col, v, err)
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
	sym := d.opt.Symbol
	if d.symCol >= 0 {
		if s := trimBytes(f[d.symCol]); len(s) > 0 {
			sym = d.intern(s)
		}
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

func (d *csvDecoder) timestamp(f [][]byte) (int64, error) {
	if d.timeCol < 0 {
		return parseTimestamp(unsafeString(f[d.tsCol]), d.opt.Location)
	}
	d.scratch = append(d.scratch[:0], trimBytes(f[d.tsCol])...)
	d.scratch = append(d.scratch, ' ')
	d.scratch = append(d.scratch, trimBytes(f[d.timeCol])...)
	return parseTimestamp(unsafeString(d.scratch), d.opt.Location)
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
	null := len(trimBytes(v)) == 0
	if null {
		if c.Null == nil {
			c.Null = make([]bool, row, d.batchRows)
		}
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
	case TypeFloat64:
		var x float64
		if !null {
			var ok bool
			if x, ok = parseNumber(v, pct, &d.scratch); !ok {
				return errBadNumber
			}
		}
		c.Float = append(c.Float, x)
	case TypeBool:
		var x bool
		if !null {
			var ok bool
			if x, ok = parseBool(trimBytes(v)); !ok {
				return errBadBool
			}
		}
		c.Bool = append(c.Bool, x)
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

func (d *csvDecoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.strs) < maxInterned {
		d.strs[s] = s
	}
	return s
}

func (d *csvDecoder) internLower(b []byte) string {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return d.intern([]byte(strings.ToLower(string(b))))
		}
	}
	return d.intern(b)
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func trimBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func parseBool(b []byte) (bool, bool) {
	switch {
	case bytes.EqualFold(b, []byte("true")):
		return true, true
	case bytes.EqualFold(b, []byte("false")):
		return false, true
	}
	return false, false
}

// parseIntBytes parses a decimal integer with optional sign and thousands
// separators ("1,195,900").
func parseIntBytes(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '-', '+':
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 26 {
		return 0, false
	}
	var n uint64
	group := -1 // digits since the last comma, -1 before any comma
	lead := 0
	for i, c := range b {
		if c == ',' {
			if i == 0 || group == -1 && (lead > 3) || group != -1 && group != 3 {
				return 0, false
			}
			group = 0
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if group >= 0 {
			group++
		} else {
			lead++
		}
	}
	if group != -1 && group != 3 || n > 1<<63 || n == 1<<63 && !neg {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloatFast parses plain decimals ("-12.5", "0.00002853") exactly,
// without allocating: a mantissa below 2^53 scaled by a power of ten up to
// 1e22 is one correctly rounded IEEE operation (Clinger's fast path). It
// reports false for anything else, which parseNumber then handles.
func parseFloatFast(b []byte) (float64, bool) {
	i := 0
	if len(b) > 0 && (b[0] == ' ' || b[len(b)-1] == ' ') {
		b = trimBytes(b)
	}
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	exp, nd := 0, 0
	dot, any := false, false
	for ; i < len(b); i++ {
		c := b[i]
		if c >= '0' && c <= '9' {
			any = true
			if mant == 0 && c == '0' {
				if dot {
					exp--
				}
				continue
			}
			if nd >= 19 {
				return 0, false
			}
			mant = mant*10 + uint64(c-'0')
			nd++
			if dot {
				exp--
			}
			continue
		}
		if c == '.' && !dot {
			dot = true
			continue
		}
		return 0, false
	}
	if !any || mant >= 1<<53 || exp < -22 || exp > 22 {
		return 0, false
	}
	f := float64(mant)
	if exp < 0 {
		f /= exactPow10[-exp]
	} else {
		f *= exactPow10[exp]
	}
	if neg {
		f = -f
	}
	return f, true
}

// parseNumber parses any decimal float strconv accepts, plus thousands
// separators and, when pct is set, a trailing '%'. scratch, when not nil,
// is reused for the separator-free copy.
func parseNumber(b []byte, pct bool, scratch *[]byte) (float64, bool) {
	b = trimBytes(b)
	if f, ok := parseFloatFast(b); ok {
		return f, true
	}
	if pct && len(b) > 1 && b[len(b)-1] == '%' {
		b = trimBytes(b[:len(b)-1])
	}
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		// strconv also takes hex floats and '_' separators; CSV numbers are decimal.
		if c == '_' || c == 'x' || c == 'X' {
			return 0, false
		}
	}
	if bytes.IndexByte(b, ',') >= 0 {
		var buf []byte
		if scratch != nil {
			buf = (*scratch)[:0]
		}
		buf, ok := stripThousands(buf, b)
		if scratch != nil {
			*scratch = buf
		}
		if !ok {
			return 0, false
		}
		b = buf
	}
	f, err := strconv.ParseFloat(unsafeString(b), 64)
	return f, err == nil
}

// stripThousands appends b without its thousands separators, which must
// group the integer part by threes.
func stripThousands(dst, b []byte) ([]byte, bool) {
	intEnd := len(b)
	if i := bytes.IndexAny(b, ".eE"); i >= 0 {
		intEnd = i
	}
	if bytes.IndexByte(b[intEnd:], ',') >= 0 {
		return dst, false
	}
	start := 0
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		start = 1
	}
	group := -1
	for i := start; i < intEnd; i++ {
		if b[i] == ',' {
			if i == start || group == -1 && i-start > 3 || group != -1 && group != 3 {
				return dst, false
			}
			group = 0
			continue
		}
		if group >= 0 {
			group++
		}
	}
	if group != -1 && group != 3 {
		return dst, false
	}
	for _, c := range b {
		if c != ',' {
			dst = append(dst, c)
		}
	}
	return dst, true
}
