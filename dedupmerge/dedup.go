package dedupmerge

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"bcfs/formats"
)

// deduped is the outcome of sorting and deduplicating one batch, kept as
// row indices so that callers can gather columns once, at the end.
type deduped struct {
	// win holds the row index of each key's winner, in key order. nil means
	// the batch was already sorted with unique keys: winner k is row k.
	win []int32
	// conflicted has bit k set when winner k won a conflict inside the batch;
	// nil when there was none.
	conflicted []uint64
	removed    int64
	conflicts  int64
}

func (d *deduped) n(rows int) int {
	if d.win == nil {
		return rows
	}
	return len(d.win)
}

func (d *deduped) row(k int) int {
	if d.win == nil {
		return k
	}
	return int(d.win[k])
}

func (d *deduped) isConflicted(k int) bool {
	return d.conflicted != nil && d.conflicted[k>>6]&(1<<(k&63)) != 0
}

// SortDedup sorts the rows of one input (row index = arrival order) by key
// and keeps one winner per key: the best provider rank, and among equal
// ranks the latest row. It returns the sorted, deduplicated batch, the number
// of rows removed and the number of keys whose rows had differing values
// (conflicts). An input that is already sorted is detected in one pass; if it
// also has unique keys the result shares its columns.
//
// Callers that then split the result into partitions for Merge add removed
// and conflicts to the total with Report.AddInputDuplicates. p must be valid
// (see Policy.Validate); SortDedup panics otherwise.
func SortDedup(in *formats.Batch, p Policy) (out *formats.Batch, removed int64, conflicts int64) {
	mustValid(p)
	if in == nil {
		return nil, 0, 0
	}
	d := sortDedup(in, p)
	if d.win == nil {
		return view(in), 0, 0
	}
	plan := segments{{incoming: true, lo: 0, hi: len(d.win)}}
	return build(in.Schema, nil, in, d.win, plan, len(d.win)), d.removed, d.conflicts
}

func mustValid(p Policy) {
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("dedupmerge: %v", err))
	}
}

func sortDedup(in *formats.Batch, p Policy) deduped {
	n := in.Len()
	if n < 2 {
		return deduped{}
	}
	strategy := p.strategy()
	less := keyCmp(strategy, in, in)
	sorted, unique := true, true
	for i := 1; i < n; i++ {
		c := less(i-1, i)
		if c > 0 {
			sorted = false
			break
		}
		if c == 0 {
			unique = false
		}
	}
	if sorted && unique {
		return deduped{}
	}
	var order []int32
	if sorted {
		order = make([]int32, n)
		for i := range order {
			order[i] = int32(i)
		}
	} else {
		order = sortOrder(in, strategy, less)
	}
	return resolve(in, p, strategy, order, less)
}

// sortKey keeps the timestamp next to the row index so that the sort's
// first comparison does not chase the index into the column.
type sortKey struct {
	ts  int64
	row int32
}

// sortOrder returns the row indices of in in key order, equal keys in
// ascending row order (arrival order).
func sortOrder(in *formats.Batch, s Strategy, cmpRows func(i, j int) int) []int32 {
	ts := in.Timestamps()
	keys := make([]sortKey, len(ts))
	for i, t := range ts {
		keys[i] = sortKey{t, int32(i)}
	}
	switch s {
	case TimestampOnly:
		slices.SortFunc(keys, func(a, b sortKey) int {
			if a.ts != b.ts {
				return cmp.Compare(a.ts, b.ts)
			}
			return cmp.Compare(a.row, b.row)
		})
	case AllColumns:
		slices.SortFunc(keys, func(a, b sortKey) int {
			if a.ts != b.ts {
				return cmp.Compare(a.ts, b.ts)
			}
			if c := cmpRows(int(a.row), int(b.row)); c != 0 {
				return c
			}
			return cmp.Compare(a.row, b.row)
		})
	default:
		sym := in.Symbols()
		slices.SortFunc(keys, func(a, b sortKey) int {
			if a.ts != b.ts {
				return cmp.Compare(a.ts, b.ts)
			}
			if c := strings.Compare(sym[a.row], sym[b.row]); c != 0 {
				return c
			}
			return cmp.Compare(a.row, b.row)
		})
	}
	order := make([]int32, len(keys))
	for i, k := range keys {
		order[i] = k.row
	}
	return order
}

// resolve walks order (key order, arrival order within a key) and picks each
// key's winner. It reuses order's storage for the winner list.
func resolve(in *formats.Batch, p Policy, s Strategy, order []int32, cmpRows func(i, j int) int) deduped {
	prov := in.Providers()
	var d deduped
	win := order[:0]
	n := len(order)
	for k := 0; k < n; {
		first := order[k]
		e := k + 1
		for e < n && cmpRows(int(first), int(order[e])) == 0 {
			e++
		}
		best := first
		if e-k > 1 {
			bestRank := p.Rank(prov[best])
			for _, r := range order[k+1 : e] {
				// <= so that, at equal rank, the later row (the newer write) wins.
				if rank := p.Rank(prov[r]); rank <= bestRank {
					best, bestRank = r, rank
				}
			}
			d.removed += int64(e - k - 1)
			if s != AllColumns && groupDiffers(in, order[k:e], best) {
				pos := len(win)
				if d.conflicted == nil {
					d.conflicted = make([]uint64, (n+63)/64)
				}
				d.conflicted[pos>>6] |= 1 << (pos & 63)
				d.conflicts++
			}
		}
		win = append(win, best)
		k = e
	}
	d.win = win
	return d
}

func groupDiffers(in *formats.Batch, group []int32, best int32) bool {
	for _, r := range group {
		if r != best && !formats.RowsEqual(in, int(r), in, int(best)) {
			return true
		}
	}
	return false
}
