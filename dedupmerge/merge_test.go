package dedupmerge

import (
	"math"
	"testing"
)

func TestMergeRules(t *testing.T) {
	type counts struct{ orig, final, dups, conflicts, added, replaced, unchanged int64 }
	tests := []struct {
		name     string
		policy   Policy
		stored   []bar
		incoming []bar
		want     []bar
		counts   counts
		changed  bool
	}{
		{
			name:     "new dataset sorted input",
			incoming: []bar{b1(1, "ES", "ibkr", 10), b1(2, "ES", "ibkr", 11)},
			want:     []bar{b1(1, "ES", "ibkr", 10), b1(2, "ES", "ibkr", 11)},
			counts:   counts{orig: 2, final: 2, added: 2},
			changed:  true,
		},
		{
			name:     "new dataset unsorted input is sorted",
			incoming: []bar{b1(3, "ES", "", 1), b1(1, "ES", "", 2), b1(2, "ES", "", 3)},
			want:     []bar{b1(1, "ES", "", 2), b1(2, "ES", "", 3), b1(3, "ES", "", 1)},
			counts:   counts{orig: 3, final: 3, added: 3},
			changed:  true,
		},
		{
			name:     "timestamp_symbol keeps mixed symbols at one timestamp sorted by symbol",
			stored:   []bar{b1(1, "B", "yahoo", 1)},
			incoming: []bar{b1(1, "C", "yahoo", 2), b1(1, "A", "yahoo", 3), b1(0, "Z", "yahoo", 4)},
			want:     []bar{b1(0, "Z", "yahoo", 4), b1(1, "A", "yahoo", 3), b1(1, "B", "yahoo", 1), b1(1, "C", "yahoo", 2)},
			counts:   counts{orig: 4, final: 4, added: 3},
			changed:  true,
		},
		{
			name:     "timestamp_only collapses symbols by provider rank",
			policy:   Policy{Strategy: TimestampOnly},
			stored:   []bar{b1(1, "A", "yahoo", 1), b1(2, "A", "yahoo", 1)},
			incoming: []bar{b1(1, "B", "ibkr", 2), b1(2, "B", "kraken", 2), b1(3, "B", "x", 3), b1(3, "C", "x", 4)},
			want:     []bar{b1(1, "B", "ibkr", 2), b1(2, "A", "yahoo", 1), b1(3, "C", "x", 4)},
			counts:   counts{orig: 6, final: 3, dups: 3, conflicts: 3, added: 1, replaced: 1, unchanged: 2},
			changed:  true,
		},
		{
			name:     "all_columns keeps rows that differ anywhere and drops exact copies",
			policy:   Policy{Strategy: AllColumns},
			stored:   []bar{b1(1, "A", "yahoo", 5)},
			incoming: []bar{b1(1, "A", "ibkr", 5), b1(1, "A", "yahoo", 5), b1(1, "A", "yahoo", 4), b1(1, "A", "yahoo", 4)},
			want:     []bar{b1(1, "A", "yahoo", 4), b1(1, "A", "ibkr", 5), b1(1, "A", "yahoo", 5)},
			counts:   counts{orig: 5, final: 3, dups: 2, added: 2, unchanged: 2},
			changed:  true,
		},
		{
			name:     "better provider replaces stored row",
			stored:   []bar{b1(1, "ES", "yahoo", 1)},
			incoming: []bar{b1(1, "ES", "ibkr", 2)},
			want:     []bar{b1(1, "ES", "ibkr", 2)},
			counts:   counts{orig: 2, final: 1, dups: 1, conflicts: 1, replaced: 1},
			changed:  true,
		},
		{
			name:     "worse provider loses to stored row",
			stored:   []bar{b1(1, "ES", "barchart", 1)},
			incoming: []bar{b1(1, "ES", "yahoo", 2)},
			want:     []bar{b1(1, "ES", "barchart", 1)},
			counts:   counts{orig: 2, final: 1, dups: 1, conflicts: 1, unchanged: 1},
		},
		{
			name:     "provider names compare case-insensitively",
			stored:   []bar{b1(1, "ES", "IBKR", 1)},
			incoming: []bar{b1(1, "ES", "Yahoo", 2)},
			want:     []bar{b1(1, "ES", "IBKR", 1)},
			counts:   counts{orig: 2, final: 1, dups: 1, conflicts: 1, unchanged: 1},
		},
		{
			name:     "unknown provider ranks after known ones",
			stored:   []bar{b1(1, "ES", "yahoo", 1), b1(2, "ES", "kraken", 1)},
			incoming: []bar{b1(1, "ES", "kraken", 2), b1(2, "ES", "yahoo", 2)},
			want:     []bar{b1(1, "ES", "yahoo", 1), b1(2, "ES", "yahoo", 2)},
			counts:   counts{orig: 4, final: 2, dups: 2, conflicts: 2, replaced: 1, unchanged: 1},
			changed:  true,
		},
		{
			name:     "unknown providers and empty provider rank equal so incoming wins",
			stored:   []bar{b1(1, "ES", "", 1), b1(2, "ES", "kraken", 1)},
			incoming: []bar{b1(1, "ES", "kraken", 2), b1(2, "ES", "", 2)},
			want:     []bar{b1(1, "ES", "kraken", 2), b1(2, "ES", "", 2)},
			counts:   counts{orig: 4, final: 2, dups: 2, conflicts: 2, replaced: 2},
			changed:  true,
		},
		{
			name:     "equal rank incoming beats stored",
			stored:   []bar{b1(1, "ES", "yahoo", 1)},
			incoming: []bar{b1(1, "ES", "yahoo", 2)},
			want:     []bar{b1(1, "ES", "yahoo", 2)},
			counts:   counts{orig: 2, final: 1, dups: 1, conflicts: 1, replaced: 1},
			changed:  true,
		},
		{
			name:     "equal rank later row in file wins",
			incoming: []bar{b1(1, "ES", "yahoo", 1), b1(1, "ES", "yahoo", 2), b1(1, "ES", "yahoo", 3)},
			want:     []bar{b1(1, "ES", "yahoo", 3)},
			counts:   counts{orig: 3, final: 1, dups: 2, conflicts: 1, added: 1, unchanged: 2},
			changed:  true,
		},
		{
			name:     "better provider earlier in file beats later row",
			incoming: []bar{b1(1, "ES", "ibkr", 1), b1(1, "ES", "yahoo", 2)},
			want:     []bar{b1(1, "ES", "ibkr", 1)},
			counts:   counts{orig: 2, final: 1, dups: 1, conflicts: 1, added: 1, unchanged: 1},
			changed:  true,
		},
		{
			name:     "identical rows change nothing",
			stored:   []bar{b1(1, "ES", "yahoo", 1), b1(2, "ES", "yahoo", 2)},
			incoming: []bar{b1(2, "ES", "yahoo", 2), b1(1, "ES", "yahoo", 1)},
			want:     []bar{b1(1, "ES", "yahoo", 1), b1(2, "ES", "yahoo", 2)},
			counts:   counts{orig: 4, final: 2, dups: 2, unchanged: 2},
		},
		{
			name:     "identical duplicates within file are no conflict",
			incoming: []bar{b1(1, "ES", "yahoo", 1), b1(2, "ES", "yahoo", 2), b1(1, "ES", "yahoo", 1)},
			want:     []bar{b1(1, "ES", "yahoo", 1), b1(2, "ES", "yahoo", 2)},
			counts:   counts{orig: 3, final: 2, dups: 1, added: 2, unchanged: 1},
			changed:  true,
		},
		{
			name:     "key conflicting in file and with store counts once",
			stored:   []bar{b1(1, "ES", "yahoo", 1)},
			incoming: []bar{b1(1, "ES", "yahoo", 2), b1(1, "ES", "yahoo", 3)},
			want:     []bar{b1(1, "ES", "yahoo", 3)},
			counts:   counts{orig: 3, final: 1, dups: 2, conflicts: 1, replaced: 1, unchanged: 1},
			changed:  true,
		},
		{
			name:     "null and value in an extra column differ",
			stored:   []bar{b1(1, "ES", "yahoo", 1)},
			incoming: []bar{{ts: 1, o: 1, h: 1, l: 1, c: 1, v: 1, sym: "ES", prov: "yahoo", adj: 0}},
			want:     []bar{{ts: 1, o: 1, h: 1, l: 1, c: 1, v: 1, sym: "ES", prov: "yahoo", adj: 0}},
			counts:   counts{orig: 2, final: 1, dups: 1, conflicts: 1, replaced: 1},
			changed:  true,
		},
		{
			name:     "NaN equals NaN",
			stored:   []bar{b1(1, "ES", "yahoo", math.NaN())},
			incoming: []bar{b1(1, "ES", "yahoo", math.NaN())},
			want:     []bar{b1(1, "ES", "yahoo", math.NaN())},
			counts:   counts{orig: 2, final: 1, dups: 1, unchanged: 1},
		},
		{
			name:     "custom preference",
			policy:   Policy{Preference: []string{"yahoo", "ibkr"}},
			stored:   []bar{b1(1, "ES", "ibkr", 1), b1(2, "ES", "yahoo", 1)},
			incoming: []bar{b1(1, "ES", "yahoo", 2), b1(2, "ES", "ibkr", 2), b1(3, "ES", "barchart", 2), b1(3, "ES", "ibkr", 3)},
			want:     []bar{b1(1, "ES", "yahoo", 2), b1(2, "ES", "yahoo", 1), b1(3, "ES", "ibkr", 3)},
			counts:   counts{orig: 6, final: 3, dups: 3, conflicts: 3, added: 1, replaced: 1, unchanged: 2},
			changed:  true,
		},
		{
			name:     "empty preference makes newest write win",
			policy:   Policy{Preference: []string{}},
			stored:   []bar{b1(1, "ES", "ibkr", 1)},
			incoming: []bar{b1(1, "ES", "yahoo", 2)},
			want:     []bar{b1(1, "ES", "yahoo", 2)},
			counts:   counts{orig: 2, final: 1, dups: 1, conflicts: 1, replaced: 1},
			changed:  true,
		},
		{
			name:     "new bars after stored ones",
			stored:   []bar{b1(1, "ES", "ibkr", 1), b1(2, "ES", "ibkr", 1), b1(3, "ES", "ibkr", 1)},
			incoming: []bar{b1(4, "ES", "ibkr", 2), b1(5, "ES", "ibkr", 2)},
			want:     []bar{b1(1, "ES", "ibkr", 1), b1(2, "ES", "ibkr", 1), b1(3, "ES", "ibkr", 1), b1(4, "ES", "ibkr", 2), b1(5, "ES", "ibkr", 2)},
			counts:   counts{orig: 5, final: 5, added: 2},
			changed:  true,
		},
		{
			name:     "interleaved bars",
			stored:   []bar{b1(1, "ES", "ibkr", 1), b1(3, "ES", "ibkr", 1), b1(5, "ES", "ibkr", 1)},
			incoming: []bar{b1(0, "ES", "ibkr", 2), b1(2, "ES", "ibkr", 2), b1(3, "ES", "ibkr", 1), b1(6, "ES", "ibkr", 2)},
			want:     []bar{b1(0, "ES", "ibkr", 2), b1(1, "ES", "ibkr", 1), b1(2, "ES", "ibkr", 2), b1(3, "ES", "ibkr", 1), b1(5, "ES", "ibkr", 1), b1(6, "ES", "ibkr", 2)},
			counts:   counts{orig: 7, final: 6, dups: 1, added: 3, unchanged: 1},
			changed:  true,
		},
		{
			name:    "no incoming rows",
			stored:  []bar{b1(1, "ES", "ibkr", 1)},
			want:    []bar{b1(1, "ES", "ibkr", 1)},
			counts:  counts{orig: 1, final: 1},
			changed: false,
		},
		{
			name:     "stored rows with repeated keys are normalised",
			policy:   Policy{Strategy: TimestampOnly},
			stored:   []bar{b1(1, "A", "yahoo", 1), b1(1, "B", "yahoo", 2)},
			incoming: []bar{b1(2, "A", "yahoo", 3)},
			want:     []bar{b1(1, "B", "yahoo", 2), b1(2, "A", "yahoo", 3)},
			counts:   counts{orig: 3, final: 2, dups: 1, added: 1},
			changed:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stored = mkBatch(tc.stored...)
			if tc.stored == nil {
				stored = nil
			}
			out, rep := Merge(stored, mkBatch(tc.incoming...), tc.policy)
			assertRows(t, out, tc.want)
			got := counts{rep.OriginalCount, rep.FinalCount, rep.DuplicatesRemoved, rep.ConflictsResolved, rep.RowsAdded, rep.RowsReplaced, rep.RowsUnchanged}
			if got != tc.counts {
				t.Errorf("counts = %+v, want %+v", got, tc.counts)
			}
			if rep.Changed() != tc.changed {
				t.Errorf("Changed() = %v, want %v", rep.Changed(), tc.changed)
			}
			if rep.DuplicateThreshold != 0.1 {
				t.Errorf("DuplicateThreshold = %v, want 0.1", rep.DuplicateThreshold)
			}
		})
	}
}

func TestSortDedup(t *testing.T) {
	tests := []struct {
		name               string
		policy             Policy
		in                 []bar
		want               []bar
		removed, conflicts int64
	}{
		{"empty", Policy{}, nil, nil, 0, 0},
		{"sorted unique", Policy{}, []bar{b1(1, "A", "", 1), b1(1, "B", "", 1), b1(2, "A", "", 1)},
			[]bar{b1(1, "A", "", 1), b1(1, "B", "", 1), b1(2, "A", "", 1)}, 0, 0},
		{"reverse order", Policy{}, []bar{b1(3, "A", "", 1), b1(2, "A", "", 2), b1(1, "A", "", 3)},
			[]bar{b1(1, "A", "", 3), b1(2, "A", "", 2), b1(3, "A", "", 1)}, 0, 0},
		{"sorted with repeats later wins", Policy{}, []bar{b1(1, "A", "", 1), b1(1, "A", "", 2), b1(2, "A", "", 1), b1(2, "A", "", 1)},
			[]bar{b1(1, "A", "", 2), b1(2, "A", "", 1)}, 2, 1},
		{"unsorted repeats later wins", Policy{}, []bar{b1(2, "A", "", 7), b1(1, "A", "", 1), b1(2, "A", "", 8), b1(1, "A", "", 2)},
			[]bar{b1(1, "A", "", 2), b1(2, "A", "", 8)}, 2, 2},
		{"provider beats position", Policy{}, []bar{b1(1, "A", "barchart", 1), b1(1, "A", "ibkr", 2), b1(1, "A", "yahoo", 3)},
			[]bar{b1(1, "A", "ibkr", 2)}, 2, 1},
		{"timestamp_only", Policy{Strategy: TimestampOnly}, []bar{b1(1, "B", "", 1), b1(1, "A", "", 2)},
			[]bar{b1(1, "A", "", 2)}, 1, 1},
		{"all_columns", Policy{Strategy: AllColumns}, []bar{b1(1, "A", "", 2), b1(1, "A", "", 1), b1(1, "A", "", 2)},
			[]bar{b1(1, "A", "", 1), b1(1, "A", "", 2)}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mkBatch(tc.in...)
			out, removed, conflicts := SortDedup(in, tc.policy)
			assertRows(t, out, tc.want)
			if removed != tc.removed || conflicts != tc.conflicts {
				t.Errorf("removed, conflicts = %d, %d, want %d, %d", removed, conflicts, tc.removed, tc.conflicts)
			}
			assertRows(t, in, tc.in) // the input is not modified
		})
	}
}

func TestMergePanicsOnMisuse(t *testing.T) {
	other := mkBatch(b1(1, "A", "", 1))
	other.Schema = other.Schema[:len(other.Schema)-1]
	other.Cols = other.Cols[:len(other.Cols)-1]
	tests := []struct {
		name string
		call func()
	}{
		{"different schemas", func() { Merge(mkBatch(b1(1, "A", "", 1)), other, Policy{}) }},
		{"unknown strategy in Merge", func() { Merge(nil, mkBatch(), Policy{Strategy: "bogus"}) }},
		{"unknown strategy in SortDedup", func() { SortDedup(mkBatch(), Policy{Strategy: "bogus"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.call()
		})
	}
}

func TestMergeNil(t *testing.T) {
	out, rep := Merge(nil, nil, Policy{})
	if out.Len() != 0 || rep.OriginalCount != 0 || rep.Changed() {
		t.Fatalf("Merge(nil, nil) = %d rows, %+v", out.Len(), rep)
	}
	out, rep = Merge(mkBatch(b1(1, "A", "", 1)), nil, Policy{})
	assertRows(t, out, []bar{b1(1, "A", "", 1)})
	if rep.Changed() || rep.FinalCount != 1 {
		t.Fatalf("report %+v", rep)
	}
}
