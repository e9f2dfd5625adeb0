package dedupmerge

import (
	"math/rand/v2"
	"slices"
	"testing"

	"bcfs/formats"
)

const (
	benchSymbols  = 10
	benchMinute   = int64(60e9)
	benchStart    = int64(1_700_000_000) * 1e9
	benchRowBytes = 6*8 + 2*16 // fixed-width columns plus two string headers
)

var benchSymbolNames = []string{"AAPL", "AMZN", "ES", "GOOG", "JPM", "META", "MSFT", "NQ", "NVDA", "TSLA", "ZZNEW"}

// benchBars returns rows [from, to) of a synthetic 1-minute sequence of
// benchSymbols symbols, sorted by (timestamp, symbol). jitter shifts close
// so that overlapping rows conflict.
func benchBars(from, to int, provider string, jitter float64) *formats.Batch {
	s := formats.BaseSchema(formats.TypeInt64)
	n := to - from
	b := &formats.Batch{Schema: s, Cols: make([]formats.Column, len(s))}
	ts, vol := make([]int64, n), make([]int64, n)
	o, h, l, c := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	sym, prov := make([]string, n), make([]string, n)
	for k := range n {
		i := from + k
		ts[k] = benchStart + int64(i/benchSymbols)*benchMinute
		p := 100 + float64(i%977)/100
		o[k], h[k], l[k], c[k] = p, p+1, p-1, p+jitter
		vol[k] = int64(i % 1000)
		sym[k], prov[k] = benchSymbolNames[i%benchSymbols], provider
	}
	b.Cols[formats.IdxTimestamp].Int = ts
	b.Cols[formats.IdxOpen].Float, b.Cols[formats.IdxHigh].Float = o, h
	b.Cols[formats.IdxLow].Float, b.Cols[formats.IdxClose].Float = l, c
	b.Cols[formats.IdxVolume].Int = vol
	b.Cols[formats.IdxSymbol].Str, b.Cols[formats.IdxProvider].Str = sym, prov
	return b
}

func BenchmarkSortDedup(b *testing.B) {
	const n = 2_000_000
	sorted := benchBars(0, n, "ibkr", 0)
	perm := rand.New(rand.NewPCG(7, 7)).Perm(n)
	shuffled := sorted.Take(perm)
	backward := make([]int, n)
	for i := range backward {
		backward[i] = n - 1 - i
	}
	reversed := sorted.Take(backward)
	// Every tenth row repeated right after itself with another close: a
	// sorted file with in-file conflicts.
	var idx []int
	for i := range n - n/11 {
		idx = append(idx, i)
		if i%10 == 0 {
			idx = append(idx, i)
		}
	}
	withRepeats := sorted.Take(idx[:n])
	cases := []struct {
		name string
		in   *formats.Batch
	}{
		{"sorted", sorted},
		{"sorted_with_repeats", withRepeats},
		{"reversed", reversed},
		{"shuffled", shuffled},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(tc.in.Len()) * benchRowBytes)
			for b.Loop() {
				SortDedup(tc.in, Policy{})
			}
		})
	}
}

// BenchmarkMerge merges 2M incoming rows into 12M stored rows kept as
// partitions of 500k rows. "tail" is the shape of scripts/bench.sh: the
// first 1M incoming rows overlap the last 1M stored ones with a different
// close, the next 1M are new bars after them. "scattered" spreads 1M
// overlapping and 1M new keys over every partition.
func BenchmarkMerge(b *testing.B) {
	const (
		storedRows = 12_000_000
		partRows   = 500_000
		inRows     = 2_000_000
	)
	var parts []*formats.Batch
	for lo := 0; lo < storedRows; lo += partRows {
		parts = append(parts, benchBars(lo, lo+partRows, "ibkr", 0))
	}
	tail := benchBars(storedRows-inRows/2, storedRows+inRows/2, "ibkr", 0.25)
	scattered := scatteredIncoming(parts, inRows)
	cases := []struct {
		name string
		in   *formats.Batch
	}{
		{"tail", tail},
		{"scattered", scattered},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(tc.in.Len()) * benchRowBytes)
			var rep Report
			for b.Loop() {
				rep = mergePartitions(parts, tc.in)
			}
			if rep.RowsAdded != inRows/2 || rep.RowsReplaced != inRows/2 {
				b.Fatalf("report %+v", rep)
			}
		})
	}
}

// scatteredIncoming takes every stride-th stored row with another close
// (stride 12 puts each at its own timestamp) and, after each, a new row for a
// symbol that sorts after all stored ones at that timestamp.
func scatteredIncoming(parts []*formats.Batch, n int) *formats.Batch {
	out := formats.NewBatch(parts[0].Schema, n)
	total := len(parts) * parts[0].Len()
	stride := total / (n / 2)
	for g := 0; g < total && out.Len() < n; g += stride {
		p, i := parts[g/parts[0].Len()], g%parts[0].Len()
		out.AppendRow(p, i)
		out.Cols[formats.IdxClose].Float[out.Len()-1] += 0.5
		out.AppendRow(p, i)
		out.Cols[formats.IdxSymbol].Str[out.Len()-1] = benchSymbolNames[benchSymbols]
	}
	return out
}

// mergePartitions does what the store does for one ingest: split the sorted
// incoming rows at partition boundaries, merge each touched partition, and
// put rows past the last partition into a new one.
func mergePartitions(parts []*formats.Batch, in *formats.Batch) Report {
	var total Report
	sorted, removed, conflicts := SortDedup(in, Policy{})
	ts := sorted.Timestamps()
	lo := 0
	for pi, p := range parts {
		hi := len(ts)
		if pi+1 < len(parts) {
			hi, _ = slices.BinarySearch(ts, parts[pi+1].Timestamps()[0])
		}
		if hi > lo {
			_, r := Merge(p, sorted.Slice(lo, hi), Policy{})
			total.Add(r)
		}
		lo = hi
	}
	total.AddInputDuplicates(removed, conflicts)
	total.Finish(int64(in.Len()))
	return total
}
