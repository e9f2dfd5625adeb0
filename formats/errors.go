package formats

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoders wrap them in *ParseError or return them wrapped
// with %w so callers can test with errors.Is.
var (
	// ErrNotBars: the input is readable but is not a table of bars (wide
	// one-column-per-symbol files, JSON, Feather, missing required columns).
	ErrNotBars = errors.New("not a bar file")
	// ErrUnsupported: a format feature this reader does not handle.
	ErrUnsupported = errors.New("unsupported input")
	// ErrOHLC: rows violate low <= min(open,close) <= max(open,close) <= high.
	ErrOHLC = errors.New("OHLC inconsistent")
)

// ParseError is a positional decoding error, like encoding/csv.ParseError.
// Line is 1-based (CSV line, or Parquet row number); Column is the 1-based
// column position, 0 when unknown; Name is the column's header name.
type ParseError struct {
	File   string
	Line   int64
	Column int
	Name   string
	Value  string
	Err    error
}

func (e *ParseError) Error() string {
	s := e.File
	if s == "" {
		s = "input"
	}
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
	}
	if e.Column > 0 {
		s += fmt.Sprintf(": column %d", e.Column)
		if e.Name != "" {
			s += fmt.Sprintf(" (%q)", e.Name)
		}
	} else if e.Name != "" {
		s += fmt.Sprintf(": column %q", e.Name)
	}
	if e.Value != "" || e.Column > 0 && !errors.Is(e.Err, ErrTooLarge) {
		v := e.Value
		if len(v) > 64 {
			v = v[:64] + "..."
		}
		s += fmt.Sprintf(": value %q", v)
	}
	return s + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }
