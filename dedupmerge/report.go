package dedupmerge

import "fmt"

// DefaultDuplicateThreshold is the share of incoming duplicates above which a
// report carries a warning (the BC-Utils duplicate_threshold).
const DefaultDuplicateThreshold = 0.1

// Report describes one ingest's dedup-merge, summed over the partitions it
// touched. Counts are rows unless stated otherwise.
type Report struct {
	// OriginalCount is stored rows of the touched partitions plus incoming rows.
	OriginalCount int64 `json:"original_count"`
	// FinalCount is the rows of the touched partitions after the merge.
	FinalCount int64 `json:"final_count"`
	// DuplicatesRemoved is OriginalCount - FinalCount.
	DuplicatesRemoved int64 `json:"duplicates_removed"`
	// ConflictsResolved counts keys (not rows) for which rows with different
	// values competed.
	ConflictsResolved int64 `json:"conflicts_resolved"`
	// RowsAdded counts keys that were not in the store before.
	RowsAdded int64 `json:"rows_added"`
	// RowsReplaced counts stored rows replaced by a different row.
	RowsReplaced int64 `json:"rows_replaced"`
	// RowsUnchanged counts incoming rows dropped because they were identical
	// to the row kept or lost to it.
	RowsUnchanged int64 `json:"rows_unchanged_duplicates"`
	// DuplicateThreshold is the DuplicateRatio above which Warning is set.
	DuplicateThreshold float64 `json:"duplicate_threshold"`
	// DuplicateRatio is incoming duplicates / incoming rows, where an incoming
	// duplicate is an incoming row whose key was in the store or earlier in
	// the input. Set by Finish.
	DuplicateRatio float64 `json:"duplicate_ratio"`
	// Warning is non-empty when DuplicateRatio > DuplicateThreshold. Set by
	// Finish.
	Warning string `json:"warning"`
}

// Add accumulates the counts of o (one partition's report) into r. The ratio
// and warning are left for Finish.
func (r *Report) Add(o Report) {
	r.OriginalCount += o.OriginalCount
	r.FinalCount += o.FinalCount
	r.DuplicatesRemoved += o.DuplicatesRemoved
	r.ConflictsResolved += o.ConflictsResolved
	r.RowsAdded += o.RowsAdded
	r.RowsReplaced += o.RowsReplaced
	r.RowsUnchanged += o.RowsUnchanged
	if r.DuplicateThreshold == 0 {
		r.DuplicateThreshold = o.DuplicateThreshold
	}
}

// AddInputDuplicates accounts for rows that SortDedup removed from an input
// before its partitions were passed to Merge: they were incoming rows that
// were dropped, and conflicts is SortDedup's count of conflicting keys.
//
// A key that conflicted inside the input and again with its stored row is
// then counted twice in ConflictsResolved; passing unsorted incoming rows
// straight to Merge counts it once.
func (r *Report) AddInputDuplicates(removed, conflicts int64) {
	r.OriginalCount += removed
	r.DuplicatesRemoved += removed
	r.RowsUnchanged += removed
	r.ConflictsResolved += conflicts
}

// Finish computes DuplicateRatio and Warning once all partitions have been
// added. incomingRows is the number of rows in the input (before SortDedup).
// Every incoming row that did not add a key was a duplicate, so the ratio is
// (incomingRows - RowsAdded) / incomingRows.
func (r *Report) Finish(incomingRows int64) {
	if r.DuplicateThreshold == 0 {
		r.DuplicateThreshold = DefaultDuplicateThreshold
	}
	r.DuplicateRatio, r.Warning = 0, ""
	if incomingRows <= 0 {
		return
	}
	dups := incomingRows - r.RowsAdded
	if dups < 0 {
		dups = 0
	}
	r.DuplicateRatio = float64(dups) / float64(incomingRows)
	if r.DuplicateRatio > r.DuplicateThreshold {
		r.Warning = fmt.Sprintf("%d of %d incoming rows (%.1f%%) were already present, above the %.0f%% duplicate threshold",
			dups, incomingRows, 100*r.DuplicateRatio, 100*r.DuplicateThreshold)
	}
}

// Changed reports whether the merge changes the dataset.
func (r Report) Changed() bool { return r.RowsAdded+r.RowsReplaced > 0 }
