package metastore

import (
	"fmt"
	"unicode/utf8"

	"bcfs/formats"
)

// Limits of what a version may hold, so that every committed version can be
// read back by bcfs's own readers and by the tools that read its views.
const (
	// MaxColumns is the most columns (symbol and provider included) a
	// dataset may have: parquet-go opens no file with more leaf columns
	// (column indexes up to its MaxColumnIndex, 65,534, and one more
	// index taken while reading rows).
	MaxColumns = 65534
	// MaxColumnNameBytes bounds one column name.
	MaxColumnNameBytes = 4096
	// MaxHeaderBytes bounds the CSV view's header line: the CSV reader
	// refuses a longer record, so a longer header could not be re-ingested.
	MaxHeaderBytes = 64 << 20
	// MaxRowGroups is the most row groups one version may have: the Parquet
	// view puts all of them in one footer, whose row group ordinal is a
	// signed 16-bit integer.
	MaxRowGroups = 32767
)

// CheckSchema reports whether a dataset with schema s can be committed: its
// columns and types are the canonical ones plus valid extras, and it is
// within the limits above. The error names the column and the limit.
func CheckSchema(s formats.Schema) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrLimit, err)
	}
	if len(s) > MaxColumns {
		return fmt.Errorf("%w: %d columns (with symbol and provider); a dataset holds at most %d", ErrLimit, len(s), MaxColumns)
	}
	for i, f := range s {
		switch {
		case f.Name == "":
			return fmt.Errorf("%w: column %d has an empty name", ErrLimit, i+1)
		case len(f.Name) > MaxColumnNameBytes:
			return fmt.Errorf("%w: column %d name %.40q... is %d bytes; at most %d", ErrLimit, i+1, f.Name, len(f.Name), MaxColumnNameBytes)
		case !utf8.ValidString(f.Name):
			return fmt.Errorf("%w: column %d name %q is not valid UTF-8", ErrLimit, i+1, f.Name)
		}
	}
	if n := len(formats.AppendCSVHeader(nil, s)); n > MaxHeaderBytes {
		return fmt.Errorf("%w: the CSV header would be %d bytes; at most %d", ErrLimit, n, MaxHeaderBytes)
	}
	return nil
}

// CheckLimits reports whether m is within the limits every reader accepts
// (CheckSchema, MaxRowGroups). Encode, and so Commit, refuse a manifest
// that is not; callers check first to refuse with their own error.
func CheckLimits(m *Manifest) error {
	if err := CheckSchema(m.Schema); err != nil {
		return err
	}
	n := 0
	for i := range m.Partitions {
		n += len(m.Partitions[i].RowGroups)
	}
	if n > MaxRowGroups {
		return fmt.Errorf("%w: %d row groups in %d partitions; a version holds at most %d (choose a coarser partition granularity)",
			ErrLimit, n, len(m.Partitions), MaxRowGroups)
	}
	return nil
}
