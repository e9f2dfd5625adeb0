package formats

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestMissingValuesInInference: null, NaN, N/A and empty cells say nothing
// of a column's type, so a Yahoo download with a null holiday row keeps
// Adj Close a number column.
func TestMissingValuesInInference(t *testing.T) {
	in := "Date,Open,High,Low,Close,Adj Close,Volume,Note,Flag,Count\n" +
		"2024-01-02,10,12,9,11,10.5,100,a,true,1\n" +
		"2024-01-15,null,null,null,null,null,null,null,null,null\n" +
		"2024-01-16,11,13,10,12,N/A,200,N/A,N/A,N/A\n" +
		"2024-01-17,11,13,10,12,NaN,200,,,\n" +
		"2024-01-18,11,13,10,12,11.5,200,null,false,2\n"
	b, d, err := decodeString(in, Options{File: "AAPL.csv"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Type{"adj_close": TypeFloat64, "note": TypeString, "flag": TypeBool, "count": TypeInt64}
	for name, typ := range want {
		if i := d.Schema().Index(name); i < 0 || d.Schema()[i].Type != typ {
			t.Errorf("column %s: schema %v, want %s", name, d.Schema(), typ)
		}
	}
	if b.Len() != 4 || d.Stats().SkippedEmpty != 1 {
		t.Fatalf("%d rows, %d skipped: want 4 and the holiday skipped", b.Len(), d.Stats().SkippedEmpty)
	}
	adj := b.Cols[d.Schema().Index("adj_close")]
	if !adj.IsNull(1) || adj.IsNull(2) || adj.Float[2] == adj.Float[2] || adj.Float[3] != 11.5 {
		t.Errorf("adj_close %v nulls %v: want N/A null, NaN kept as NaN", adj.Float, adj.Null)
	}
	note := b.Cols[d.Schema().Index("note")]
	if note.Str[1] != "N/A" || note.Str[3] != "null" || !note.IsNull(2) {
		t.Errorf("text column %q: want its text kept verbatim", note.Str)
	}
	if c := b.Cols[d.Schema().Index("count")]; !c.IsNull(1) || !c.IsNull(2) || c.Int[3] != 2 {
		t.Errorf("count %v %v", c.Int, c.Null)
	}
}

// TestDatasetSchemaHint: writing into a dataset, a CSV column the dataset
// has keeps the dataset's type, so the dataset's own view reads back as it
// was written, text included.
func TestDatasetSchemaHint(t *testing.T) {
	ds := append(BaseSchema(TypeInt64), Field{"code", TypeString}, Field{"seen", TypeTimestamp}, Field{"adj_close", TypeFloat64})
	in := "timestamp,open,high,low,close,volume,symbol,provider,code,seen,adj_close\n" +
		"2024-01-02 00:00:00,1,2,1,1,5,ES,,1.50,2024-01-01 09:30:00,1\n"
	b, d, err := decodeString(in, Options{File: "ES.csv", Schema: ds})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Schema().Equal(ds) {
		t.Fatalf("schema %v, want the dataset's %v", d.Schema(), ds)
	}
	if b.Cols[8].Str[0] != "1.50" || b.Cols[9].Int[0] != 1704101400e9 || b.Cols[10].Float[0] != 1 {
		t.Errorf("values %q %d %v", b.Cols[8].Str, b.Cols[9].Int, b.Cols[10].Float)
	}
	// A value that is not a number in the dataset's number column names
	// itself instead of turning the column into text.
	bad := strings.Replace(in, ",1\n", ",-\n", 1)
	_, _, err = decodeString(bad, Options{File: "ES.csv", Schema: ds})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Column != 11 || pe.Value != "-" {
		t.Fatalf("got %v, want ES.csv:2 column 11 value -", err)
	}
}

func TestUnifyTakesNumbersAsText(t *testing.T) {
	ds := append(BaseSchema(TypeInt64), Field{"adj_close", TypeString})
	in := append(BaseSchema(TypeInt64), Field{"adj_close", TypeFloat64})
	s, err := Unify(ds, in)
	if err != nil || !s.Equal(ds) {
		t.Fatalf("Unify: %v, %v", s, err)
	}
	b := NewBatch(in, 2)
	for c := range in {
		switch in[c].Type {
		case TypeTimestamp, TypeInt64:
			b.Cols[c].Int = []int64{0, 0}
		case TypeFloat64:
			b.Cols[c].Float = []float64{1.5, 2}
		case TypeString:
			b.Cols[c].Str = []string{"", ""}
		}
	}
	b.Cols[8].Null = []bool{false, true}
	out, err := Conform(b, s)
	if err != nil || out.Cols[8].Str[0] != "1.5" || !out.Cols[8].IsNull(1) {
		t.Fatalf("Conform: %v %q %v", err, out.Cols[8].Str, out.Cols[8].Null)
	}
	// The other way a dataset's numbers would become text: refused.
	if _, err := Unify(in, ds); err == nil || !strings.Contains(err.Error(), `"adj_close" is float64 in the dataset but string in the input`) {
		t.Fatalf("got %v", err)
	}
}

func TestBarchartVariants(t *testing.T) {
	const rows = "01/05/2024,181.99,182.76,180.17,181.18,-0.73,-0.40%,\"62,303,300\"\n01/04/2024,182.15,183.09,180.88,181.91,-2.34,-1.27%,\"71,983,600\"\n"
	const footer = "\"Downloaded from Barchart.com as of 01-06-2024 04:51pm CST\"\n"
	for _, tc := range []struct{ name, in string }{
		{"Latest and %Change", "Time,Open,High,Low,Latest,Change,%Change,Volume\n" + rows},
		{"footer alone", "Date,Open,High,Low,Close,Change,Pct,Volume\n" + rows + footer},
		{"footer after many rows", "Date,Open,High,Low,Close,Change,Pct,Volume\n" + strings.Repeat(rows, 2000) + footer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(bytes.NewReader([]byte(tc.in)), int64(len(tc.in)), Options{File: "b.csv", BatchRows: 100})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			b, err := decodeAll(d)
			if err != nil {
				t.Fatal(err)
			}
			if d.Stats().Vendor != "barchart" || b.Providers()[0] != "barchart" || b.Providers()[b.Len()-1] != "barchart" {
				t.Errorf("vendor %q provider %q", d.Stats().Vendor, b.Providers()[0])
			}
		})
	}
	// Recognized in Parquet too, by the same mapper.
	if v := detectVendor([]string{"Time", "Open", "High", "Low", "Latest", "Change", "%Change", "Volume"}); v != "barchart" {
		t.Errorf("vendor %q", v)
	}
}

func TestEmptySymbolRefused(t *testing.T) {
	in := "Date,Open,High,Low,Close,Volume,Symbol\n2024-01-02,1,2,1,1,5,ES\n2024-01-03,1,2,1,1,5, \n"
	_, _, err := decodeString(in, Options{File: "s.csv", Symbol: "ES_1min"})
	var pe *ParseError
	if !errors.Is(err, errEmptySymbol) || !errors.As(err, &pe) || pe.Line != 3 || pe.Column != 7 {
		t.Fatalf("got %v, want an empty symbol refused at s.csv:3 column 7", err)
	}
	// Without a symbol column the dataset's name is the symbol.
	b, _, err := decodeString("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,5\n", Options{Symbol: "ES_1min"})
	if err != nil || b.Symbols()[0] != "ES_1min" {
		t.Fatalf("%v %v", err, b.Symbols())
	}
}

type symRow struct {
	TS     time.Time `parquet:"timestamp,timestamp(microsecond)"`
	Open   float64   `parquet:"open"`
	High   float64   `parquet:"high"`
	Low    float64   `parquet:"low"`
	Close  float64   `parquet:"close"`
	Volume int64     `parquet:"volume"`
	Symbol string    `parquet:"symbol"`
}

func TestParquetEmptySymbolRefused(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	data := pqFile(t, []symRow{{TS: t0, Open: 1, High: 1, Low: 1, Close: 1, Symbol: "ES"}, {TS: t0.Add(time.Minute), Open: 1, High: 1, Low: 1, Close: 1}})
	err := decodeBytes(data, Options{File: "s.parquet", Symbol: "ES_1min"})
	var pe *ParseError
	if !errors.Is(err, errEmptySymbol) || !errors.As(err, &pe) || pe.Line != 2 || pe.Column != 7 {
		t.Fatalf("got %v, want an empty symbol refused at s.parquet:2 column 7", err)
	}
}
