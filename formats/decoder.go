package formats

import "time"

// OHLCCheck says what a decoder does with rows where
// low <= min(open,close) <= max(open,close) <= high does not hold.
type OHLCCheck string

const (
	OHLCReject OHLCCheck = "reject" // the file fails (default)
	OHLCWarn   OHLCCheck = "warn"   // rows are kept and counted in Stats
)

// Options configure a decoder.
type Options struct {
	// File names the input in error messages.
	File string
	// Symbol fills the symbol column when the input has none (the dataset's
	// base name).
	Symbol string
	// Provider, when set, overrides any provider column and vendor detection.
	Provider string
	// Location is used for timestamps without an offset; nil means UTC.
	Location *time.Location
	// Header, when set, is used for a CSV input whose first line is not a
	// header (a headerless file written into an existing dataset). These are
	// the dataset's column names in order.
	Header []string
	// Schema, when set, is the schema of the dataset the input is written
	// into: a CSV extra column it names takes its type (see hintedType)
	// instead of one inferred from the first batch.
	Schema Schema
	// OHLCCheck defaults to OHLCReject.
	OHLCCheck OHLCCheck
	// Ambiguous says how a local time that occurs twice in Location (the
	// hour repeated when clocks go back) is read: AmbiguousRaise ("", the
	// default) refuses it, AmbiguousInfer resolves it from row order. A
	// local time that does not exist (skipped when clocks go forward) is
	// always refused.
	Ambiguous Ambiguous
	// BatchRows is the number of rows per batch; 0 means 64Ki.
	BatchRows int
	// Limits bound the decoder's memory (see budget.go).
	Limits

	// barchartTail is set by Open when a plain file ends with Barchart's
	// "Downloaded from Barchart.com" footer.
	barchartTail bool
}

// Limits are the memory budgets of a decoder; zero fields take the defaults.
type Limits struct {
	// MaxRecordBytes bounds one record (a CSV record, a Parquet value);
	// 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int
	// MaxBatchBytes bounds one batch (CSV text, Parquet decoded values and
	// pages held at once); 0 means DefaultMaxBatchBytes.
	MaxBatchBytes int
}

// Or returns l with its zero fields taken from o.
func (l Limits) Or(o Limits) Limits {
	if l.MaxRecordBytes == 0 {
		l.MaxRecordBytes = o.MaxRecordBytes
	}
	if l.MaxBatchBytes == 0 {
		l.MaxBatchBytes = o.MaxBatchBytes
	}
	return l
}

// Stats are counts a decoder gathers while reading.
type Stats struct {
	Rows           int64  `json:"rows"`             // rows returned in batches
	SkippedEmpty   int64  `json:"skipped_empty"`    // rows whose price fields were all empty/null
	OHLCViolations int64  `json:"ohlc_violations"`  // rows kept under OHLCWarn
	Vendor         string `json:"vendor,omitempty"` // "yahoo", "ibkr", "barchart", "" when not recognized
}

// Decoder streams bars as batches in the canonical schema (see Schema).
// Batches of one decoder all share one Schema. Next returns io.EOF after the
// last batch. Any other error means the input is bad or unreadable and the
// whole input must be rejected.
type Decoder interface {
	Schema() Schema
	Next() (*Batch, error)
	Stats() Stats
	Close() error
}
