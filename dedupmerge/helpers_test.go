package dedupmerge

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"bcfs/formats"
)

// bar is one test row: the canonical columns plus a nullable extra float
// column adj_close (null when adjNull).
type bar struct {
	ts         int64
	o, h, l, c float64
	v          int64
	sym, prov  string
	adj        float64
	adjNull    bool
}

// b1 is a short constructor for a bar whose prices are all p.
func b1(ts int64, sym, prov string, p float64) bar {
	return bar{ts: ts, o: p, h: p, l: p, c: p, v: 1, sym: sym, prov: prov, adjNull: true}
}

var testSchema = append(formats.BaseSchema(formats.TypeInt64), formats.Field{Name: "adj_close", Type: formats.TypeFloat64})

const idxAdj = formats.NumCanonical

func mkBatch(rows ...bar) *formats.Batch {
	b := formats.NewBatch(testSchema, len(rows))
	anyNull := false
	for _, r := range rows {
		b.Cols[formats.IdxTimestamp].Int = append(b.Cols[formats.IdxTimestamp].Int, r.ts)
		b.Cols[formats.IdxOpen].Float = append(b.Cols[formats.IdxOpen].Float, r.o)
		b.Cols[formats.IdxHigh].Float = append(b.Cols[formats.IdxHigh].Float, r.h)
		b.Cols[formats.IdxLow].Float = append(b.Cols[formats.IdxLow].Float, r.l)
		b.Cols[formats.IdxClose].Float = append(b.Cols[formats.IdxClose].Float, r.c)
		b.Cols[formats.IdxVolume].Int = append(b.Cols[formats.IdxVolume].Int, r.v)
		b.Cols[formats.IdxSymbol].Str = append(b.Cols[formats.IdxSymbol].Str, r.sym)
		b.Cols[formats.IdxProvider].Str = append(b.Cols[formats.IdxProvider].Str, r.prov)
		b.Cols[idxAdj].Float = append(b.Cols[idxAdj].Float, r.adj)
		anyNull = anyNull || r.adjNull
	}
	if anyNull {
		b.Cols[idxAdj].Null = make([]bool, len(rows))
		for i, r := range rows {
			b.Cols[idxAdj].Null[i] = r.adjNull
		}
	}
	return b
}

func rowsOf(t testing.TB, b *formats.Batch) []bar {
	t.Helper()
	if b == nil {
		return nil
	}
	if !b.Schema.Equal(testSchema) {
		t.Fatalf("result schema [%v], want [%v]", b.Schema, testSchema)
	}
	n := b.Len()
	for c := range b.Cols {
		if got := b.Cols[c].Len(b.Schema[c].Type); got != n {
			t.Fatalf("column %d has %d values, want %d", c, got, n)
		}
		if b.Cols[c].Null != nil && len(b.Cols[c].Null) != n {
			t.Fatalf("column %d has %d null flags, want %d", c, len(b.Cols[c].Null), n)
		}
	}
	out := make([]bar, n)
	for i := range out {
		out[i] = bar{
			ts: b.Cols[formats.IdxTimestamp].Int[i],
			o:  b.Cols[formats.IdxOpen].Float[i], h: b.Cols[formats.IdxHigh].Float[i],
			l: b.Cols[formats.IdxLow].Float[i], c: b.Cols[formats.IdxClose].Float[i],
			v: b.Cols[formats.IdxVolume].Int[i], sym: b.Cols[formats.IdxSymbol].Str[i],
			prov: b.Cols[formats.IdxProvider].Str[i],
			adj:  b.Cols[idxAdj].Float[i], adjNull: b.Cols[idxAdj].IsNull(i),
		}
	}
	return out
}

func feq(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// barEq is the test's own statement of formats.RowsEqual.
func barEq(a, b bar) bool {
	adj := a.adjNull == b.adjNull && (a.adjNull || feq(a.adj, b.adj))
	return a.ts == b.ts && feq(a.o, b.o) && feq(a.h, b.h) && feq(a.l, b.l) && feq(a.c, b.c) &&
		a.v == b.v && a.sym == b.sym && a.prov == b.prov && adj
}

func (r bar) String() string {
	adj := "null"
	if !r.adjNull {
		adj = fmt.Sprint(r.adj)
	}
	return fmt.Sprintf("{%d %s/%s o=%v h=%v l=%v c=%v v=%d adj=%s}", r.ts, r.sym, r.prov, r.o, r.h, r.l, r.c, r.v, adj)
}

func assertRows(t testing.TB, got *formats.Batch, want []bar) {
	t.Helper()
	g := rowsOf(t, got)
	if len(g) != len(want) {
		t.Fatalf("got %d rows, want %d\ngot:  %v\nwant: %v", len(g), len(want), g, want)
	}
	for i := range g {
		if !barEq(g[i], want[i]) {
			t.Fatalf("row %d = %v, want %v\ngot:  %v\nwant: %v", i, g[i], want[i], g, want)
		}
	}
}

// refKey is the reference notion of a bar key, as a string.
func refKey(s Strategy, r bar) string {
	switch s {
	case TimestampOnly:
		return fmt.Sprint(r.ts)
	case AllColumns:
		f := func(x float64) string {
			if x == 0 {
				x = 0 // -0 and +0 are one value
			}
			return fmt.Sprint(x)
		}
		adj := "null"
		if !r.adjNull {
			adj = f(r.adj)
		}
		return strings.Join([]string{fmt.Sprint(r.ts), r.sym, f(r.o), f(r.h), f(r.l), f(r.c), fmt.Sprint(r.v), r.prov, adj}, "\x00")
	}
	return fmt.Sprint(r.ts) + "\x00" + r.sym
}

// refOrder is the reference key order: (timestamp, symbol), then for
// all_columns the other columns (nulls first, NaN first).
func refOrder(s Strategy) func(a, b bar) int {
	fc := func(x, y float64) int { return cmp.Compare(x, y) }
	return func(a, b bar) int {
		if c := cmp.Compare(a.ts, b.ts); c != 0 || s == TimestampOnly {
			return c
		}
		if c := cmp.Compare(a.sym, b.sym); c != 0 || s != AllColumns {
			return c
		}
		for _, c := range []int{fc(a.o, b.o), fc(a.h, b.h), fc(a.l, b.l), fc(a.c, b.c), cmp.Compare(a.v, b.v), cmp.Compare(a.prov, b.prov)} {
			if c != 0 {
				return c
			}
		}
		switch {
		case a.adjNull && b.adjNull:
			return 0
		case a.adjNull:
			return -1
		case b.adjNull:
			return 1
		}
		return fc(a.adj, b.adj)
	}
}

// refMerge is a map-based reference: stored rows (unique keys) first, then
// incoming rows one by one; a row takes a key's slot when its rank is at
// least as good as the current holder's (equal rank: newer write wins).
// Conflicts count keys that saw more than one distinct value.
func refMerge(stored, incoming []bar, p Policy) ([]bar, Report) {
	s := p.strategy()
	type slot struct {
		cur      bar
		stored   *bar
		distinct []bar
	}
	slots := map[string]*slot{}
	for i := range stored {
		slots[refKey(s, stored[i])] = &slot{cur: stored[i], stored: &stored[i], distinct: []bar{stored[i]}}
	}
	for _, r := range incoming {
		k := refKey(s, r)
		sl := slots[k]
		if sl == nil {
			slots[k] = &slot{cur: r, distinct: []bar{r}}
			continue
		}
		if !slices.ContainsFunc(sl.distinct, func(d bar) bool { return barEq(d, r) }) {
			sl.distinct = append(sl.distinct, r)
		}
		if p.Rank(r.prov) <= p.Rank(sl.cur.prov) {
			sl.cur = r
		}
	}
	rep := Report{OriginalCount: int64(len(stored) + len(incoming)), DuplicateThreshold: 0.1}
	var out []bar
	for _, sl := range slots {
		out = append(out, sl.cur)
		switch {
		case sl.stored == nil:
			rep.RowsAdded++
		case !barEq(*sl.stored, sl.cur):
			rep.RowsReplaced++
		}
		if len(sl.distinct) > 1 {
			rep.ConflictsResolved++
		}
	}
	slices.SortFunc(out, refOrder(s))
	rep.FinalCount = int64(len(out))
	rep.DuplicatesRemoved = rep.OriginalCount - rep.FinalCount
	rep.RowsUnchanged = int64(len(incoming)) - rep.RowsAdded - rep.RowsReplaced
	return out, rep
}
