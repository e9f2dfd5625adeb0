package formats

import (
	"fmt"
	"io"
)

// rawRows holds the first batch of records as text, so that column types
// can be inferred before any value is converted.
type rawRows struct {
	nf    int
	buf   []byte
	ends  []int
	lines []int64
	err   error // io.EOF or the error that ended the input after these rows
}

// sizedLike returns an empty rawRows with room for as much as r holds, so
// that reading the next batches does not grow buffers step by step.
func (r *rawRows) sizedLike() *rawRows {
	return &rawRows{nf: r.nf, buf: make([]byte, 0, cap(r.buf)), ends: make([]int, 0, cap(r.ends)), lines: make([]int64, 0, cap(r.lines))}
}

func (r *rawRows) reset() {
	r.buf, r.ends, r.lines, r.err = r.buf[:0], r.ends[:0], r.lines[:0], nil
}

func newRawRows(nf int) *rawRows { return &rawRows{nf: nf} }

func (r *rawRows) add(rec [][]byte, line int64) {
	for _, f := range rec {
		r.buf = append(r.buf, f...)
		r.ends = append(r.ends, len(r.buf))
	}
	r.lines = append(r.lines, line)
}

func (r *rawRows) len() int { return len(r.lines) }

func (r *rawRows) field(i, j int) []byte {
	k := i*r.nf + j
	start := 0
	if k > 0 {
		start = r.ends[k-1]
	}
	return r.buf[start:r.ends[k]:r.ends[k]]
}

func (r *rawRows) row(i int, dst [][]byte) [][]byte {
	dst = dst[:0]
	for j := 0; j < r.nf; j++ {
		dst = append(dst, r.field(i, j))
	}
	return dst
}

// nextRecord returns the next data record, checking its field count.
func (d *csvDecoder) nextRecord() ([][]byte, error) {
	for {
		rec, err := d.sc.Next()
		if err != nil {
			if err == io.EOF {
				return nil, err
			}
			return nil, d.withFile(err)
		}
		if len(rec) != d.nfields {
			if isFooter(rec) {
				d.footer = true
				continue
			}
			return nil, d.perr(d.sc.Line(), -1, nil, fmt.Errorf("%w: %d, header has %d", errFieldCount, len(rec), d.nfields))
		}
		return rec, nil
	}
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
		rec, err := d.nextRecord()
		if err != nil {
			r.err = err
			return
		}
		n := len(r.buf)
		for _, f := range rec {
			n += len(f)
		}
		if n > limit {
			r.err = d.perr(d.sc.Line(), -1, nil, errBatchLimit(limit, r.len()+1))
			return
		}
		r.add(rec, d.sc.Line())
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
