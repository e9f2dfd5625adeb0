package dedupmerge

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"bcfs/formats"
)

var (
	testSymbols   = []string{"A", "B", ""}
	testProviders = []string{"ibkr", "barchart", "yahoo", "", "kraken", "Yahoo"}
	testPrices    = []float64{1, 2, math.NaN()}
	testAdj       = []float64{1, 0, math.Copysign(0, -1), math.NaN()}
	testPolicies  = []Policy{
		{}, {Strategy: TimestampOnly}, {Strategy: AllColumns},
		{Strategy: TimestampSymbol, Preference: []string{"yahoo", "kraken"}},
		{Strategy: TimestampOnly, Preference: []string{}},
	}
)

// randBars draws rows from small domains so that keys and values collide.
func randBars(r *rand.Rand, n, tsRange int) []bar {
	out := make([]bar, n)
	for i := range out {
		p := testPrices[r.IntN(2)]
		if r.IntN(20) == 0 {
			p = testPrices[2]
		}
		out[i] = bar{
			ts: int64(r.IntN(tsRange)), o: p, h: p, l: p, c: testPrices[r.IntN(2)], v: int64(r.IntN(2)),
			sym: testSymbols[r.IntN(len(testSymbols))], prov: testProviders[r.IntN(len(testProviders))],
			adjNull: r.IntN(2) == 0, adj: testAdj[r.IntN(len(testAdj))],
		}
	}
	return out
}

// checkAgainstReference merges random stored and incoming rows with Merge
// directly and through SortDedup + per-partition Merge, and compares both
// with refMerge.
func checkAgainstReference(t *testing.T, r *rand.Rand, p Policy, nStored, nIncoming, tsRange int, sortIncoming bool) {
	t.Helper()
	stored, _ := refMerge(nil, randBars(r, nStored, tsRange), p)
	incoming := randBars(r, nIncoming, tsRange)
	if sortIncoming {
		// Stable, so the arrival order of equal keys is kept.
		slices.SortStableFunc(incoming, refOrder(p.strategy()))
	}
	want, wantRep := refMerge(stored, incoming, p)

	var storedBatch *formats.Batch
	if len(stored) > 0 {
		storedBatch = mkBatch(stored...)
	}
	out, rep := Merge(storedBatch, mkBatch(incoming...), p)
	assertRows(t, out, want)
	rep.Finish(int64(len(incoming)))
	wantRep.Finish(int64(len(incoming)))
	if rep != wantRep {
		t.Fatalf("Merge report\n got %+v\nwant %+v\nstored %v\nincoming %v", rep, wantRep, stored, incoming)
	}
	if want := incomingDuplicates(stored, incoming, p); len(incoming) > 0 &&
		rep.DuplicateRatio != float64(want)/float64(len(incoming)) {
		t.Fatalf("ratio %v, want %d/%d", rep.DuplicateRatio, want, len(incoming))
	}

	// The store's pipeline: dedup the whole input, split it and the stored
	// rows at a timestamp boundary, merge each partition, sum the reports.
	deduped, removed, conflicts := SortDedup(mkBatch(incoming...), p)
	split := int64(tsRange / 2)
	var total Report
	var got []bar
	sb, ib := mkBatch(stored...), deduped
	scut, icut := cut(sb, split), cut(ib, split)
	for _, part := range [][2]*formats.Batch{
		{sb.Slice(0, scut), ib.Slice(0, icut)},
		{sb.Slice(scut, sb.Len()), ib.Slice(icut, ib.Len())},
	} {
		o, pr := Merge(part[0], part[1], p)
		total.Add(pr)
		got = append(got, rowsOf(t, o)...)
	}
	total.AddInputDuplicates(removed, conflicts)
	total.Finish(int64(len(incoming)))
	assertRows(t, mkBatch(got...), want)

	// Staged counting sees a key twice when it conflicts inside the input and
	// again with the store.
	winners, inRep := refMerge(nil, incoming, p)
	_, storeRep := refMerge(stored, winners, p)
	stagedRep := wantRep
	stagedRep.ConflictsResolved = inRep.ConflictsResolved + storeRep.ConflictsResolved
	if total != stagedRep {
		t.Fatalf("pipeline report\n got %+v\nwant %+v", total, stagedRep)
	}
}

// cut returns the first row of b (sorted by timestamp) at or after ts.
func cut(b *formats.Batch, ts int64) int {
	i, _ := slices.BinarySearch(b.Timestamps(), ts)
	return i
}

// incomingDuplicates counts incoming rows whose key was stored or seen
// earlier in the input, straight from the definition.
func incomingDuplicates(stored, incoming []bar, p Policy) int {
	seen := map[string]bool{}
	for _, r := range stored {
		seen[refKey(p.strategy(), r)] = true
	}
	n := 0
	for _, r := range incoming {
		k := refKey(p.strategy(), r)
		if seen[k] {
			n++
		}
		seen[k] = true
	}
	return n
}

func TestMergeMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []struct{ stored, incoming, tsRange int }{
		{0, 5, 4}, {5, 0, 4}, {3, 3, 2}, {20, 20, 8}, {50, 200, 30}, {300, 100, 1000}, {200, 300, 60},
	}
	// Inputs above radixMin take the radix sort; timestamps of both signs.
	r2 := rand.New(rand.NewPCG(3, 4))
	for _, p := range testPolicies {
		for _, tsRange := range []int{50, 3000, 1 << 40} {
			stored := randBars(r2, 2000, tsRange)
			incoming := randBars(r2, radixMin*3, tsRange)
			for i := range incoming {
				incoming[i].ts -= int64(tsRange / 2)
			}
			want, wantRep := refMerge(stored[:0], incoming, p)
			out, rep := Merge(nil, mkBatch(incoming...), p)
			assertRows(t, out, want)
			if rep != wantRep {
				t.Fatalf("large input report\n got %+v\nwant %+v", rep, wantRep)
			}
		}
	}
	for _, p := range testPolicies {
		for _, sz := range sizes {
			for _, sorted := range []bool{false, true} {
				for iter := 0; iter < 20; iter++ {
					checkAgainstReference(t, r, p, sz.stored, sz.incoming, sz.tsRange, sorted)
				}
			}
		}
	}
}

func FuzzMerge(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint8(10), uint8(4), uint8(0), false)
	f.Add(uint64(2), uint8(30), uint8(30), uint8(8), uint8(1), true)
	f.Add(uint64(3), uint8(100), uint8(50), uint8(200), uint8(2), false)
	f.Add(uint64(4), uint8(10), uint8(0), uint8(3), uint8(3), false)
	f.Add(uint64(5), uint8(60), uint8(90), uint8(1), uint8(4), true)
	f.Fuzz(func(t *testing.T, seed uint64, nStored, nIncoming, tsRange, policy uint8, sorted bool) {
		r := rand.New(rand.NewPCG(seed, uint64(nStored)<<8|uint64(nIncoming)))
		p := testPolicies[int(policy)%len(testPolicies)]
		checkAgainstReference(t, r, p, int(nStored), int(nIncoming), int(tsRange)+1, sorted)
	})
}
