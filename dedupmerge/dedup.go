package dedupmerge

import (
	"cmp"
	"fmt"
	"slices"

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
	plan := segments{{lo: 0, hi: int32(len(d.win)), incoming: true}}
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
	if sorted {
		order := make([]int32, n)
		for i := range order {
			order[i] = int32(i)
		}
		return resolve(in, p, strategy, order, func(a, b int) bool { return less(a, b) == 0 })
	}
	keys := sortKeys(in, strategy, less)
	order := make([]int32, n)
	for i, k := range keys {
		order[i] = k.row
	}
	// Adjacent keys decide groups from the sort keys, which sit in order in
	// memory, rather than from the columns in shuffled row order.
	same := func(a, b int) bool { return keys[a].ts == keys[b].ts && keys[a].sym == keys[b].sym }
	if strategy == AllColumns {
		same = func(a, b int) bool {
			return keys[a].ts == keys[b].ts && keys[a].sym == keys[b].sym && less(int(keys[a].row), int(keys[b].row)) == 0
		}
	}
	return resolve(in, p, strategy, order, same)
}

// sortKeys returns the sort keys of in in key order, equal keys in
// ascending row order (arrival order). Under TimestampOnly all sym are 0.
func sortKeys(in *formats.Batch, s Strategy, cmpRows func(i, j int) int) []sortKey {
	ts := in.Timestamps()
	keys := make([]sortKey, len(ts))
	for i, t := range ts {
		keys[i] = sortKey{ts: t, row: int32(i)}
	}
	bySymbol := s != TimestampOnly
	if bySymbol {
		ranks, distinct := symbolRanks(in.Symbols())
		bySymbol = distinct > 1
		for i, r := range ranks {
			keys[i].sym = r
		}
	}
	radixSort(keys, bySymbol)
	if s == AllColumns {
		// Within one (timestamp, symbol), order by the other columns, then row.
		for lo := 0; lo < len(keys); {
			hi := lo + 1
			for hi < len(keys) && keys[hi].ts == keys[lo].ts && keys[hi].sym == keys[lo].sym {
				hi++
			}
			if hi-lo > 1 {
				slices.SortFunc(keys[lo:hi], func(a, b sortKey) int {
					if c := cmpRows(int(a.row), int(b.row)); c != 0 {
						return c
					}
					return cmp.Compare(a.row, b.row)
				})
			}
			lo = hi
		}
	}
	return keys
}

// resolve walks order (key order, arrival order within a key) and picks each
// key's winner; same(a, b) reports whether positions a and b of order hold
// the same key. It reuses order's storage for the winner list.
func resolve(in *formats.Batch, p Policy, s Strategy, order []int32, same func(a, b int) bool) deduped {
	prov := in.Providers()
	rank := ranker{p: p}
	var d deduped
	win := order[:0]
	n := len(order)
	for k := 0; k < n; {
		e := k + 1
		for e < n && same(k, e) {
			e++
		}
		best := order[k]
		if e-k > 1 {
			bestRank := rank.of(prov[best])
			for _, r := range order[k+1 : e] {
				// <= so that, at equal rank, the later row (the newer write) wins.
				if rk := rank.of(prov[r]); rk <= bestRank {
					best, bestRank = r, rk
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
