package dedupmerge

import (
	"cmp"
	"slices"
	"strings"
)

// radixMin is the input size below which a comparison sort is cheaper than
// the radix passes' fixed cost (histograms of radixBuckets counters).
const radixMin = 1 << 12

const (
	radixBits    = 11
	radixBuckets = 1 << radixBits
)

// sortKey is one row's sort key: the timestamp and the symbol's rank among
// the input's distinct symbols, next to the row index so that sorting never
// chases the index into the columns.
type sortKey struct {
	ts  int64
	row int32
	sym uint32
}

// symbolRanks returns, per row, the rank of its symbol among the distinct
// symbols of sym, so that symbol order is integer order.
func symbolRanks(sym []string) (ranks []uint32, distinct int) {
	ids := map[string]uint32{}
	ranks = make([]uint32, len(sym))
	var last string
	var lastID uint32
	for i, s := range sym {
		if i == 0 || s != last {
			id, ok := ids[s]
			if !ok {
				id = uint32(len(ids))
				ids[s] = id
			}
			last, lastID = s, id
		}
		ranks[i] = lastID
	}
	names := make([]string, 0, len(ids))
	for s := range ids {
		names = append(names, s)
	}
	slices.SortFunc(names, strings.Compare)
	rankOf := make([]uint32, len(ids))
	for r, s := range names {
		rankOf[ids[s]] = uint32(r)
	}
	for i, id := range ranks {
		ranks[i] = rankOf[id]
	}
	return ranks, len(ids)
}

// radixSort sorts keys stably by (ts, sym): an LSD radix sort over the
// symbol rank, then over ts-min (so negative timestamps order correctly).
// Digits that every key shares are skipped; the timestamps of one
// partition span few bits, so typically 4-5 of the 6 timestamp passes run.
// Keys built in row order keep row order among equal (ts, sym), which is the
// arrival order the winner rule needs.
func radixSort(keys []sortKey, bySymbol bool) {
	if len(keys) < radixMin {
		slices.SortStableFunc(keys, func(a, b sortKey) int {
			if a.ts != b.ts {
				return cmp.Compare(a.ts, b.ts)
			}
			if bySymbol {
				return cmp.Compare(a.sym, b.sym)
			}
			return 0
		})
		return
	}
	lo := keys[0].ts
	for _, k := range keys {
		lo = min(lo, k.ts)
	}
	tmp := make([]sortKey, len(keys))
	src, dst := keys, tmp
	pass := func(digit func(k sortKey) uint64) {
		var c [radixBuckets]uint32
		for _, k := range src {
			c[digit(k)]++
		}
		if c[digit(src[0])] == uint32(len(src)) {
			return // every key has the same digit here
		}
		var sum uint32
		for i, v := range c {
			c[i] = sum
			sum += v
		}
		for _, k := range src {
			d := digit(k)
			dst[c[d]] = k
			c[d]++
		}
		src, dst = dst, src
	}
	if bySymbol {
		for shift := 0; shift < 32; shift += radixBits {
			pass(func(k sortKey) uint64 { return uint64(k.sym>>shift) & (radixBuckets - 1) })
		}
	}
	for shift := 0; shift < 64; shift += radixBits {
		pass(func(k sortKey) uint64 { return (uint64(k.ts-lo) >> shift) & (radixBuckets - 1) })
	}
	if &src[0] != &keys[0] {
		copy(keys, src)
	}
}
