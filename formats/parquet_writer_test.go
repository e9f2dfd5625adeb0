package formats

import (
	"bytes"
	"fmt"

	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// partitionSchema is a canonical schema with one extra column of each type.
func partitionSchema() Schema {
	return append(BaseSchema(TypeInt64),
		Field{"adj_close", TypeFloat64},
		Field{"trades", TypeInt64},
		Field{"note", TypeString},
		Field{"halted", TypeBool},
		Field{"settle", TypeTimestamp},
	)
}

// makeBars returns n rows of s starting at row `from`, with nulls in every
// extra column on rows divisible by 7 (when withNulls).
func makeBars(s Schema, from, n int, withNulls bool) *Batch {
	b := NewBatch(s, n)
	rng := rand.New(rand.NewPCG(uint64(from), 7))
	base := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC).UnixNano()
	for k := from; k < from+n; k++ {
		o := 100 + rng.Float64()*10
		c := 100 + rng.Float64()*10
		null := withNulls && k%7 == 0
		for i, f := range s {
			col := &b.Cols[i]
			switch i {
			case IdxTimestamp:
				col.Int = append(col.Int, base+int64(k)*int64(time.Minute)+int64(k%1000)*1000)
			case IdxOpen:
				col.Float = append(col.Float, o)
			case IdxHigh:
				col.Float = append(col.Float, max(o, c)+1)
			case IdxLow:
				col.Float = append(col.Float, min(o, c)-1)
			case IdxClose:
				col.Float = append(col.Float, c)
			case IdxVolume:
				if f.Type == TypeInt64 {
					col.Int = append(col.Int, int64(rng.IntN(1e6)))
				} else {
					col.Float = append(col.Float, rng.Float64()*1e6)
				}
			case IdxSymbol:
				col.Str = append(col.Str, []string{"ES", "NQ", "AAPL"}[k%3])
			case IdxProvider:
				col.Str = append(col.Str, "ibkr")
			default:
				switch f.Type {
				case TypeFloat64:
					col.Float = append(col.Float, c*0.99)
				case TypeInt64:
					col.Int = append(col.Int, int64(k)-500)
				case TypeString:
					col.Str = append(col.Str, fmt.Sprintf("n%d", k%50))
				case TypeBool:
					col.Bool = append(col.Bool, k%3 == 0)
				case TypeTimestamp:
					col.Int = append(col.Int, base+int64(k)*int64(time.Hour))
				}
				if withNulls {
					col.Null = append(col.Null, null)
				}
			}
		}
	}
	return b
}

// zeroNulls clears the value under each null so batches compare by
// RowsEqual regardless of what the writer had there.
func batchesEqual(t *testing.T, want, got *Batch, wantFrom int) {
	t.Helper()
	for i := 0; i < got.Len(); i++ {
		if !RowsEqual(want, wantFrom+i, got, i) {
			t.Fatalf("row %d differs:\nwant %v\ngot  %v", wantFrom+i, rowString(want, wantFrom+i), rowString(got, i))
		}
	}
}

func rowString(b *Batch, i int) string {
	var parts []string
	for c, f := range b.Schema {
		col := &b.Cols[c]
		var v any
		switch {
		case col.IsNull(i):
			v = "NULL"
		case f.Type == TypeFloat64:
			v = col.Float[i]
		case f.Type == TypeString:
			v = col.Str[i]
		case f.Type == TypeBool:
			v = col.Bool[i]
		default:
			v = col.Int[i]
		}
		parts = append(parts, fmt.Sprintf("%s=%v", f.Name, v))
	}
	return strings.Join(parts, " ")
}

func writePartition(t testing.TB, b *Batch, rowGroupRows int, chunks ...int) ([]byte, []RowGroupInfo) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPartitionWriter(&buf, b.Schema, rowGroupRows)
	if err != nil {
		t.Fatal(err)
	}
	// Feed the batch in pieces of the given sizes (then the rest) to
	// exercise the pending-rows path.
	lo := 0
	for _, n := range append(chunks, b.Len()) {
		hi := min(lo+n, b.Len())
		part := NewBatch(b.Schema, hi-lo)
		part.AppendRange(b, lo, hi)
		if err := w.Write(part); err != nil {
			t.Fatal(err)
		}
		lo = hi
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.RowGroups()
}

func TestPartitionRoundTrip(t *testing.T) {
	tests := []struct {
		name         string
		schema       Schema
		rows         int
		rowGroupRows int
		chunks       []int
		nulls        bool
	}{
		{"canonical only, one group", BaseSchema(TypeInt64), 100, 1000, nil, false},
		{"float volume", BaseSchema(TypeFloat64), 50, 1000, nil, false},
		{"extras with nulls, many groups", partitionSchema(), 2500, 300, []int{1, 299, 17}, true},
		{"extras without nulls", partitionSchema(), 1000, 1000, []int{999}, false},
		{"exact multiple of group size", partitionSchema(), 600, 200, nil, true},
		{"empty", partitionSchema(), 0, 100, nil, true},
		{"page split inside a group", BaseSchema(TypeInt64), maxPageRows + 10, maxPageRows + 100, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := makeBars(tc.schema, 0, tc.rows, tc.nulls)
			data, infos := writePartition(t, want, tc.rowGroupRows, tc.chunks...)
			wantGroups := (tc.rows + tc.rowGroupRows - 1) / tc.rowGroupRows
			if len(infos) != wantGroups {
				t.Fatalf("%d row groups, want %d", len(infos), wantGroups)
			}
			p, err := OpenPartition(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Schema().Equal(tc.schema) {
				t.Fatalf("schema %v, want %v", p.Schema(), tc.schema)
			}
			if got := p.RowGroups(); fmt.Sprint(got) != fmt.Sprint(infos) {
				t.Fatalf("footer row groups %v, writer said %v", got, infos)
			}
			row := 0
			for i := 0; i < p.NumRowGroups(); i++ {
				got, err := p.ReadRowGroup(i)
				if err != nil {
					t.Fatal(err)
				}
				if int64(got.Len()) != infos[i].Rows {
					t.Fatalf("row group %d has %d rows, info says %d", i, got.Len(), infos[i].Rows)
				}
				batchesEqual(t, want, got, row)
				row += got.Len()
			}
			if row != tc.rows {
				t.Fatalf("read %d rows, want %d", row, tc.rows)
			}
			// Row groups are contiguous and cover the data between magic and footer.
			off := int64(4)
			for _, in := range infos {
				if in.Offset != off {
					t.Fatalf("row group at %d, want %d", in.Offset, off)
				}
				off += in.Length
			}
			// An independent reader agrees on rows and logical types.
			f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if f.NumRows() != int64(tc.rows) {
				t.Fatalf("parquet-go sees %d rows", f.NumRows())
			}
			tsType, ok := f.Schema().Fields()[0].Type().LogicalType().Value.(*format.TimestampType)
			if !ok || !tsType.IsAdjustedToUTC || tsType.Unit.String() != (&format.MicroSeconds{}).String() {
				t.Fatalf("timestamp logical type %v, want TIMESTAMP(MICROS, UTC)", f.Schema().Fields()[0].Type().LogicalType())
			}
			if _, ok := f.Schema().Fields()[IdxSymbol].Type().LogicalType().Value.(*format.StringType); !ok {
				t.Fatalf("symbol logical type %v, want STRING", f.Schema().Fields()[IdxSymbol].Type().LogicalType())
			}
		})
	}
}

func TestPartitionReadByParquetGo(t *testing.T) {
	want := makeBars(partitionSchema(), 0, 700, true)
	data, _ := writePartition(t, want, 256)
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]parquet.Row, 1000)
	r := parquet.NewReader(f)
	n, _ := r.ReadRows(rows)
	for n < 700 {
		m, err := r.ReadRows(rows[n:])
		n += m
		if err != nil {
			break
		}
	}
	if n != 700 {
		t.Fatalf("parquet-go read %d rows, want 700", n)
	}
	for i := 0; i < 700; i += 97 {
		row := rows[i]
		if got, wantTS := row[IdxTimestamp].Int64(), want.Cols[IdxTimestamp].Int[i]/1000; got != wantTS {
			t.Fatalf("row %d timestamp %d µs, want %d", i, got, wantTS)
		}
		if got := row[IdxSymbol].String(); got != want.Cols[IdxSymbol].Str[i] {
			t.Fatalf("row %d symbol %q", i, got)
		}
		note := row[NumCanonical+2]
		if want.Cols[NumCanonical+2].IsNull(i) != note.IsNull() {
			t.Fatalf("row %d note null=%v", i, note.IsNull())
		}
	}
}

func TestPartitionWriterRejects(t *testing.T) {
	s := BaseSchema(TypeInt64)
	tests := []struct {
		name   string
		mutate func(b *Batch) *Batch
		want   string
	}{
		{"sub-microsecond timestamp", func(b *Batch) *Batch { b.Cols[IdxTimestamp].Int[1] += 1; return b }, "sub-microsecond"},
		{"null in canonical column", func(b *Batch) *Batch {
			b.Cols[IdxClose].Null = make([]bool, b.Len())
			b.Cols[IdxClose].Null[2] = true
			return b
		}, "is null"},
		{"other schema", func(b *Batch) *Batch { return makeBars(BaseSchema(TypeFloat64), 0, 3, false) }, "differs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewPartitionWriter(&buf, s, 10)
			if err != nil {
				t.Fatal(err)
			}
			err = w.Write(tc.mutate(makeBars(s, 0, 3, false)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := NewPartitionWriter(&bytes.Buffer{}, Schema{{"x", TypeInt64}}, 10); err == nil {
		t.Fatal("non-canonical schema accepted")
	}
	if _, err := NewPartitionWriter(&bytes.Buffer{}, s, 0); err == nil {
		t.Fatal("zero rowGroupRows accepted")
	}
}

func TestOpenPartitionRejectsCorrupt(t *testing.T) {
	good, _ := writePartition(t, makeBars(BaseSchema(TypeInt64), 0, 50, false), 20)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-5]},
		{"no footer", good[:len(good)/2]},
		{"garbage footer", append(append([]byte{}, good[:len(good)-40]...), bytes.Repeat([]byte{0xff}, 40)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := OpenPartition(bytes.NewReader(tc.data), int64(len(tc.data)))
			if err == nil {
				for i := 0; i < p.NumRowGroups(); i++ {
					if _, err = p.ReadRowGroup(i); err != nil {
						break
					}
				}
			}
			if err == nil {
				t.Fatal("corrupt partition read without error")
			}
		})
	}
}

func BenchmarkPartitionWrite(b *testing.B) {
	const rows = 1 << 20
	batch := makeBars(BaseSchema(TypeInt64), 0, rows, false)
	var buf bytes.Buffer
	b.SetBytes(rows * 8 * 8) // eight 8-byte-ish columns per row
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		w, err := NewPartitionWriter(&buf, batch.Schema, 128<<10)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Write(batch); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/rows, "file-bytes/row")
}

func BenchmarkPartitionReadRowGroup(b *testing.B) {
	const rows = 1 << 20
	data, _ := writePartition(b, makeBars(BaseSchema(TypeInt64), 0, rows, false), rows)
	p, err := OpenPartition(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(rows * 8 * 8)
	b.ReportAllocs()
	for _, deep := range []bool{false, true} {
		p.deep = deep
		b.Run(fmt.Sprintf("deep=%v", deep), func(b *testing.B) {
			for b.Loop() {
				if _, err := p.ReadRowGroup(0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
