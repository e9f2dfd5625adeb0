package formats

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSubMicrosecondRefused: bcfs stores microseconds, so a timestamp with
// non-zero digits below the microsecond is refused with file, line, column
// and value; nanosecond inputs whose extra digits are zero are accepted.
func TestSubMicrosecondRefused(t *testing.T) {
	hdr := "Date,Open,High,Low,Close,Volume\n"
	cases := []struct {
		name, in string
		line     int64
		col      int
		value    string // "" means accepted
		want     int64  // accepted: the timestamp of the first row
	}{
		{name: "7 digits", in: hdr + "2024-01-02 09:30:00.1234567,1,2,1,1,5\n", line: 2, col: 1, value: "2024-01-02 09:30:00.1234567"},
		{name: "9 digits", in: hdr + "2024-01-02 09:30:00,1,2,1,1,5\n2024-01-02 09:31:00.000000001,1,2,1,1,5\n", line: 3, col: 1, value: "2024-01-02 09:31:00.000000001"},
		{name: "12 digits", in: hdr + "2024-01-02 09:30:00.123456000001,1,2,1,1,5\n", line: 2, col: 1, value: "2024-01-02 09:30:00.123456000001"},
		{name: "epoch nanoseconds", in: hdr + "1704187800123456789,1,2,1,1,5\n", line: 2, col: 1, value: "1704187800123456789"},
		{name: "date and time pair", in: "Date,Time,Open,High,Low,Close,Volume\n2024-01-02,09:30:00.5000001,1,2,1,1,5\n", line: 2, col: 1, value: "2024-01-02 09:30:00.5000001"},
		{name: "9 digits, zero nanos", in: hdr + "2024-01-02 09:30:00.123456000,1,2,1,1,5\n", want: time.Date(2024, 1, 2, 9, 30, 0, 123456000, time.UTC).UnixNano()},
		{name: "epoch nanoseconds, zero nanos", in: hdr + "1704187800123456000,1,2,1,1,5\n", want: 1704187800123456000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _, err := decodeString(tc.in, Options{File: "ns.csv"})
			if tc.value == "" {
				if err != nil || b.Len() != 1 || b.Timestamps()[0] != tc.want {
					t.Fatalf("err %v, rows %d: want one row at %d", err, b.Len(), tc.want)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, errSubMicro) || pe.File != "ns.csv" || pe.Line != tc.line || pe.Column != tc.col || pe.Value != tc.value {
				t.Fatalf("got %#v (%v), want ns.csv:%d column %d value %q", pe, err, tc.line, tc.col, tc.value)
			}
		})
	}
}

type nanoRow struct {
	TS     time.Time `parquet:"timestamp,timestamp(nanosecond)"`
	Open   float64   `parquet:"open"`
	High   float64   `parquet:"high"`
	Low    float64   `parquet:"low"`
	Close  float64   `parquet:"close"`
	Volume int64     `parquet:"volume"`
}

func TestParquetNanosRefused(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)
	rows := []nanoRow{{TS: t0, Open: 1, High: 2, Low: 1, Close: 1}, {TS: t0.Add(time.Minute + 7), Open: 1, High: 2, Low: 1, Close: 1}}
	data := pqFile(t, rows)
	err := decodeBytes(data, Options{File: "ns.parquet"})
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, errSubMicro) || pe.File != "ns.parquet" || pe.Line != 2 || pe.Column != 1 ||
		pe.Value != "2024-01-02 09:31:00.000000007" || !strings.Contains(err.Error(), "microseconds") {
		t.Fatalf("got %v, want ns.parquet:2 column 1 value 2024-01-02 09:31:00.000000007", err)
	}
	// Whole microseconds in a NANOS column are accepted.
	rows[1].TS = t0.Add(time.Minute + 7*time.Microsecond)
	d, err := Open(bytes.NewReader(pqFile(t, rows)), int64(len(pqFile(t, rows))), Options{File: "us.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeAll(d)
	if err != nil || b.Len() != 2 || b.Timestamps()[1] != rows[1].TS.UnixNano() {
		t.Fatalf("err %v rows %d", err, b.Len())
	}
}
