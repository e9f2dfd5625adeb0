package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"bcfs/formats"
)

// A spill file holds batches of one schema in a simple length-prefixed
// columnar encoding. It only lives for the duration of one ingest, so it
// needs no versioning; it exists so that memory is bounded by a partition,
// not by the input.

type spillWriter struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

func createSpill(path string) (*spillWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &spillWriter{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (sw *spillWriter) write(b *formats.Batch) error {
	n := b.Len()
	if n == 0 {
		return nil
	}
	buf := sw.buf[:0]
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	for c := range b.Cols {
		col := &b.Cols[c]
		switch b.Schema[c].Type {
		case formats.TypeTimestamp, formats.TypeInt64:
			for _, v := range col.Int {
				buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
			}
		case formats.TypeFloat64:
			for _, v := range col.Float {
				buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
			}
		case formats.TypeString:
			for _, v := range col.Str {
				buf = binary.AppendUvarint(buf, uint64(len(v)))
				buf = append(buf, v...)
			}
		case formats.TypeBool:
			for _, v := range col.Bool {
				buf = append(buf, b2u(v))
			}
		}
		if col.Null == nil {
			buf = append(buf, 0)
		} else {
			buf = append(buf, 1)
			for _, v := range col.Null {
				buf = append(buf, b2u(v))
			}
		}
	}
	for i := 0; i < n; i++ {
		var l int64
		if b.Line != nil {
			l = b.Line[i]
		}
		buf = binary.AppendVarint(buf, l)
	}
	sw.buf = buf
	_, err := sw.w.Write(buf)
	return err
}

func (sw *spillWriter) close() error {
	err := sw.w.Flush()
	if cerr := sw.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

var errSpillCorrupt = errors.New("spill file corrupt")

// readSpill reads every batch of a spill file into one batch with room for
// rows rows.
func readSpill(path string, s formats.Schema, rows int) (*formats.Batch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	out := formats.NewBatch(s, rows)
	out.Line = make([]int64, 0, rows)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		n := int(binary.LittleEndian.Uint32(hdr[:]))
		if err := readSpillChunk(r, out, n); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
}

func readSpillChunk(r *bufio.Reader, out *formats.Batch, n int) error {
	base := out.Len()
	var scratch []byte
	fixed := func(size int) ([]byte, error) {
		if cap(scratch) < size {
			scratch = make([]byte, size)
		}
		b := scratch[:size]
		_, err := io.ReadFull(r, b)
		return b, err
	}
	for c := range out.Cols {
		col := &out.Cols[c]
		switch out.Schema[c].Type {
		case formats.TypeTimestamp, formats.TypeInt64:
			b, err := fixed(8 * n)
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				col.Int = append(col.Int, int64(binary.LittleEndian.Uint64(b[8*i:])))
			}
		case formats.TypeFloat64:
			b, err := fixed(8 * n)
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				col.Float = append(col.Float, math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
			}
		case formats.TypeString:
			var last string
			for i := 0; i < n; i++ {
				l, err := binary.ReadUvarint(r)
				if err != nil {
					return err
				}
				if l > 1<<30 {
					return errSpillCorrupt
				}
				b, err := fixed(int(l))
				if err != nil {
					return err
				}
				// Symbols and providers repeat: share the previous string.
				if string(b) != last {
					last = string(b)
				}
				col.Str = append(col.Str, last)
			}
		case formats.TypeBool:
			for i := 0; i < n; i++ {
				v, err := r.ReadByte()
				if err != nil {
					return err
				}
				col.Bool = append(col.Bool, v == 1)
			}
		}
		flag, err := r.ReadByte()
		if err != nil {
			return err
		}
		switch {
		case flag == 1:
			if col.Null == nil {
				col.Null = make([]bool, base, base+n)
			}
			for i := 0; i < n; i++ {
				v, err := r.ReadByte()
				if err != nil {
					return err
				}
				col.Null = append(col.Null, v == 1)
			}
		case col.Null != nil:
			col.Null = append(col.Null, make([]bool, n)...)
		}
	}
	for i := 0; i < n; i++ {
		l, err := binary.ReadVarint(r)
		if err != nil {
			return err
		}
		out.Line = append(out.Line, l)
	}
	return nil
}
