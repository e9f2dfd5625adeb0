package formats

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Local times without an offset are read in a dataset's zone. On the days
// a zone changes its offset some wall-clock times are ambiguous (the
// repeated hour when clocks go back) and some do not exist (the hour
// skipped when they go forward). Both are refused by default, as pandas'
// tz_localize does; under AmbiguousInfer an ambiguous time is resolved from
// row order, like pandas' ambiguous="infer". A non-existent time is always
// refused: no order makes it real.

// Ambiguous says how a decoder resolves an ambiguous local time.
type Ambiguous string

const (
	AmbiguousRaise Ambiguous = "raise" // refuse the file (default)
	AmbiguousInfer Ambiguous = "infer" // resolve from row order
)

var (
	errAmbiguous   = errors.New("ambiguous local time: it occurs twice when clocks go back")
	errNonExistent = errors.New("non-existent local time: clocks skip it when they go forward")
	errInfer       = errors.New("ambiguous local time cannot be inferred from row order: the repeated hour does not run once in daylight time, then once in standard time")
)

// zoneError is errAmbiguous or errNonExistent with the zone and the
// offsets that apply around the time.
type zoneError struct {
	err    error
	zone   string
	before int // offset in seconds east of UTC before the change
	after  int
}

func (e *zoneError) Error() string {
	how := "give the UTC offset in the value"
	if e.err == errAmbiguous {
		how += ", or ingest with --ambiguous infer to resolve it from row order"
	}
	return fmt.Sprintf("%v in %s (UTC offset %s before the change, %s after); %s", e.err, e.zone, offsetText(e.before), offsetText(e.after), how)
}

func (e *zoneError) Unwrap() error { return e.err }

func offsetText(sec int) string {
	return string(appendOffset(nil, sec))
}

// zoneOffset returns the offset of loc at Unix second u.
func zoneOffset(loc *time.Location, u int64) int {
	_, off := time.Unix(u, 0).In(loc).Zone()
	return off
}

// localToUTC reads the wall-clock second w (seconds since the epoch as if
// the wall clock were UTC) in loc. It returns the instant, or for an
// ambiguous time the earlier instant in early and the later in late with a
// *zoneError wrapping errAmbiguous; a non-existent time is a *zoneError
// wrapping errNonExistent. Offsets change at most once within a day.
func localToUTC(w int64, loc *time.Location) (u, late int64, err error) {
	// Far from a change of offset the time is the period's: no lookup.
	if p := lastPeriod.Load(); p != nil && p.loc == loc {
		if u := w - int64(p.off); u >= p.start+2*86400 && u < p.end-2*86400 {
			return u, u, nil
		}
	}
	u, late, err = localToUTCSlow(w, loc)
	if err == nil {
		t := time.Unix(u, 0).In(loc)
		p := &zonePeriod{loc: loc, start: math.MinInt64 / 2, end: math.MaxInt64 / 2}
		_, p.off = t.Zone()
		if s, e := t.ZoneBounds(); !s.IsZero() {
			p.start = s.Unix()
			if !e.IsZero() {
				p.end = e.Unix()
			}
		} else if !e.IsZero() {
			p.end = e.Unix()
		}
		lastPeriod.Store(p)
	}
	return u, late, err
}

// zonePeriod is a span of Unix seconds [start, end) in which loc keeps
// offset off; lastPeriod caches the one of the last local time read, so
// reading a file's naive times costs no zone lookups (two periods more
// than two days apart from a change cannot both claim a wall time: offsets
// differ by less than that).
type zonePeriod struct {
	loc        *time.Location
	start, end int64
	off        int
}

var lastPeriod atomic.Pointer[zonePeriod]

func localToUTCSlow(w int64, loc *time.Location) (u, late int64, err error) {
	before := zoneOffset(loc, w-86400)
	after := zoneOffset(loc, w+86400)
	if before == after {
		if u := w - int64(before); zoneOffset(loc, u) == before {
			return u, u, nil
		}
	}
	var valid []int64
	for _, o := range []int{before, after} {
		if u := w - int64(o); zoneOffset(loc, u) == o && (len(valid) == 0 || valid[0] != u) {
			valid = append(valid, u)
		}
	}
	switch len(valid) {
	case 1:
		return valid[0], valid[0], nil
	case 0:
		return 0, 0, &zoneError{err: errNonExistent, zone: loc.String(), before: before, after: after}
	}
	early, late := min(valid[0], valid[1]), max(valid[0], valid[1])
	return early, late, &zoneError{err: errAmbiguous, zone: loc.String(), before: before, after: after}
}

// dstInfer resolves ambiguous local times from row order, like pandas'
// ambiguous="infer": in a file sorted by time the repeated hour appears
// twice, first in daylight time (the earlier instants) and then, once the
// wall clock steps back, in standard time. Files sorted newest first (as
// Barchart writes them) see the later instants first. A time that repeats
// for the same symbol at the same wall time also marks the step back, so
// hourly bars (01:00 twice) resolve too.
type dstInfer struct {
	active   bool  // inside a run of ambiguous rows
	desc     bool  // the run is in newest-first order
	second   bool  // past the step back
	prevWall int64 // wall time of the previous ambiguous row
	syms     map[string]bool
	last     int64 // instant of the previous row, 0 before the first
	hasLast  bool
}

// pick returns the instant of an ambiguous wall time w (candidates early
// and late) for the row of symbol sym.
func (r *dstInfer) pick(w, early, late int64, sym string) (int64, error) {
	if !r.active {
		r.active, r.second, r.prevWall = true, false, w
		r.desc = r.hasLast && r.last >= late
		r.syms = map[string]bool{}
	} else {
		step := w < r.prevWall
		if r.desc {
			step = w > r.prevWall
		}
		if w == r.prevWall && r.syms[sym] {
			step = true
		}
		if step {
			if r.second {
				return 0, errInfer
			}
			r.second = true
			clear(r.syms)
		}
		if w != r.prevWall {
			clear(r.syms)
		}
		r.prevWall = w
	}
	r.syms[sym] = true
	u := early
	if r.second != r.desc {
		u = late
	}
	r.last, r.hasLast = u, true
	return u, nil
}

// plain records an unambiguous row, ending any ambiguous run.
func (r *dstInfer) plain(u int64) {
	r.active = false
	r.last, r.hasLast = u, true
}

// zoneRenderer prints instants as wall-clock times of one zone with their
// UTC offset, caching the zone period of the last instant.
type zoneRenderer struct {
	loc        *time.Location
	start, end int64 // the cached period [start, end) in Unix seconds
	off        int
}

// offsetAt returns the offset of the instant at Unix second u.
func (z *zoneRenderer) offsetAt(u int64) int {
	if u < z.start || u >= z.end || z.start == z.end {
		t := time.Unix(u, 0).In(z.loc)
		_, z.off = t.Zone()
		s, e := t.ZoneBounds()
		z.start, z.end = -1<<62, 1<<62
		if !s.IsZero() {
			z.start = s.Unix()
		}
		if !e.IsZero() {
			z.end = e.Unix()
		}
	}
	return z.off
}

// appendTimestamp prints ns as "YYYY-MM-DD HH:MM:SS[.fraction]±HH:MM" in
// the zone, always 6 bytes longer than appendCSVTimestamp. An instant whose
// offset is not whole minutes (local mean time before 1900) prints in UTC
// with "+00:00", which parses back to the same instant.
func (z *zoneRenderer) appendTimestamp(dst []byte, ns int64) []byte {
	sec := ns / 1e9
	if ns%1e9 < 0 {
		sec--
	}
	off := z.offsetAt(sec)
	if d := int64(off) * 1e9; off%60 != 0 || d > 0 && ns > math.MaxInt64-d || d < 0 && ns < math.MinInt64-d {
		off = 0
	}
	dst = appendCSVTimestamp(dst, ns+int64(off)*1e9)
	return appendOffset(dst, off)
}

// appendOffset prints an offset in seconds (whole minutes) as "±HH:MM".
func appendOffset(dst []byte, off int) []byte {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	dst = append(dst, sign)
	dst = append2(dst, off/3600%100)
	dst = append(dst, ':')
	return append2(dst, off/60%60)
}

// zoneOffsetBytes is what appendTimestamp adds to a timestamp's rendering.
const zoneOffsetBytes = 6

// isZoned reports whether loc renders with offsets: any zone but UTC itself.
func isZoned(loc *time.Location) bool { return loc != nil && loc != time.UTC }
