package formats

import (
	"errors"
	"fmt"
)

// Memory budgets. A decoder's memory is bounded by its Options, not by its
// input: one record (a CSV record with all its fields, one Parquet value)
// may hold at most MaxRecordBytes, and one batch at most MaxBatchBytes (the
// text of its records in CSV; in Parquet the decoded values of a batch, and
// also the footer and the largest pages of all columns of a row group,
// which are held at once). An input over either limit is refused with ErrTooLarge, naming the
// file, the line (or row) and the limit; it is never truncated. The CSV
// decoder holds at most three batches of text and one converted batch, so
// its memory stays near 4 x MaxBatchBytes + MaxRecordBytes whatever the
// input; a zstd stream whose window exceeds maxZstdWindow is refused too.
const (
	// DefaultMaxRecordBytes is the record limit when Options.MaxRecordBytes is 0.
	DefaultMaxRecordBytes = 16 << 20
	// DefaultMaxBatchBytes is the batch limit when Options.MaxBatchBytes is 0:
	// 1 KiB per row at the default 64Ki rows per batch, ten times a wide
	// vendor row.
	DefaultMaxBatchBytes = 64 << 20
	// maxZstdWindow bounds the history a zstd stream may require
	// (zstd --ultra -22 uses 128 MiB).
	maxZstdWindow = 128 << 20
)

// ErrTooLarge: a record or a batch exceeds its memory limit.
var ErrTooLarge = errors.New("over a memory limit")

func (o *Options) recordLimit() int {
	if o.MaxRecordBytes > 0 {
		return o.MaxRecordBytes
	}
	return DefaultMaxRecordBytes
}

func (o *Options) batchLimit() int {
	if o.MaxBatchBytes > 0 {
		return o.MaxBatchBytes
	}
	return DefaultMaxBatchBytes
}

// sizeText prints a byte count as a user would set it.
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func errRecordLimit(limit int) error {
	return fmt.Errorf("%w: record longer than the record limit of %s (MaxRecordBytes)", ErrTooLarge, sizeText(limit))
}

func errBatchLimit(limit, rows int) error {
	return fmt.Errorf("%w: the batch of %d rows ending here holds more than the batch limit of %s (MaxBatchBytes)", ErrTooLarge, rows, sizeText(limit))
}
