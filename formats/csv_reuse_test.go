package formats

import (
	"errors"
	"fmt"
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
