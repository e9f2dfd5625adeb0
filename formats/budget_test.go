package formats

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
)

// bombCSV returns a CSV of rows bars whose note field holds field bytes.
func bombCSV(rows, field int, quoted bool) []byte {
	var b bytes.Buffer
	b.WriteString("timestamp,open,high,low,close,volume,note\n")
	big := strings.Repeat("x", field)
	if quoted {
		big = `"` + strings.Repeat("x,", field/2) + `"`
	}
	for i := range rows {
		fmt.Fprintf(&b, "2024-01-02 00:%02d:00,1,2,0.5,1,100,%s\n", i%60, big)
	}
	return b.Bytes()
}

func compress(t *testing.T, kind string, in []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	var w io.WriteCloser
	switch kind {
	case "plain":
		return in
	case "gzip":
		w = gzip.NewWriter(&out)
	case "zstd":
		zw, err := zstd.NewWriter(&out)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	if _, err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// decodeBytes opens in through Open (sniffing compression) and reads it all.
func decodeBytes(in []byte, opt Options) error {
	d, err := Open(bytes.NewReader(in), int64(len(in)), opt)
	if err != nil {
		return err
	}
	defer d.Close()
	_, err = decodeAll(d)
	return err
}

// TestBudgetsRefuse checks that every decoder path refuses a record or a
// batch over its limit with the file, the line and the limit, and accepts
// the same input under a limit that fits it.
func TestBudgetsRefuse(t *testing.T) {
	for _, kind := range []string{"plain", "gzip", "zstd"} {
		for _, quoted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/quoted=%v/record", kind, quoted), func(t *testing.T) {
				in := compress(t, kind, bombCSV(3, 300<<10, quoted))
				err := decodeBytes(in, Options{File: "bomb.csv", Limits: Limits{MaxRecordBytes: 256 << 10}})
				var pe *ParseError
				if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.Line != 2 || pe.File != "bomb.csv" ||
					!strings.Contains(err.Error(), "record limit of 256 KiB") {
					t.Fatalf("got %v, want a record-limit error at bomb.csv:2", err)
				}
				if err := decodeBytes(in, Options{File: "bomb.csv", Limits: Limits{MaxRecordBytes: 1 << 20}}); err != nil {
					t.Fatalf("under a 1 MiB record limit: %v", err)
				}
			})
			t.Run(fmt.Sprintf("%s/quoted=%v/batch", kind, quoted), func(t *testing.T) {
				in := compress(t, kind, bombCSV(10, 100<<10, quoted))
				err := decodeBytes(in, Options{File: "bomb.csv", Limits: Limits{MaxBatchBytes: 350 << 10}})
				var pe *ParseError
				// Rows 1-3 (lines 2-4) fit 350 KiB; line 5 does not.
				if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.Line != 5 ||
					!strings.Contains(err.Error(), "batch limit of 350 KiB") {
					t.Fatalf("got %v, want a batch-limit error at line 5", err)
				}
				if err := decodeBytes(in, Options{File: "bomb.csv", Limits: Limits{MaxBatchBytes: 350 << 10}, BatchRows: 3}); err != nil {
					t.Fatalf("3-row batches fit the limit: %v", err)
				}
			})
		}
	}
}

type noteRow struct {
	TS     time.Time `parquet:"timestamp,timestamp(microsecond)"`
	Open   float64   `parquet:"open"`
	High   float64   `parquet:"high"`
	Low    float64   `parquet:"low"`
	Close  float64   `parquet:"close"`
	Volume int64     `parquet:"volume"`
	Note   string    `parquet:"note"`
}

func TestParquetBudgets(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	var rows []noteRow
	for i := range 10 {
		rows = append(rows, noteRow{TS: t0.Add(time.Duration(i) * time.Minute), Open: 1, High: 2, Low: 0.5, Close: 1, Volume: 1,
			Note: strings.Repeat(string(rune('a'+i)), 100<<10)})
	}
	data := pqFile(t, rows, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(2), parquet.SkipPageBounds("note"), parquet.SkipPageStatistics("note"))
	t.Logf("%d rows of 100 KiB notes: %d-byte file", len(rows), len(data))
	cases := []struct {
		name string
		opt  Options
		want string // "" means it decodes
	}{
		{"fits", Options{Limits: Limits{MaxRecordBytes: 200 << 10, MaxBatchBytes: 4 << 20}}, ""},
		{"record", Options{Limits: Limits{MaxRecordBytes: 50 << 10}}, "record limit of 50 KiB"},
		{"batch", Options{Limits: Limits{MaxBatchBytes: 550 << 10}}, "batch limit of 550 KiB"},
		{"small batches fit", Options{Limits: Limits{MaxBatchBytes: 550 << 10}, BatchRows: 2}, ""},
		{"pages held at once", Options{Limits: Limits{MaxBatchBytes: 150 << 10}, BatchRows: 1}, "the pages of its columns hold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.File = "bomb.parquet"
			err := decodeBytes(data, tc.opt)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *ParseError
			if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.Line < 1 || pe.File != "bomb.parquet" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q with a row number", err, tc.want)
			}
		})
	}
	// With statistics the footer holds each row group's smallest and largest
	// note: it is refused before parquet-go reads it.
	stats := pqFile(t, rows, parquet.MaxRowsPerRowGroup(2))
	err := decodeBytes(stats, Options{File: "stats.parquet", Limits: Limits{MaxBatchBytes: 512 << 10}})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "stats.parquet: ") || !strings.Contains(err.Error(), "footer of") {
		t.Fatalf("got %v, want the footer refused", err)
	}
}
