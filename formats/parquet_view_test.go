package formats

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestViewConcatenation(t *testing.T) {
	s := partitionSchema()
	parts := []struct{ from, rows, group int }{{0, 500, 128}, {500, 1, 128}, {501, 1300, 400}}
	all := makeBars(s, 0, 1801, true)
	var srcs []ViewSource
	var total int64
	var blobs [][]byte
	for _, p := range parts {
		b := NewBatch(s, p.rows)
		b.AppendRange(all, p.from, p.from+p.rows)
		data, _ := writePartition(t, b, p.group)
		blobs = append(blobs, data)
		srcs = append(srcs, ViewSource{R: bytes.NewReader(data), Size: int64(len(data))})
		total += int64(len(data))
	}
	l, err := BuildViewLayout(s, srcs)
	if err != nil {
		t.Fatal(err)
	}
	full := make([]byte, l.Size())
	if n, err := l.ReadAt(full, 0); n != len(full) || err != nil {
		t.Fatalf("ReadAt whole view: %d, %v", n, err)
	}
	// Size: magic + every row group's bytes + the new footer.
	var rgBytes int64
	for _, data := range blobs {
		p, err := OpenPartition(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range p.RowGroups() {
			rgBytes += in.Length
		}
	}
	footerLen := int64(len(full)) - 4 - rgBytes
	if footerLen <= 8 || int64(len(full)) >= total+footerLen {
		t.Fatalf("view size %d: row groups %d, footer %d, sources %d", len(full), rgBytes, footerLen, total)
	}

	// The view reads back, in order, through both readers.
	f, err := parquet.OpenFile(bytes.NewReader(full), int64(len(full)))
	if err != nil {
		t.Fatalf("parquet-go rejects the view: %v", err)
	}
	if f.NumRows() != 1801 || len(f.RowGroups()) != 4+1+4 {
		t.Fatalf("view has %d rows in %d row groups", f.NumRows(), len(f.RowGroups()))
	}
	p, err := OpenPartition(bytes.NewReader(full), int64(len(full)))
	if err != nil {
		t.Fatal(err)
	}
	row := 0
	for i := 0; i < p.NumRowGroups(); i++ {
		b, err := p.ReadRowGroup(i)
		if err != nil {
			t.Fatal(err)
		}
		batchesEqual(t, all, b, row)
		row += b.Len()
	}
	if row != 1801 {
		t.Fatalf("read %d rows from the view", row)
	}
	dec, err := OpenParquet(bytes.NewReader(full), int64(len(full)), Options{File: "view.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	row = 0
	for {
		b, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batchesEqual(t, all, b, row)
		row += b.Len()
	}
	if row != 1801 {
		t.Fatalf("decoder read %d rows from the view", row)
	}

	// Random ReadAt windows equal slices of the whole.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		off := rng.Int64N(l.Size() + 10)
		buf := make([]byte, rng.IntN(5000))
		n, err := l.ReadAt(buf, off)
		wantN := int(max(0, min(int64(len(buf)), l.Size()-off)))
		if n != wantN {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, want %d", len(buf), off, n, wantN)
		}
		if n < len(buf) && !errors.Is(err, io.EOF) {
			t.Fatalf("short ReadAt without io.EOF: %v", err)
		}
		if n == len(buf) && err != nil {
			t.Fatalf("full ReadAt with error %v", err)
		}
		if !bytes.Equal(buf[:n], full[min(off, l.Size()):min(off, l.Size())+int64(n)]) {
			t.Fatalf("ReadAt at %d differs from the full view", off)
		}
	}
	if _, err := l.ReadAt(make([]byte, 1), -1); err == nil {
		t.Fatal("negative offset accepted")
	}
}

func TestViewEmpty(t *testing.T) {
	for _, s := range []Schema{BaseSchema(TypeInt64), partitionSchema()} {
		l, err := BuildViewLayout(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, l.Size())
		if _, err := l.ReadAt(buf, 0); err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(buf), int64(len(buf)))
		if err != nil {
			t.Fatalf("empty view is not valid Parquet: %v", err)
		}
		if f.NumRows() != 0 || len(f.Schema().Fields()) != len(s) {
			t.Fatalf("empty view: %d rows, %d columns", f.NumRows(), len(f.Schema().Fields()))
		}
		p, err := OpenPartition(bytes.NewReader(buf), int64(len(buf)))
		if err != nil {
			t.Fatal(err)
		}
		if !p.Schema().Equal(s) || p.NumRowGroups() != 0 {
			t.Fatalf("empty view schema %v, %d row groups", p.Schema(), p.NumRowGroups())
		}
	}
}

func TestViewRejectsMismatch(t *testing.T) {
	a, _ := writePartition(t, makeBars(BaseSchema(TypeInt64), 0, 10, false), 10)
	tests := []struct {
		name string
		s    Schema
		src  ViewSource
	}{
		{"other schema", BaseSchema(TypeFloat64), ViewSource{bytes.NewReader(a), int64(len(a))}},
		{"truncated file", BaseSchema(TypeInt64), ViewSource{bytes.NewReader(a[:len(a)-3]), int64(len(a) - 3)}},
		{"not parquet", BaseSchema(TypeInt64), ViewSource{bytes.NewReader([]byte("hello, world, hi")), 16}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := BuildViewLayout(tc.s, []ViewSource{tc.src}); err == nil {
				t.Fatal("mismatched source accepted")
			}
		})
	}
}
