package formats

import (
	"errors"
	"fmt"
	"math"
)

var (
	errNotFinite      = errors.New("number is not finite")
	errNegativeVolume = errors.New("volume is negative")
	// errSubMicro: bcfs stores timestamps in microseconds (Parquet
	// TIMESTAMP(MICROS)); finer digits would be lost, so they are refused.
	errSubMicro = errors.New("timestamp has sub-microsecond digits (nanoseconds); bcfs stores microseconds: round the input to microseconds")
)

// ValidateBatch checks b: timestamps whole microseconds, prices and volume
// finite, volume >= 0, and OHLC consistency. Under OHLCReject, violating rows are
// counted (the caller reports the count at the end of input with
// OHLCError); under OHLCWarn they are kept and counted too. The first
// non-OHLC problem is returned as a *ParseError naming file, line, column and
// value. header, when not nil, gives the source column position (1-based)
// and name of each canonical column for messages.
func ValidateBatch(b *Batch, file string, header []SourceColumn, stats *Stats, firstOHLC **ParseError) error {
	n := b.Len()
	prices := [4][]float64{b.Cols[IdxOpen].Float, b.Cols[IdxHigh].Float, b.Cols[IdxLow].Float, b.Cols[IdxClose].Float}
	line := func(i int) int64 {
		if b.Line != nil {
			return b.Line[i]
		}
		return 0
	}
	perr := func(i, col int, v string, err error) *ParseError {
		pe := &ParseError{File: file, Line: line(i), Name: b.Schema[col].Name, Value: v, Err: err}
		if header != nil && col < len(header) {
			pe.Column, pe.Name = header[col].Pos, header[col].Name
		}
		return pe
	}
	for c, f := range b.Schema {
		if f.Type != TypeTimestamp {
			continue
		}
		col := &b.Cols[c]
		for i, ts := range col.Int {
			if ts%1000 != 0 && !col.IsNull(i) {
				return perr(i, c, string(appendCSVTimestamp(nil, ts)), errSubMicro)
			}
		}
	}
	vol := &b.Cols[IdxVolume]
	for i := 0; i < n; i++ {
		for k, p := range prices {
			if v := p[i]; math.IsNaN(v) || math.IsInf(v, 0) {
				return perr(i, IdxOpen+k, fmt.Sprint(v), errNotFinite)
			}
		}
		if b.Schema[IdxVolume].Type == TypeFloat64 {
			v := vol.Float[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return perr(i, IdxVolume, fmt.Sprint(v), errNotFinite)
			}
			if v < 0 {
				return perr(i, IdxVolume, fmt.Sprint(v), errNegativeVolume)
			}
		} else if vol.Int[i] < 0 {
			return perr(i, IdxVolume, fmt.Sprint(vol.Int[i]), errNegativeVolume)
		}
		o, h, l, c := prices[0][i], prices[1][i], prices[2][i], prices[3][i]
		if l > math.Min(o, c) || math.Max(o, c) > h || l > h {
			stats.OHLCViolations++
			if *firstOHLC == nil {
				*firstOHLC = perr(i, IdxLow, fmt.Sprintf("open=%v high=%v low=%v close=%v", o, h, l, c), ErrOHLC)
			}
		}
	}
	return nil
}

// SourceColumn names where a canonical column came from in the input.
type SourceColumn struct {
	Pos  int    // 1-based position in the input, 0 if synthesized
	Name string // header as written in the input
}

// OHLCError is returned at the end of input under OHLCReject when rows
// violated OHLC consistency.
type OHLCError struct {
	File  string
	Count int64
	First *ParseError
}

func (e *OHLCError) Error() string {
	return fmt.Sprintf("%s: %d row(s) violate low <= min(open,close) <= max(open,close) <= high; first at %v; accept them with --ohlc-check warn (per ingest or as the dataset's setting)",
		e.File, e.Count, e.First)
}

func (e *OHLCError) Unwrap() error { return ErrOHLC }
