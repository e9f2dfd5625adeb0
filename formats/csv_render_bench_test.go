package formats

import (
	"fmt"
	"testing"
)

// BenchmarkCSVRenderShared renders bars of 8 symbols per timestamp (one
// row group of 64Ki rows), where rows repeat the previous row's instant;
// its peer is BenchmarkCSVRender, one symbol per timestamp.
func BenchmarkCSVRenderShared(b *testing.B) {
	src := []byte("timestamp,open,high,low,close,volume,symbol\n")
	t0 := ts("2020-01-02T00:00:00Z")
	for i := 0; i < 1<<16; i++ {
		src = appendCSVTimestamp(src, t0+int64(i/8)*60e9)
		o := 100 + float64(i%8)*371.37 + float64(i%13)*0.01
		src = fmt.Appendf(src, ",%v,%v,%v,%v,%d,S%d\n", o, o+1.5, o-1.25, o+0.5, 100+i%1000, i%8)
	}
	d, err := OpenCSV(bytesReader(src), Options{})
	if err != nil {
		b.Fatal(err)
	}
	bt, err := d.Next()
	if err != nil {
		b.Fatal(err)
	}
	if tsv := bt.Timestamps(); len(tsv) != 1<<16 || tsv[7] != tsv[0] || tsv[8] == tsv[0] {
		b.Fatalf("expected 64Ki rows, 8 per timestamp; got %d rows", len(tsv))
	}
	out := AppendCSVRows(nil, bt)
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = AppendCSVRows(out[:0], bt)
	}
}
