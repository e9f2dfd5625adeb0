package dedupmerge

import "bcfs/formats"

// segment is a run of output rows taken from one source: stored rows
// [lo, hi), or incoming winners at positions [lo, hi) of the winner list.
type segment struct {
	lo, hi   int32 // a partition holds far fewer than 2^31 rows
	incoming bool
}

// segments is an output plan: the output is the concatenation of its runs.
type segments []segment

// add appends a run, extending the previous one when it continues it, so
// that long stretches from one side are copied with one copy per column.
func (s *segments) add(incoming bool, lo, hi int) {
	if lo == hi {
		return
	}
	if n := len(*s); n > 0 {
		last := &(*s)[n-1]
		if last.incoming == incoming && int(last.hi) == lo {
			last.hi = int32(hi)
			return
		}
	}
	*s = append(*s, segment{int32(lo), int32(hi), incoming})
}

// build materialises an output plan of n rows column by column. stored may
// be nil when plan has no stored runs. win maps winner positions to rows of
// incoming; nil means position k is row k.
func build(schema formats.Schema, stored, incoming *formats.Batch, win []int32, plan segments, n int) *formats.Batch {
	out := &formats.Batch{Schema: schema, Cols: make([]formats.Column, len(schema))}
	for c, f := range schema {
		var s, in *formats.Column
		if stored != nil {
			s = &stored.Cols[c]
		} else {
			s = &formats.Column{}
		}
		in = &incoming.Cols[c]
		d := &out.Cols[c]
		switch f.Type {
		case formats.TypeTimestamp, formats.TypeInt64:
			d.Int = gather(make([]int64, n), s.Int, in.Int, win, plan)
		case formats.TypeFloat64:
			d.Float = gather(make([]float64, n), s.Float, in.Float, win, plan)
		case formats.TypeString:
			d.Str = gather(make([]string, n), s.Str, in.Str, win, plan)
		case formats.TypeBool:
			d.Bool = gather(make([]bool, n), s.Bool, in.Bool, win, plan)
		}
		if s.Null != nil || in.Null != nil {
			d.Null = gather(make([]bool, n), s.Null, in.Null, win, plan)
		}
	}
	return out
}

// gather fills dst following plan. A nil source leaves its runs zero, which
// is what a missing Null slice means.
func gather[T any](dst, stored, incoming []T, win []int32, plan segments) []T {
	k := 0
	for _, g := range plan {
		n := int(g.hi - g.lo)
		switch {
		case !g.incoming:
			if stored != nil {
				copy(dst[k:k+n], stored[g.lo:g.hi])
			}
		case incoming == nil:
		case win == nil:
			copy(dst[k:k+n], incoming[g.lo:g.hi])
		default:
			d := dst[k : k+n]
			for x, row := range win[g.lo:g.hi] {
				d[x] = incoming[row]
			}
		}
		k += n
	}
	return dst
}

// view returns b's columns under a new Batch without line numbers, for
// results that need no row moved.
func view(b *formats.Batch) *formats.Batch {
	return &formats.Batch{Schema: b.Schema, Cols: b.Cols}
}
