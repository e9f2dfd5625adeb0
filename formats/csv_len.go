package formats

import "math"

// CSVRowsLen returns len(AppendCSVRows(nil, b)) without rendering: the
// store records each row group's CSV length at ingest, and counting digits
// is several times cheaper than printing them. Each case mirrors the
// corresponding append function; FuzzCSVRowsLen holds them equal.
func CSVRowsLen(b *Batch) int64 {
	n := int64(b.Len())
	if n == 0 {
		return 0
	}
	total := n * int64(len(b.Cols)) // separators: ncols-1 commas and a newline per row
	for c := range b.Cols {
		col := &b.Cols[c]
		null := col.Null
		switch b.Schema[c].Type {
		case TypeTimestamp:
			for i, v := range col.Int {
				if null == nil || !null[i] {
					total += int64(timestampLen(v))
				}
			}
		case TypeFloat64:
			for i, v := range col.Float {
				if null == nil || !null[i] {
					total += int64(floatLen(v))
				}
			}
		case TypeInt64:
			for i, v := range col.Int {
				if null == nil || !null[i] {
					total += int64(intLen(v))
				}
			}
		case TypeString:
			for i, v := range col.Str {
				if null == nil || !null[i] {
					total += int64(stringLen(v))
				}
			}
		case TypeBool:
			for i, v := range col.Bool {
				if null == nil || !null[i] {
					total += 4
					if !v {
						total++
					}
				}
			}
		}
	}
	return total
}

// timestampLen mirrors appendCSVTimestamp.
func timestampLen(ns int64) int {
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
	}
	if frac == 0 {
		return 19
	}
	digits := 9
	for frac%10 == 0 {
		frac /= 10
		digits--
	}
	return 20 + digits
}

// floatLen mirrors appendCSVFloat.
func floatLen(v float64) int {
	switch {
	case math.IsNaN(v), math.IsInf(v, 1):
		return 3
	case math.IsInf(v, -1):
		return 4
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		if v == 0 {
			return 1
		}
		return intLen(int64(v))
	}
	if a := math.Abs(v); a < 1<<26 {
		m := a * 1e6
		r := math.Round(m)
		if math.Abs(m-r) < 0.49 {
			u := uint64(r)
			if u == 0 {
				return 1
			}
			n := uintLen(u / 1e6)
			if v < 0 {
				n++
			}
			if f := u % 1e6; f != 0 {
				digits := 6
				for f%10 == 0 {
					f /= 10
					digits--
				}
				n += 1 + digits
			}
			return n
		}
	}
	var buf [40]byte
	return len(appendCSVFloat(buf[:0], v))
}

func intLen(v int64) int {
	if v < 0 {
		if v == math.MinInt64 {
			return 20
		}
		return 1 + uintLen(uint64(-v))
	}
	return uintLen(uint64(v))
}

func uintLen(u uint64) int {
	n := 1
	for u >= 10000 {
		u /= 10000
		n += 4
	}
	for u >= 10 {
		u /= 10
		n++
	}
	return n
}

// stringLen mirrors appendCSVString.
func stringLen(s string) int {
	quotes, quote := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quotes++
			quote = true
		case ',', '\r', '\n':
			quote = true
		}
	}
	if !quote {
		return len(s)
	}
	return len(s) + quotes + 2
}
