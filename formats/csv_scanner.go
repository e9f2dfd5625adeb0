package formats

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
)

// RecordScanner splits RFC 4180 text into records. It is the generic layer
// under OpenCSV: quoted fields, "" escapes, line breaks and commas inside
// quotes (kept verbatim, so a quoted CRLF stays CRLF), CRLF or LF record
// ends, a UTF-8 BOM, a missing final newline. Blank lines are skipped.
// Errors are *ParseError wrapping csv.ErrQuote or csv.ErrBareQuote with the
// line where the record starts and the 1-based field number.
type RecordScanner struct {
	r       *bufio.Reader
	line    int64 // lines consumed so far
	start   int64 // line where the current record starts
	fields  [][]byte
	buf     []byte // unescaped fields of a record that had quotes
	ends    []int
	long    []byte // a line longer than the bufio buffer
	pending []byte // the line nextLine read but did not add
	began   bool   // the BOM check has run
	max     int    // record limit in bytes
}

// NewRecordScanner returns a scanner reading from r. A record longer than
// DefaultMaxRecordBytes is an error wrapping ErrTooLarge (so that a file
// without line breaks, a one-line JSON dump or a binary file, cannot
// exhaust memory); SetMaxRecordBytes changes the limit.
//
// It reads through a 1 MiB buffer, or one just larger than r when r says
// its size (an *io.SectionReader of a file) and that is smaller: a folder
// of small vendor files then does not allocate and zero 1 MiB per file.
func NewRecordScanner(r io.Reader) *RecordScanner {
	size := 1 << 20
	if s, ok := r.(interface{ Size() int64 }); ok && s.Size() < int64(size) {
		size = max(int(s.Size())+1, 4096)
	}
	return &RecordScanner{r: bufio.NewReaderSize(r, size), max: DefaultMaxRecordBytes}
}

// SetMaxRecordBytes sets the record limit; n <= 0 restores the default.
func (s *RecordScanner) SetMaxRecordBytes(n int) {
	if n <= 0 {
		n = DefaultMaxRecordBytes
	}
	s.max = n
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
			if len(s.long) > s.max {
				return nil, errRecordLimit(s.max)
			}
			line, err = s.r.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if len(line) > s.max {
		return nil, errRecordLimit(s.max)
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
	line, err := s.nextNonBlank()
	if err != nil {
		return nil, err
	}
	return s.split(line)
}

// nextNonBlank reads the line where the next record starts.
func (s *RecordScanner) nextNonBlank() ([]byte, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return nil, &ParseError{Line: s.line + 1, Err: err}
			}
			return nil, err
		}
		if len(lineBody(line)) != 0 {
			s.start = s.line
			return line, nil
		}
	}
}

// split returns the fields of the record starting with line.
func (s *RecordScanner) split(line []byte) ([][]byte, error) {
	body := lineBody(line)
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

// errNotPlain: nextLine read a record it did not add (record has it).
var errNotPlain = errors.New("record not added")

// nextLine reads the next record and adds it to r when it is one unquoted
// line with r.nf fields. Otherwise it returns errNotPlain and record
// returns the record's fields as Next would.
func (s *RecordScanner) nextLine(r *rawRows) (bool, error) {
	line, err := s.nextNonBlank()
	if err != nil {
		return false, err
	}
	if r.addLine(lineBody(line), s.start) {
		return true, nil
	}
	s.pending = line
	return false, errNotPlain
}

// record returns the fields of the line nextLine did not add, given the
// error nextLine returned.
func (s *RecordScanner) record(err error) ([][]byte, error) {
	if err != errNotPlain {
		return nil, err
	}
	line := s.pending
	s.pending = nil
	return s.split(line)
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
				if len(s.buf) > s.max {
					return nil, perr(errRecordLimit(s.max))
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
