package dedupmerge

import (
	"fmt"

	"bcfs/formats"
)

// Merge merges the incoming rows of one partition into its stored rows and
// returns the new partition, sorted in key order with unique keys, and the
// report for this partition (OriginalCount = stored.Len() + incoming.Len()).
// The report's ratio and warning are left to Report.Finish.
//
// stored should be sorted in key order with unique keys, as Merge returns
// it; incoming should be the output of SortDedup. Both are checked in one
// pass each and, when they are not, sorted and deduplicated here: a stored
// batch with repeated keys (after a strategy change) keeps one row per key,
// and an unsorted incoming batch is resolved like SortDedup would, its
// removals and conflicts counted in the report. So passing raw incoming rows
// directly is correct and counts a key that conflicts both inside the input
// and with the store once.
//
// Either batch may be nil. Their schemas must be equal (Conform both to the
// unified schema first) and p valid; Merge panics otherwise, as both are
// programming errors rather than bad input. The result may share columns
// with an input when no row needs to move.
func Merge(stored, incoming *formats.Batch, p Policy) (*formats.Batch, Report) {
	mustValid(p)
	rep := Report{
		OriginalCount:      int64(stored.Len() + incoming.Len()),
		DuplicateThreshold: DefaultDuplicateThreshold,
	}
	switch {
	case stored == nil && incoming == nil:
		return nil, rep
	case stored == nil:
		stored = formats.NewBatch(incoming.Schema, 0)
	case incoming == nil:
		incoming = formats.NewBatch(stored.Schema, 0)
	case !stored.Schema.Equal(incoming.Schema):
		panic(fmt.Sprintf("dedupmerge: Merge of different schemas [%v] and [%v]", stored.Schema, incoming.Schema))
	}

	if sd := sortDedup(stored, p); sd.win != nil {
		stored = build(stored.Schema, nil, stored, sd.win, segments{{lo: 0, hi: int32(len(sd.win)), incoming: true}}, len(sd.win))
	}
	in := sortDedup(incoming, p)
	rep.RowsUnchanged = in.removed
	rep.ConflictsResolved = in.conflicts

	ns, nw := stored.Len(), in.n(incoming.Len())
	var out *formats.Batch
	switch {
	case nw == 0:
		out = view(stored)
	case ns == 0 && in.win == nil:
		rep.RowsAdded = int64(nw)
		out = view(incoming)
	default:
		plan := mergePlan(stored, incoming, &in, p, &rep)
		out = build(stored.Schema, stored, incoming, in.win, plan, ns+int(rep.RowsAdded))
	}
	rep.FinalCount = int64(out.Len())
	rep.DuplicatesRemoved = rep.OriginalCount - rep.FinalCount
	return out, rep
}

// mergePlan walks both sorted sides and records which rows make the output.
// Long runs from one side (new bars after the stored ones, untouched stored
// stretches) are skipped by galloping so that they cost O(log n) compares and
// become one copy per column.
func mergePlan(stored, incoming *formats.Batch, in *deduped, p Policy, rep *Report) segments {
	ns, nw := stored.Len(), in.n(incoming.Len())
	keyAt := keyCmp(p.strategy(), stored, incoming)
	c := func(i, k int) int { return keyAt(i, in.row(k)) }
	checkValues := p.strategy() != AllColumns
	sprov, iprov := stored.Providers(), incoming.Providers()
	srank, irank := ranker{p: p}, ranker{p: p}

	plan := make(segments, 0, 16)
	i, k := 0, 0
	for i < ns && k < nw {
		switch r := c(i, k); {
		case r < 0:
			e := gallop(i+1, ns, func(x int) bool { return c(x, k) < 0 })
			plan.add(false, i, e)
			i = e
		case r > 0:
			e := gallop(k+1, nw, func(x int) bool { return c(i, x) > 0 })
			plan.add(true, k, e)
			rep.RowsAdded += int64(e - k)
			k = e
		default:
			w := in.row(k)
			switch {
			case !checkValues || formats.RowsEqual(stored, i, incoming, w):
				rep.RowsUnchanged++
				plan.add(false, i, i+1)
			default:
				if !in.isConflicted(k) {
					rep.ConflictsResolved++
				}
				// <= because at equal rank the incoming row is the newer write.
				if irank.of(iprov[w]) <= srank.of(sprov[i]) {
					rep.RowsReplaced++
					plan.add(true, k, k+1)
				} else {
					rep.RowsUnchanged++
					plan.add(false, i, i+1)
				}
			}
			i++
			k++
		}
	}
	plan.add(false, i, ns)
	plan.add(true, k, nw)
	rep.RowsAdded += int64(nw - k)
	return plan
}

// gallop returns the first x in [lo, hi) for which before(x) is false, given
// that before is true up to some point and false after it. It probes lo,
// lo+1, lo+3, lo+7, ... and then bisects, so a run of length m costs
// O(log m) calls and an empty run one call.
func gallop(lo, hi int, before func(x int) bool) int {
	step := 1
	prev := lo
	x := lo
	for x < hi && before(x) {
		prev = x + 1
		x += step
		step <<= 1
	}
	if x > hi {
		x = hi
	}
	// before(prev-1) is true (or prev == lo); before(x) is false or x == hi.
	for prev < x {
		m := int(uint(prev+x) >> 1)
		if before(m) {
			prev = m + 1
		} else {
			x = m
		}
	}
	return prev
}
