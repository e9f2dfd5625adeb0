package formats

import (
	"bytes"
	"compress/gzip"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// FuzzOpen: any input through Open (plain, gzip or zstd CSV, Parquet),
// under small memory limits and, when zoned, read in New York with
// ambiguous times inferred, never panics; what decodes renders (in its
// zone) at exactly its precomputed length and reads back as the same
// instants.
func FuzzOpen(f *testing.F) {
	fall, _ := fallBackCSV(false, "ES")
	plain := []string{
		"timestamp,open,high,low,close,volume\n2024-01-02 09:30:00,1.5,2,1,1.75,100\n",
		"Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-12,10,12,9,11,10.5,100\n2024-01-15,null,null,null,null,null,null\n",
		"Time,Open,High,Low,Latest,Change,%Change,Volume\n01/05/2024,1,2,1,1.5,+0.5,+1.23%,\"1,000\"\n\"Downloaded from Barchart.com as of 01-06-2024\"\n",
		"Date,Open,High,Low,Close,Volume\n2024-11-03 01:30:00,1,2,1,1,5\n2024-11-03 01:10:00,1,2,1,1,5\n2024-03-10 02:30:00,1,2,1,1,5\n",
		"Date,Open,High,Low,Close,Volume\n2024-01-02 09:30:00.1234567,1,2,1,1,5\n",
		"Date,Open,High,Low,Close,Volume,Symbol\n2024-01-02,1,2,1,1,5,\n",
		string(bombCSV(3, 5000, true)),
		fall[:2000],
	}
	for _, s := range plain {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(plain[1]))
	zw.Close()
	f.Add(gz.Bytes(), true)
	enc, _ := zstd.NewWriter(nil)
	f.Add(enc.EncodeAll([]byte(plain[3]), nil), true)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, zoned bool) {
		opt := Options{File: "fuzz", Symbol: "S", OHLCCheck: OHLCWarn, BatchRows: 5, Limits: Limits{MaxRecordBytes: 4 << 10, MaxBatchBytes: 16 << 10}}
		var loc *time.Location
		if zoned {
			loc, opt.Location, opt.Ambiguous = ny, ny, AmbiguousInfer
		}
		d, err := Open(bytes.NewReader(data), int64(len(data)), opt)
		if err != nil {
			return
		}
		b, err := decodeAll(d)
		d.Close()
		if err != nil || b.Len() == 0 {
			return
		}
		rows := AppendCSVRowsZone(nil, b, loc)
		if got, want := int64(len(rows)), CSVRowsLen(b)+CSVZoneBytes(int64(b.Len()), loc); got != want {
			t.Fatalf("rendering is %d bytes, precomputed %d", got, want)
		}
		view := append(AppendCSVHeader(nil, b.Schema), rows...)
		d2, err := OpenCSV(bytes.NewReader(view), Options{File: "view.csv", Location: loc, OHLCCheck: OHLCWarn, Schema: b.Schema})
		if err != nil {
			t.Fatalf("the view does not decode: %v\n%s", err, clip(string(view)))
		}
		b2, err := decodeAll(d2)
		if err != nil {
			t.Fatalf("the view does not decode: %v\n%s", err, clip(string(view)))
		}
		if !slices.Equal(b.Timestamps(), b2.Timestamps()) {
			t.Fatalf("timestamps change through the view:\n%s", clip(string(view)))
		}
	})
}
