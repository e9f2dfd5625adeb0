package store

import (
	"bcfs/formats"
	"sync/atomic"
	"time"
)

// View selects one of the two renderings of a dataset.
type View int

const (
	ViewCSV View = iota
	ViewParquet
)

// Ext returns the file extension of the view, with the dot.
func (v View) Ext() string {
	if v == ViewParquet {
		return ".parquet"
	}
	return ".csv"
}

// Entry describes the head version of one dataset.
type Entry struct {
	Name        string    // dataset name, a relative slash path ("ES_1min", "yahoo/AAPL")
	Version     int64     // head version
	Committed   time.Time // commit time of the head version
	Rows        int64
	CSVSize     int64 // exact size of NAME.csv
	ParquetSize int64 // exact size of NAME.parquet
}

// Size returns the size of view v.
func (e Entry) Size(v View) int64 {
	if v == ViewParquet {
		return e.ParquetSize
	}
	return e.CSVSize
}

// IngestOptions tune one ingest. Empty fields take the dataset's settings.
type IngestOptions struct {
	// Source names the input in errors and reports (defaults to the path).
	Source    string
	Provider  string
	Timezone  string
	OHLCCheck string // "reject" or "warn"
	// Ambiguous is "raise" (default: a local time repeated when clocks go
	// back refuses the file) or "infer" (resolved from row order).
	Ambiguous string
	DryRun    bool
	// Limits bound the decoder's memory for this ingest; zero fields take
	// Options.DecodeLimits, then the formats defaults (16 MiB per record,
	// 64 MiB per batch).
	Limits formats.Limits
	// Progress, if set, counts the input's bytes read so far (from 0 again
	// when a commit conflict makes the ingest read the input again).
	Progress *atomic.Int64
	// Written, if set, is called (by Ingest, once per attempt) when an
	// attempt has read the input and written its partition files, or
	// failed to: what is left is the commit, which waits on the disk's
	// fsyncs rather than the CPU. bcfs ingest starts decoding the next
	// dataset then.
	Written func()
	// Group, if set, commits the ingest together with other datasets'
	// (Store.NewCommitGroup); nil commits it on its own.
	Group *CommitGroup
}
