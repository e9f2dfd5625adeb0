package formats

// valueKind classifies one text value for type inference. Missing values
// (empty, null, NaN, N/A: isNullText) are kindEmpty in every column, so a
// vendor's null holiday row does not make a price column text.
type valueKind uint8

const (
	kindEmpty valueKind = iota
	kindInt
	kindFloat
	kindBool
	kindString
)

func classify(v []byte, pct bool) valueKind {
	v = trimBytes(v)
	if isNullText(v) {
		return kindEmpty // a missing value says nothing of the type
	}
	if _, ok := parseIntBytes(v); ok {
		return kindInt
	}
	if _, ok := parseNumber(v, pct, nil); ok {
		return kindFloat
	}
	if _, ok := parseBool(v); ok {
		return kindBool
	}
	return kindString
}

// buildSchema infers the volume and extra column types from the buffered
// first batch and fixes the schema.
func (d *csvDecoder) buildSchema() error {
	first := d.first
	volType := TypeInt64
	for i := 0; i < first.len(); i++ {
		if classify(first.field(i, d.volCol), false) == kindFloat {
			volType = TypeFloat64
			break
		}
	}
	schema := BaseSchema(volType)
	kept := d.extras[:0]
	for _, e := range d.extras {
		var seen [kindString + 1]bool
		for i := 0; i < first.len(); i++ {
			seen[classify(first.field(i, e.src), e.pct)] = true
		}
		t := TypeString
		switch {
		case seen[kindString] || seen[kindBool] && (seen[kindInt] || seen[kindFloat]):
			t = TypeString
		case seen[kindBool]:
			t = TypeBool
		case seen[kindFloat]:
			t = TypeFloat64
		case seen[kindInt]:
			t = TypeInt64
		}
		if i := d.opt.Schema.Index(e.name); i >= NumCanonical {
			t = hintedType(t, d.opt.Schema[i].Type)
			e.indexy = false
		}
		if e.indexy && t == TypeInt64 {
			continue // a pandas/R row number, not data
		}
		e.dst = len(schema)
		schema = append(schema, Field{Name: e.name, Type: t})
		kept = append(kept, e)
	}
	d.extras = kept
	d.schema = schema
	d.srcCols = make([]SourceColumn, NumCanonical)
	set := func(idx, src int) {
		if src >= 0 {
			d.srcCols[idx] = SourceColumn{Pos: src + 1, Name: d.header[src]}
		}
	}
	set(IdxTimestamp, d.tsCol)
	for k := 0; k < 4; k++ {
		set(IdxOpen+k, d.price[k])
	}
	set(IdxVolume, d.volCol)
	set(IdxSymbol, d.symCol)
	set(IdxProvider, d.provCol)
	return nil
}

// hintedType is the type a CSV column takes when the dataset it is written
// into already has it as want: text stays text (verbatim, so a dataset's own
// view reads back unchanged), timestamps parse as timestamps, and a number
// column stays a number (a value that is not one is then an error naming
// it, not a silent switch to text). An int64 column still widens to float64
// for fractional input.
func hintedType(inferred, want Type) Type {
	if want == TypeInt64 && inferred == TypeFloat64 {
		return TypeFloat64
	}
	return want
}
