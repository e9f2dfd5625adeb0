package formats

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
)

// Type is the logical type of a column.
type Type uint8

const (
	TypeInvalid   Type = iota
	TypeTimestamp      // int64 nanoseconds since the Unix epoch, UTC (Column.Int)
	TypeFloat64        // Column.Float
	TypeInt64          // Column.Int
	TypeString         // Column.Str
	TypeBool           // Column.Bool
)

var typeNames = [...]string{"invalid", "timestamp", "float64", "int64", "string", "bool"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", t)
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return Type(i), nil
		}
	}
	return TypeInvalid, fmt.Errorf("unknown column type %q", s)
}

func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *Type) UnmarshalText(b []byte) error {
	v, err := ParseType(string(b))
	*t = v
	return err
}

// Canonical column names. Every Batch and Schema starts with these eight
// columns, in this order; extra columns follow.
const (
	ColTimestamp = "timestamp"
	ColOpen      = "open"
	ColHigh      = "high"
	ColLow       = "low"
	ColClose     = "close"
	ColVolume    = "volume"
	ColSymbol    = "symbol"
	ColProvider  = "provider"
)

// Fixed column positions.
const (
	IdxTimestamp = iota
	IdxOpen
	IdxHigh
	IdxLow
	IdxClose
	IdxVolume
	IdxSymbol
	IdxProvider
	NumCanonical
)

// Field is a named, typed column.
type Field struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
}

// Schema is an ordered list of fields: the eight canonical columns
// (volume is int64 or float64), then extra columns.
type Schema []Field

// BaseSchema returns the canonical schema with the given volume type.
func BaseSchema(volume Type) Schema {
	return Schema{
		{ColTimestamp, TypeTimestamp},
		{ColOpen, TypeFloat64},
		{ColHigh, TypeFloat64},
		{ColLow, TypeFloat64},
		{ColClose, TypeFloat64},
		{ColVolume, volume},
		{ColSymbol, TypeString},
		{ColProvider, TypeString},
	}
}

// Index returns the position of the named column, or -1.
func (s Schema) Index(name string) int {
	for i, f := range s {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Equal reports whether two schemas have the same fields in the same order.
func (s Schema) Equal(o Schema) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Validate checks that s starts with the canonical columns.
func (s Schema) Validate() error {
	if len(s) < NumCanonical {
		return fmt.Errorf("schema has %d columns, want at least %d", len(s), NumCanonical)
	}
	base := BaseSchema(s[IdxVolume].Type)
	for i := 0; i < NumCanonical; i++ {
		if s[i] != base[i] {
			return fmt.Errorf("schema column %d is %s %s, want %s %s", i, s[i].Name, s[i].Type, base[i].Name, base[i].Type)
		}
	}
	if v := s[IdxVolume].Type; v != TypeInt64 && v != TypeFloat64 {
		return fmt.Errorf("volume type %s, want int64 or float64", v)
	}
	seen := map[string]bool{}
	for _, f := range s {
		if seen[f.Name] {
			return fmt.Errorf("duplicate column %q", f.Name)
		}
		seen[f.Name] = true
		if f.Type == TypeInvalid || int(f.Type) >= len(typeNames) {
			return fmt.Errorf("column %q has invalid type", f.Name)
		}
	}
	return nil
}

func (s Schema) String() string {
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = f.Name + " " + f.Type.String()
	}
	return strings.Join(parts, ", ")
}

// Unify returns the schema that holds rows of both a, a dataset's schema,
// and b, an input's: extras of b missing from a are appended, an int64
// column widens to float64 when the other side is float64, and a string
// column of a takes b's numbers, booleans and timestamps as text (Conform
// prints them as the CSV view does). Any other difference is an error: a
// dataset's numbers never silently become text.
func Unify(a, b Schema) (Schema, error) {
	out := append(Schema(nil), a...)
	for _, f := range b {
		i := out.Index(f.Name)
		if i < 0 {
			out = append(out, f)
			continue
		}
		if out[i].Type == f.Type || out[i].Type == TypeString && i >= NumCanonical {
			continue
		}
		if isNumeric(out[i].Type) && isNumeric(f.Type) {
			out[i].Type = TypeFloat64
			continue
		}
		return nil, fmt.Errorf("column %q is %s in the dataset but %s in the input", f.Name, out[i].Type, f.Type)
	}
	return out, nil
}

func isNumeric(t Type) bool { return t == TypeInt64 || t == TypeFloat64 }

// MarshalJSON keeps a nil schema as [].
func (s Schema) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]Field(s))
}

// Column holds the values of one column. Exactly one of the value slices is
// used, chosen by Type. Null is nil when the column has no nulls; otherwise
// Null[i] reports that row i is missing. Canonical columns are never null.
type Column struct {
	Int   []int64
	Float []float64
	Str   []string
	Bool  []bool
	Null  []bool
}

// Batch is a set of rows in columnar form. Cols[i] holds Schema[i].
type Batch struct {
	Schema Schema
	Cols   []Column
	// Line optionally holds the 1-based source line (CSV) or row number
	// (Parquet) of each row, for error messages. It may be nil.
	Line []int64

	pooled bool // made by pooledBatch and not yet released
}

// batchPool holds the storage of decoder batches handed back with
// ReleaseBatch, so that decoding a large file reuses a few batches instead
// of allocating and clearing one per 64Ki rows.
var batchPool sync.Pool // of *Batch

// pooledBatch returns an empty batch of schema s with room for n rows and
// their line numbers, reusing a released batch when one fits.
func pooledBatch(s Schema, n int) *Batch {
	if b, _ := batchPool.Get().(*Batch); b != nil && b.Schema.Equal(s) && b.fits(n) {
		b.pooled = true
		return b
	}
	b := NewBatch(s, n)
	b.Line = make([]int64, 0, n)
	b.pooled = true
	return b
}

func (b *Batch) fits(n int) bool {
	if cap(b.Line) < n {
		return false
	}
	for c := range b.Cols {
		col := &b.Cols[c]
		switch b.Schema[c].Type {
		case TypeTimestamp, TypeInt64:
			if cap(col.Int) < n {
				return false
			}
		case TypeFloat64:
			if cap(col.Float) < n {
				return false
			}
		case TypeString:
			if cap(col.Str) < n {
				return false
			}
		case TypeBool:
			if cap(col.Bool) < n {
				return false
			}
		}
	}
	return true
}

// ReleaseBatch hands the storage of a batch a decoder returned back for
// its later batches. The caller must hold the only reference to b and to
// its columns (not a Slice of it, not a column shared with another batch)
// and must not use either afterwards. Other batches are left to the
// garbage collector, and a batch is released at most once.
func ReleaseBatch(b *Batch) {
	if b == nil || !b.pooled {
		return
	}
	b.pooled = false
	for c := range b.Cols {
		col := &b.Cols[c]
		clear(col.Str) // let the strings go
		col.Int, col.Float, col.Str, col.Bool, col.Null = col.Int[:0], col.Float[:0], col.Str[:0], col.Bool[:0], nil
	}
	b.Line = b.Line[:0]
	batchPool.Put(b)
}

// NewBatch returns an empty batch for s with room for capacity rows.
func NewBatch(s Schema, capacity int) *Batch {
	b := &Batch{Schema: s, Cols: make([]Column, len(s))}
	for i, f := range s {
		c := &b.Cols[i]
		switch f.Type {
		case TypeTimestamp, TypeInt64:
			c.Int = make([]int64, 0, capacity)
		case TypeFloat64:
			c.Float = make([]float64, 0, capacity)
		case TypeString:
			c.Str = make([]string, 0, capacity)
		case TypeBool:
			c.Bool = make([]bool, 0, capacity)
		}
	}
	return b
}

// Len returns the number of rows.
func (b *Batch) Len() int {
	if b == nil || len(b.Cols) == 0 {
		return 0
	}
	return b.Cols[0].Len(b.Schema[0].Type)
}

// Len returns the number of values in c, given its type.
func (c *Column) Len(t Type) int {
	switch t {
	case TypeTimestamp, TypeInt64:
		return len(c.Int)
	case TypeFloat64:
		return len(c.Float)
	case TypeString:
		return len(c.Str)
	case TypeBool:
		return len(c.Bool)
	}
	return 0
}

// IsNull reports whether row i of c is missing.
func (c *Column) IsNull(i int) bool { return c.Null != nil && c.Null[i] }

// Timestamps returns the timestamp column.
func (b *Batch) Timestamps() []int64 { return b.Cols[IdxTimestamp].Int }

// Symbols returns the symbol column.
func (b *Batch) Symbols() []string { return b.Cols[IdxSymbol].Str }

// Providers returns the provider column.
func (b *Batch) Providers() []string { return b.Cols[IdxProvider].Str }

// AppendRow appends row i of src to b. src must have the same schema.
func (b *Batch) AppendRow(src *Batch, i int) {
	n := b.Len()
	for c := range b.Cols {
		d, s := &b.Cols[c], &src.Cols[c]
		switch b.Schema[c].Type {
		case TypeTimestamp, TypeInt64:
			d.Int = append(d.Int, s.Int[i])
		case TypeFloat64:
			d.Float = append(d.Float, s.Float[i])
		case TypeString:
			d.Str = append(d.Str, s.Str[i])
		case TypeBool:
			d.Bool = append(d.Bool, s.Bool[i])
		}
		null := s.IsNull(i)
		if null && d.Null == nil {
			d.Null = make([]bool, n, n+1)
		}
		if d.Null != nil {
			d.Null = append(d.Null, null)
		}
	}
	if src.Line != nil || b.Line != nil {
		if b.Line == nil {
			b.Line = make([]int64, n, n+1)
		}
		var l int64
		if src.Line != nil {
			l = src.Line[i]
		}
		b.Line = append(b.Line, l)
	}
}

// Take returns a new batch holding rows idx of b, in that order.
func (b *Batch) Take(idx []int) *Batch {
	out := NewBatch(b.Schema, len(idx))
	for _, i := range idx {
		out.AppendRow(b, i)
	}
	return out
}

// RowsEqual reports whether row i of a and row j of b hold the same values in
// every column. a and b must have the same schema. NaN equals NaN.
func RowsEqual(a *Batch, i int, b *Batch, j int) bool {
	for c := range a.Cols {
		x, y := &a.Cols[c], &b.Cols[c]
		nx, ny := x.IsNull(i), y.IsNull(j)
		if nx || ny {
			if nx != ny {
				return false
			}
			continue
		}
		switch a.Schema[c].Type {
		case TypeTimestamp, TypeInt64:
			if x.Int[i] != y.Int[j] {
				return false
			}
		case TypeFloat64:
			if x.Float[i] != y.Float[j] && !(math.IsNaN(x.Float[i]) && math.IsNaN(y.Float[j])) {
				return false
			}
		case TypeString:
			if x.Str[i] != y.Str[j] {
				return false
			}
		case TypeBool:
			if x.Bool[i] != y.Bool[j] {
				return false
			}
		}
	}
	return true
}

// Conform returns b converted to schema s, which must be a superset of
// b.Schema as produced by Unify: missing extra columns become null, int64
// columns widen to float64, other columns into a string column become text,
// and columns are reordered to s.
func Conform(b *Batch, s Schema) (*Batch, error) {
	if b.Schema.Equal(s) {
		return b, nil
	}
	n := b.Len()
	out := &Batch{Schema: s, Cols: make([]Column, len(s)), Line: b.Line}
	for i, f := range s {
		j := b.Schema.Index(f.Name)
		if j < 0 {
			if i < NumCanonical {
				return nil, fmt.Errorf("batch lacks required column %q", f.Name)
			}
			out.Cols[i] = nullColumn(f.Type, n)
			continue
		}
		src := b.Cols[j]
		from := b.Schema[j].Type
		switch {
		case from == f.Type:
			out.Cols[i] = src
		case from == TypeInt64 && f.Type == TypeFloat64:
			fl := make([]float64, n)
			for k, v := range src.Int {
				fl[k] = float64(v)
			}
			out.Cols[i] = Column{Float: fl, Null: src.Null}
		case f.Type == TypeString:
			out.Cols[i] = textColumn(&src, from, n)
		default:
			return nil, fmt.Errorf("column %q: cannot convert %s to %s", f.Name, from, f.Type)
		}
	}
	return out, nil
}

// textColumn prints the values of src, of type t, as the CSV view does.
func textColumn(src *Column, t Type, n int) Column {
	out := Column{Str: make([]string, n), Null: src.Null}
	var buf []byte
	for k := range n {
		if src.IsNull(k) {
			continue
		}
		buf = buf[:0]
		switch t {
		case TypeTimestamp:
			buf = appendCSVTimestamp(buf, src.Int[k])
		case TypeInt64:
			buf = strconv.AppendInt(buf, src.Int[k], 10)
		case TypeFloat64:
			buf = appendCSVFloat(buf, src.Float[k])
		case TypeBool:
			buf = strconv.AppendBool(buf, src.Bool[k])
		}
		out.Str[k] = string(buf)
	}
	return out
}

func nullColumn(t Type, n int) Column {
	c := Column{Null: make([]bool, n)}
	for i := range c.Null {
		c.Null[i] = true
	}
	switch t {
	case TypeTimestamp, TypeInt64:
		c.Int = make([]int64, n)
	case TypeFloat64:
		c.Float = make([]float64, n)
	case TypeString:
		c.Str = make([]string, n)
	case TypeBool:
		c.Bool = make([]bool, n)
	}
	return c
}

// Slice returns rows [i, j) of b sharing b's storage.
func (b *Batch) Slice(i, j int) *Batch {
	out := &Batch{Schema: b.Schema, Cols: make([]Column, len(b.Cols))}
	for c := range b.Cols {
		s, d := &b.Cols[c], &out.Cols[c]
		switch b.Schema[c].Type {
		case TypeTimestamp, TypeInt64:
			d.Int = s.Int[i:j:j]
		case TypeFloat64:
			d.Float = s.Float[i:j:j]
		case TypeString:
			d.Str = s.Str[i:j:j]
		case TypeBool:
			d.Bool = s.Bool[i:j:j]
		}
		if s.Null != nil {
			d.Null = s.Null[i:j:j]
		}
	}
	if b.Line != nil {
		out.Line = b.Line[i:j:j]
	}
	return out
}

// Append appends all rows of src, which must have b's schema, column by
// column.
func (b *Batch) Append(src *Batch) { b.AppendRange(src, 0, src.Len()) }

// AppendRange appends rows [lo, hi) of src, which must have b's schema.
func (b *Batch) AppendRange(src *Batch, lo, hi int) {
	n := b.Len()
	for c := range b.Cols {
		appendColumnRange(&b.Cols[c], &src.Cols[c], b.Schema[c].Type, lo, hi)
	}
	switch {
	case src.Line != nil:
		if b.Line == nil {
			b.Line = make([]int64, n, n+hi-lo)
		}
		b.Line = append(b.Line, src.Line[lo:hi]...)
	case b.Line != nil:
		b.Line = append(b.Line, make([]int64, hi-lo)...)
	}
}

// appendColumnRange appends rows [lo, hi) of src to dst, both of type t,
// keeping dst.Null nil until the first null.
func appendColumnRange(dst, src *Column, t Type, lo, hi int) {
	before := dst.Len(t)
	switch t {
	case TypeTimestamp, TypeInt64:
		dst.Int = append(dst.Int, src.Int[lo:hi]...)
	case TypeFloat64:
		dst.Float = append(dst.Float, src.Float[lo:hi]...)
	case TypeString:
		dst.Str = append(dst.Str, src.Str[lo:hi]...)
	case TypeBool:
		dst.Bool = append(dst.Bool, src.Bool[lo:hi]...)
	}
	switch {
	case src.Null != nil:
		if dst.Null == nil {
			dst.Null = make([]bool, before, before+hi-lo)
		}
		dst.Null = append(dst.Null, src.Null[lo:hi]...)
	case dst.Null != nil:
		dst.Null = append(dst.Null, make([]bool, hi-lo)...)
	}
}
