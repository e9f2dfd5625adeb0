package formats

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// rawRows holds a batch of records as text: the first, so that column
// types can be inferred before any value is converted, and the later ones
// while the reader goroutine scans ahead. Each field is followed by one
// separator byte in buf, so an unquoted line is copied whole, commas and
// all, and field k starts one byte after ends[k-1].
type rawRows struct {
	nf    int
	buf   []byte
	ends  []int // end of each field in buf
	lines []int64
	err   error // io.EOF or the error that ended the input after these rows
}

// sizedLike returns an empty rawRows with room for as much as r holds and
// an eighth more text, so that reading the next batches, whose lines may be
// a little longer, does not grow buffers step by step.
func (r *rawRows) sizedLike() *rawRows {
	return &rawRows{nf: r.nf, buf: make([]byte, 0, cap(r.buf)+cap(r.buf)/8), ends: make([]int, 0, cap(r.ends)), lines: make([]int64, 0, cap(r.lines))}
}

func (r *rawRows) reset() {
	r.buf, r.ends, r.lines, r.err = r.buf[:0], r.ends[:0], r.lines[:0], nil
}

func newRawRows(nf int) *rawRows { return &rawRows{nf: nf} }

func (r *rawRows) add(rec [][]byte, line int64) {
	for _, f := range rec {
		r.buf = append(r.buf, f...)
		r.ends = append(r.ends, len(r.buf))
		r.buf = append(r.buf, ',')
	}
	r.lines = append(r.lines, line)
}

// addLine adds a line body (no terminator) that has no quote and exactly
// nf fields, with one copy and one pass over its bytes, eight at a time.
// It reports false, adding nothing, for any other line.
func (r *rawRows) addLine(body []byte, line int64) bool {
	base, nends := len(r.buf), len(r.ends)
	r.buf = append(r.buf, body...)
	r.buf = append(r.buf, ',') // ends the last field like the others
	text := r.buf[base:]
	off := 0
	for ; off+8 <= len(text); off += 8 {
		w := binary.LittleEndian.Uint64(text[off:])
		if zeroBytes(w^eightQuotes) != 0 {
			r.buf, r.ends = r.buf[:base], r.ends[:nends]
			return false
		}
		for m := zeroBytes(w ^ eightCommas); m != 0; m &= m - 1 {
			r.ends = append(r.ends, base+off+bits.TrailingZeros64(m)>>3)
		}
	}
	for ; off < len(text); off++ {
		switch text[off] {
		case ',':
			r.ends = append(r.ends, base+off)
		case '"':
			r.buf, r.ends = r.buf[:base], r.ends[:nends]
			return false
		}
	}
	if len(r.ends)-nends != r.nf {
		r.buf, r.ends = r.buf[:base], r.ends[:nends]
		return false
	}
	r.lines = append(r.lines, line)
	return true
}

const (
	low7s       = 0x7f7f7f7f7f7f7f7f
	eightCommas = 0x2c2c2c2c2c2c2c2c
	eightQuotes = 0x2222222222222222
)

// zeroBytes has the high bit set in exactly the bytes of x that are zero
// (no carries between bytes, so no false positives).
func zeroBytes(x uint64) uint64 { return ^((x&low7s + low7s) | x | low7s) }

// drop removes the last row.
func (r *rawRows) drop() {
	k := len(r.ends) - r.nf
	start := 0
	if k > 0 {
		start = r.ends[k-1] + 1
	}
	r.buf, r.ends, r.lines = r.buf[:start], r.ends[:k], r.lines[:len(r.lines)-1]
}

// textLen is the bytes of field text held, separators not counted.
func (r *rawRows) textLen() int { return len(r.buf) - len(r.ends) }

func (r *rawRows) len() int { return len(r.lines) }

func (r *rawRows) field(i, j int) []byte {
	k := i*r.nf + j
	start := 0
	if k > 0 {
		start = r.ends[k-1] + 1
	}
	return r.buf[start:r.ends[k]:r.ends[k]]
}

func (r *rawRows) row(i int, dst [][]byte) [][]byte {
	dst = dst[:0]
	start := 0
	if k := i * r.nf; k > 0 {
		start = r.ends[k-1] + 1
	}
	for _, end := range r.ends[i*r.nf : (i+1)*r.nf] {
		dst = append(dst, r.buf[start:end:end])
		start = end + 1
	}
	return dst
}

// nextRecord returns the next data record, checking its field count.
func (d *csvDecoder) nextRecord() ([][]byte, error) {
	for {
		rec, err := d.recordFrom(d.sc.Next())
		if rec != nil || err != nil {
			return rec, err
		}
	}
}

// recordFrom checks a record the scanner returned: its field count, or a
// vendor footer, which it skips (nil, nil).
func (d *csvDecoder) recordFrom(rec [][]byte, err error) ([][]byte, error) {
	if err != nil {
		if err == io.EOF {
			return nil, err
		}
		return nil, d.withFile(err)
	}
	if len(rec) != d.nfields {
		if isFooter(rec) {
			d.footer = true
			return nil, nil
		}
		return nil, d.perr(d.sc.Line(), -1, nil, fmt.Errorf("%w: %d, header has %d", errFieldCount, len(rec), d.nfields))
	}
	return rec, nil
}

// fillFirst buffers the first batch of records.
func (d *csvDecoder) fillFirst() error {
	if d.first == nil {
		d.first = newRawRows(d.nfields)
	}
	d.fill(d.first)
	if d.first.err != nil && d.first.err != io.EOF {
		return d.first.err
	}
	// Barchart's footer alone identifies its exports when the header does
	// not (it is read here when the file fits one batch, or found by Open
	// at the end of a plain file).
	if (d.footer || d.opt.barchartTail) && d.provider == "" && d.provCol < 0 && d.opt.Provider == "" {
		d.stats.Vendor, d.provider = "barchart", "barchart"
	}
	return nil
}

// fill scans up to batchRows records into r; r.err records why it stopped
// short (io.EOF or an error).
func (d *csvDecoder) fill(r *rawRows) {
	limit := d.opt.batchLimit()
	for r.len() < d.batchRows {
		// Most lines are unquoted and have the header's field count: one
		// copy into r. Anything else goes through Next and nextRecord.
		added, err := d.sc.nextLine(r)
		if err != nil && err != errNotPlain {
			if err != io.EOF {
				err = d.withFile(err)
			}
			r.err = err
			return
		}
		if !added {
			rec, err := d.recordFrom(d.sc.record(err))
			if err != nil {
				r.err = err
				return
			}
			if rec == nil {
				continue
			}
			r.add(rec, d.sc.Line())
		}
		if r.textLen() > limit {
			r.drop()
			r.err = d.perr(d.sc.Line(), -1, nil, errBatchLimit(limit, r.len()+1))
			return
		}
	}
}

// startReader runs the scanner in its own goroutine from the second batch on.
func (d *csvDecoder) startReader() {
	// Three buffers circulate (the first batch's among them), so memory
	// stays at three batches of text however long the input.
	d.full = make(chan *rawRows, 1)
	d.free = make(chan *rawRows, 3)
	d.done = make(chan struct{})
	d.free <- d.first.sizedLike()
	d.free <- d.first.sizedLike()
	go func() {
		defer close(d.full)
		for {
			var r *rawRows
			select {
			case r = <-d.free:
				r.reset()
			case <-d.done:
				return
			}
			d.fill(r)
			select {
			case d.full <- r:
			case <-d.done:
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
}
