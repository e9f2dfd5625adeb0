package dedupmerge

import (
	"cmp"
	"strings"

	"bcfs/formats"
)

// keyCmp returns a function comparing the key of row i of a with the key of
// row j of b in key order (see the package doc). a and b must share a schema.
// The function is built once per batch pair so the hot loops index column
// slices directly instead of going through the Batch.
func keyCmp(s Strategy, a, b *formats.Batch) func(i, j int) int {
	ats, bts := a.Timestamps(), b.Timestamps()
	switch s {
	case TimestampOnly:
		return func(i, j int) int { return cmp.Compare(ats[i], bts[j]) }
	case AllColumns:
		asym, bsym := a.Symbols(), b.Symbols()
		return func(i, j int) int {
			if ats[i] != bts[j] {
				return cmp.Compare(ats[i], bts[j])
			}
			if c := strings.Compare(asym[i], bsym[j]); c != 0 {
				return c
			}
			return cmpRest(a, i, b, j)
		}
	default:
		asym, bsym := a.Symbols(), b.Symbols()
		return func(i, j int) int {
			if ats[i] != bts[j] {
				return cmp.Compare(ats[i], bts[j])
			}
			return strings.Compare(asym[i], bsym[j])
		}
	}
}

// cmpRest compares every column but timestamp and symbol, in schema order.
// It is 0 exactly when formats.RowsEqual would hold for those columns: nulls
// equal nulls whatever value sits under them, NaN equals NaN, -0 equals +0.
func cmpRest(a *formats.Batch, i int, b *formats.Batch, j int) int {
	for c := range a.Cols {
		if c == formats.IdxTimestamp || c == formats.IdxSymbol {
			continue
		}
		if r := cmpCell(a.Schema[c].Type, &a.Cols[c], i, &b.Cols[c], j); r != 0 {
			return r
		}
	}
	return 0
}

// cmpCell orders nulls first, NaN before numbers (cmp.Compare) and false
// before true.
func cmpCell(t formats.Type, x *formats.Column, i int, y *formats.Column, j int) int {
	nx, ny := x.IsNull(i), y.IsNull(j)
	if nx || ny {
		switch {
		case nx && ny:
			return 0
		case nx:
			return -1
		}
		return 1
	}
	switch t {
	case formats.TypeTimestamp, formats.TypeInt64:
		return cmp.Compare(x.Int[i], y.Int[j])
	case formats.TypeFloat64:
		return cmp.Compare(x.Float[i], y.Float[j])
	case formats.TypeString:
		return strings.Compare(x.Str[i], y.Str[j])
	case formats.TypeBool:
		switch {
		case x.Bool[i] == y.Bool[j]:
			return 0
		case y.Bool[j]:
			return -1
		}
		return 1
	}
	return 0
}
