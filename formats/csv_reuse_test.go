package formats

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// The decoder reuses the last timestamp parsed and interned strings across
// rows; every row must still get its own values.
func TestCSVReusedValues(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	var sb strings.Builder
	sb.WriteString("date,time,open,high,low,close,volume,symbol,provider\n")
	type row struct {
		ts       time.Time
		sym, prv string
	}
	var want []row
	provs := []string{"Yahoo", "yahoo", "IBKR", "ibkr", "BarChart"}
	day := time.Date(2024, 3, 8, 9, 30, 0, 0, ny)
	for i := 0; i < 3000; i++ {
		// Runs of one timestamp, then the same wall time on the next day,
		// across the spring DST change; 700 symbols overflow any small cache.
		at := day.AddDate(0, 0, i/1000).Add(time.Duration(i%1000/7) * time.Second)
		sym := fmt.Sprintf("S%d", (i*13)%700)
		prv := provs[i%len(provs)]
		fmt.Fprintf(&sb, "%s,%s,1,2,1,1.5,%d,%s,%s\n", at.Format("2006-01-02"), at.Format("15:04:05"), i, sym, prv)
		want = append(want, row{at, sym, strings.ToLower(prv)})
	}
	b, _, err := decodeString(sb.String(), Options{File: "reuse.csv", Location: ny, BatchRows: 256})
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != len(want) {
		t.Fatalf("%d rows, want %d", b.Len(), len(want))
	}
	for i, w := range want {
		if got := b.Timestamps()[i]; got != w.ts.UnixNano() {
			t.Fatalf("row %d: timestamp %v, want %v", i, time.Unix(0, got).In(ny), w.ts)
		}
		if b.Symbols()[i] != w.sym || b.Providers()[i] != w.prv {
			t.Fatalf("row %d: symbol %q provider %q, want %q %q", i, b.Symbols()[i], b.Providers()[i], w.sym, w.prv)
		}
	}
}

// A bad timestamp right after a run of good ones is still named.
func TestCSVBadTimestampAfterRun(t *testing.T) {
	in := "timestamp,open,high,low,close,volume,symbol\n" +
		"2024-01-02 09:30:00,1,2,1,1,5,A\n" +
		"2024-01-02 09:30:00,1,2,1,1,5,B\n" +
		"2024-01-02 09:30:0x,1,2,1,1,5,C\n"
	_, _, err := decodeString(in, Options{File: "bad.csv"})
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ParseError", err)
	}
	if pe.File != "bad.csv" || pe.Line != 4 || pe.Column != 1 || pe.Value != "2024-01-02 09:30:0x" {
		t.Errorf("error names %s:%d:%d %q, want bad.csv:4:1 %q", pe.File, pe.Line, pe.Column, pe.Value, "2024-01-02 09:30:0x")
	}
}

// Batches handed back with ReleaseBatch are reused by later batches, which
// must not show any value of the earlier ones; batches a decoder did not
// make are not taken.
func TestReleaseBatchReuse(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("timestamp,open,high,low,close,volume,symbol,note\n")
	for i := 0; i < 1000; i++ {
		note := ""
		if i%3 == 0 {
			note = fmt.Sprintf("n%d", i)
		}
		fmt.Fprintf(&sb, "2024-01-02 09:%02d:%02d,%d,%d,%d,%d,%d,S%d,%s\n", i/60%60, i%60, i, i+2, i, i+1, i, i%7, note)
	}
	d, err := OpenCSV(strings.NewReader(sb.String()), Options{File: "r.csv", BatchRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	row, reused := 0, 0
	seen := map[*Batch]bool{}
	for {
		b, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if seen[b] {
			reused++
		}
		seen[b] = true
		for i := 0; i < b.Len(); i++ {
			note := b.Cols[NumCanonical]
			wantNull := row%3 != 0
			if b.Cols[IdxOpen].Float[i] != float64(row) || b.Symbols()[i] != fmt.Sprintf("S%d", row%7) || b.Line[i] != int64(row+2) ||
				note.IsNull(i) != wantNull || !wantNull && note.Str[i] != fmt.Sprintf("n%d", row) {
				t.Fatalf("row %d: open %v symbol %q line %d note %q null %v", row, b.Cols[IdxOpen].Float[i], b.Symbols()[i], b.Line[i], note.Str[i], note.IsNull(i))
			}
			row++
		}
		ReleaseBatch(b)
		ReleaseBatch(b) // a second release is ignored
	}
	if row != 1000 {
		t.Fatalf("%d rows, want 1000", row)
	}
	if reused == 0 {
		t.Log("no batch came back from the pool (a GC emptied it)")
	}
	other := NewBatch(BaseSchema(TypeInt64), 10)
	ReleaseBatch(other)
	if b := pooledBatch(BaseSchema(TypeInt64), 10); b == other {
		t.Fatal("a batch no decoder made was pooled")
	}
}
