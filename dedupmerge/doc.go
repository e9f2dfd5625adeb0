// Package dedupmerge merges sorted batches of bars under a key strategy and a
// provider preference. It is pure computation on formats.Batch values: no
// files, no I/O.
//
// Terms
//
//   - Bar key: what makes two rows "the same bar". It depends on the dataset's
//     Strategy: timestamp+symbol (TimestampSymbol, the default), timestamp
//     alone (TimestampOnly), or every column's value (AllColumns).
//   - Key order: rows are ordered by (timestamp, symbol) ascending. Under
//     AllColumns ties are broken by the remaining columns in schema order
//     (nulls first, NaN before numbers, false before true) so the order is
//     total and the output deterministic. Under TimestampOnly a key is a
//     timestamp, so results hold one row per timestamp.
//   - Provider rank: the position of a row's provider in Policy.Preference
//     (compared case-insensitively); every provider not in the list, "" included,
//     ranks after all listed ones and equal to each other. A lower rank wins.
//   - Newer write: between rows of equal rank the newer one wins. A row being
//     ingested is newer than the stored row; inside one input a row at a higher
//     position (later in the file) is newer than one at a lower position.
//   - Conflict: a key for which rows with different values competed and one was
//     chosen. A key counts once however many rows competed for it.
//
// Invariants
//
//   - Every output batch is sorted in key order with unique keys.
//   - A stored row is replaced only by a row that differs from it
//     (formats.RowsEqual); an identical incoming row changes nothing, so
//     Report.Changed is false for a merge that adds or alters no row.
//   - Row accounting per merge: incoming rows = RowsAdded + RowsReplaced +
//     RowsUnchanged, and FinalCount = stored rows (after normalisation) +
//     RowsAdded. DuplicatesRemoved = OriginalCount - FinalCount.
//
// Results carry no source line numbers (Batch.Line is nil): after a merge
// rows no longer come from one input. Results may share column slices with
// the inputs when no row had to move, so callers must treat inputs and outputs
// as read-only.
package dedupmerge
