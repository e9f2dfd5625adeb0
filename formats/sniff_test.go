package formats

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

func TestOpenSniff(t *testing.T) {
	csvText := []byte("timestamp,open,high,low,close,volume\n2024-01-02,1,2,1,1,5\n2024-01-03,1,2,1,1,6\n")
	cases := []struct {
		name string
		in   []byte
		rows int
		err  string
	}{
		{"PlainCSV", csvText, 2, ""},
		{"Gzip", gzipBytes(t, csvText), 2, ""},
		{"Zstd", zstdBytes(t, csvText), 2, ""},
		{"Empty", nil, 0, "empty input"},
		{"Blank", []byte(" \n\r\n"), 0, "blank input"},
		{"JSONArray", []byte(" [[1,2,3]]"), 0, "JSON document (starts with '[')"},
		{"JSONObject", []byte("\ufeff{\"a\":1}"), 0, "JSON document (starts with '{')"},
		{"Feather", []byte("ARROW1\x00\x00rest"), 0, "Arrow IPC / Feather"},
		{"GzipJSON", gzipBytes(t, []byte("[]")), 0, "JSON document (starts with '[') (inside gzip)"},
		{"ZstdFeather", zstdBytes(t, []byte("ARROW1\x00\x00")), 0, "Arrow IPC / Feather file (ARROW1 magic) (inside zstd)"},
		{"GzipEmpty", gzipBytes(t, nil), 0, "empty input (0 bytes) (inside gzip)"},
		{"DoubleGzip", gzipBytes(t, gzipBytes(t, csvText)), 0, "doubly compressed"},
		{"Binary", []byte("abc\x00def,1,2\n"), 0, "binary data"},
		{"TruncatedGzip", gzipBytes(t, csvText)[:20], 0, "unexpected EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Open(bytesReader(tc.in), int64(len(tc.in)), Options{File: "f"})
			var b *Batch
			if err == nil {
				b, err = decodeAll(d)
				if cerr := d.Close(); cerr != nil && err == nil {
					err = cerr
				}
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(tc.err, "input") || strings.Contains(tc.err, "JSON") || strings.Contains(tc.err, "Arrow") {
					if !errors.Is(err, ErrNotBars) {
						t.Errorf("err %v does not wrap ErrNotBars", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() != tc.rows {
				t.Errorf("%d rows, want %d", b.Len(), tc.rows)
			}
		})
	}
}

// A large gzip stream decodes batch by batch without holding the input.
func TestOpenGzipStreams(t *testing.T) {
	data := gzipBytes(t, genBars(200000))
	d, err := Open(bytesReader(data), int64(len(data)), Options{Symbol: "ES", BatchRows: 50000})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	batches, rows := 0, 0
	for {
		b, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batches++
		rows += b.Len()
	}
	if batches != 4 || rows != 200000 {
		t.Errorf("%d batches %d rows", batches, rows)
	}
}
