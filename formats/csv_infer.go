package formats

// valueKind classifies one text value for type inference.
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
	if len(v) == 0 {
		return kindEmpty
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
