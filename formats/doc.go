// Package formats holds the bar schema, columnar batches and the decoders
// and encoders of bar files. It knows nothing of the store's layout, FUSE or
// the CLI.
//
// Terms:
//
//   - Bar: one row of timestamp, open, high, low, close, volume, symbol,
//     provider, plus extra columns. Timestamps are int64 nanoseconds since
//     the Unix epoch, UTC.
//   - Schema: the eight canonical columns at fixed indexes (IdxTimestamp ..
//     IdxProvider), then extras. Volume is int64, or float64 when a value
//     is fractional.
//   - Batch: rows in columnar form; Batch.Line names each row's source line.
//   - Decoder: streams an input as batches that all share one schema;
//     io.EOF ends it, any other error rejects the whole input.
//   - Vendor: a recognized export shape (Yahoo, IBKR, Barchart) that
//     supplies the provider when the file has none.
//
// CSV reading (OpenCSV) invariants:
//
//   - Records follow RFC 4180 (RecordScanner): quoted fields keep their
//     bytes verbatim, blank lines are skipped, errors carry the line where
//     the record starts and the 1-based field number.
//   - Headers map case-insensitively through NormalizeName. A Date + Time
//     pair joins into the timestamp; a leading unnamed column is the
//     timestamp when there is no other, and an integer column named like a
//     row index ("", "Unnamed: 0", "index") is dropped.
//   - Extra column and volume types are inferred from the first batch
//     (opt.BatchRows rows, buffered as text); a later value that does not
//     fit is a ParseError, never truncated or silently changed.
//   - Rows whose four prices are all empty or null-as-text are skipped and
//     counted (Stats.SkippedEmpty); any other missing value is an error.
//   - Slash dates are US month/day; a day-first file is refused, never
//     swapped. Naive times are in Options.Location (UTC when nil).
//   - Every batch passes ValidateBatch; under OHLCReject the decoder ends
//     with *OHLCError instead of io.EOF when rows violated OHLC order.
//   - Memory is bounded by Options.Limits, not by the input (budget.go):
//     a record over MaxRecordBytes or a batch over MaxBatchBytes is
//     refused with ErrTooLarge naming file, line and limit.
//   - Missing values (empty, null, NaN, N/A: isNullText) never decide a
//     column's type. Written into a dataset (Options.Schema), a column the
//     dataset has keeps the dataset's type; text stays verbatim.
//   - Local times are refused when ambiguous or non-existent in
//     Options.Location (zone.go), unless Options.Ambiguous is
//     AmbiguousInfer, which resolves the repeated hour from row order.
//   - A file with a symbol column names the symbol on every row; an empty
//     cell is refused. Timestamps are whole microseconds; finer digits are
//     refused, never truncated.
//
// CSV rendering (AppendCSVHeader, AppendCSVRows) is deterministic: the same
// batch always renders to the same bytes, because manifests store the byte
// length of each row group's rendering and the CSV view renders it again
// later. Timestamps print as UTC "YYYY-MM-DD HH:MM:SS[.fraction]", floats
// rounded to 6 decimals without trailing zeros. AppendCSVRowsZone prints a
// zoned dataset's timestamp column as wall time in its zone with the UTC
// offset, exactly CSVZoneBytes longer, so lengths stored for the UTC
// rendering give the zoned size too.
//
// Parquet:
//
//   - OpenParquet reads files of pyarrow/pandas, DuckDB, Polars and Spark
//     row group by row group, mapping columns like CSV headers; it guards
//     parquet-go against corrupt footers, pages and codecs so a bad file is
//     an error, never a panic or an unbounded allocation of the claimed size.
//   - Partition file: the canonical on-disk form of a batch, written by
//     PartitionWriter (snappy, dictionary-encoded strings,
//     TIMESTAMP(MICROS, isAdjustedToUTC), canonical columns required, extras
//     optional) and read by PartitionReader. RowGroupInfo gives each row
//     group's byte range, which the store records in its manifests.
//   - View layout: BuildViewLayout concatenates the row groups of several
//     partition files of one schema into one Parquet file by copying their
//     bytes unchanged and writing a new footer with shifted offsets; its
//     size is known from the footers alone, and ReadAt serves any range.
//
// Files, by concern: columns.go maps headers to roles for both decoders
// (aliases, duplicates, vendor detection, missing-column errors);
// csv_scanner.go splits records, csv_header.go finds the header,
// csv_rows.go buffers rows as text on a reader goroutine, csv_infer.go
// infers column types, numbers.go parses numbers, csv_reader.go converts
// rows; parquet_guard.go checks corrupt input, parquet_convert.go maps
// Parquet types, parquet_cursor.go streams column chunks, parquet_reader.go
// decodes arbitrary files and parquet_partition.go reads canonical ones.
//
// Open sniffs an input: Parquet by magic, gzip and zstd streams are
// decompressed and decoded as CSV, and Arrow/Feather, JSON and empty inputs
// are refused with errors wrapping ErrNotBars.
package formats
