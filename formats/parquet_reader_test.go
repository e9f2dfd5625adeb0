package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"bcfs/formats/formatstest"
)

// realParquetFiles lists every file under the data dir whose name contains
// ".parquet", relative to it.
func realParquetFiles(t testing.TB, root string) []string {
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() && strings.Contains(fi.Name(), ".parquet") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pqDecodeAll reads every batch of a decoder.
func pqDecodeAll(dec Decoder) ([]*Batch, error) {
	var out []*Batch
	for {
		b, err := dec.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

func totalRows(bs []*Batch) int {
	n := 0
	for _, b := range bs {
		n += b.Len()
	}
	return n
}

// TestOpenParquetRealFiles: every real Parquet file is either decoded with
// the row count its SOURCES.md gives, or refused with a stated reason.
func TestOpenParquetRealFiles(t *testing.T) {
	root := formatstest.SharedData(t)
	tests := []struct {
		path   string
		rows   int
		reason string
	}{
		{"freqtrade/tests/testdata/XRP_ETH-trades.parquet", 0, "missing required column(s) open, high, low, close, volume"},
		{"nautilus-trader/tests/test_data/binance/btcusdt-quotes.parquet", 0, "missing required column(s) open, high, low, close, volume"},
		{"nautilus-trader/tests/test_data/binance/btcusdt-trades.parquet", 0, "missing required column(s) open, high, low, close, volume"},
		{"nautilus-trader/tests/test_data/nautilus/64-bit/bars.parquet", 0, "fixed-size binary"},
		{"parquet-testing/bad_data/ARROW-GH-41317.parquet", 0, "nested or repeated column"},
		{"parquet-testing/bad_data/ARROW-GH-41321.parquet", 0, "nested or repeated column"},
		{"parquet-testing/bad_data/ARROW-GH-45185.parquet", 0, "nested or repeated column"},
		{"parquet-testing/bad_data/ARROW-GH-47662.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/bad_data/ARROW-RS-GH-6229-DICTHEADER.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/bad_data/ARROW-RS-GH-6229-LEVELS.parquet", 0, "nested or repeated column"},
		{"parquet-testing/bad_data/PARQUET-1481.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/_KEY_MATERIAL_FOR_external_key_material_java.parquet.encrypted.json", 0, "encrypted"},
		{"parquet-testing/data/aes256/encrypt_columns_and_footer.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/aes256/encrypt_columns_and_footer_ctr.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/aes256/encrypt_columns_and_footer_disable_aad_storage.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/aes256/encrypt_columns_plaintext_footer.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/aes256/uniform_encryption.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/alltypes_dictionary.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/alltypes_plain.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/alltypes_plain.snappy.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/alltypes_tiny_pages.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/alltypes_tiny_pages_plain.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/binary.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/binary_truncated_min_max.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/byte_array_decimal.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/byte_stream_split.zstd.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/byte_stream_split_extended.gzip.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/column_chunk_key_value_metadata.parquet", 0, "corrupt Parquet footer"},
		{"parquet-testing/data/concatenated_gzip_members.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/data_index_bloom_encoding_stats.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/data_index_bloom_encoding_with_length.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/datapage_v1-corrupt-checksum.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/datapage_v1-snappy-compressed-checksum.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/datapage_v1-uncompressed-checksum.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/datapage_v2.snappy.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/datapage_v2_empty_datapage.snappy.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/delta_binary_packed.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/delta_byte_array.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/delta_encoding_optional_column.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/delta_encoding_required_column.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/delta_length_byte_array.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/dict-page-offset-zero.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/encrypt_columns_and_footer.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/encrypt_columns_and_footer_aad.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/encrypt_columns_and_footer_bloom_filter.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/encrypt_columns_and_footer_ctr.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/encrypt_columns_and_footer_disable_aad_storage.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/encrypt_columns_plaintext_footer.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/external_key_material_java.parquet.encrypted", 0, "encrypted"},
		{"parquet-testing/data/fixed_length_byte_array.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/fixed_length_decimal.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/fixed_length_decimal_legacy.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/float16_nonzeros_and_nans.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/float16_zeros_and_nans.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/floating_orders_nan_count.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/crs-arbitrary-value.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/crs-default.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/crs-geography.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/crs-projjson.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/crs-srid.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/geography-lines.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/geography-points.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/geography-polygons.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/geospatial-with-nan.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/geospatial/geospatial.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/hadoop_lz4_compressed.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/hadoop_lz4_compressed_larger.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/incorrect_map_schema.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/int32_decimal.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/int32_with_null_pages.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/int64_decimal.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/int96_from_spark.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/large_string_map.brotli.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/list_columns.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/lz4_raw_compressed.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/lz4_raw_compressed_larger.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/map_no_value.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/nan_in_stats.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/nation.dict-malformed.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/nested_lists.snappy.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/nested_maps.snappy.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/nested_structs.rust.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/non_hadoop_lz4_compressed.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/nonnullable.impala.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/null_list.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/nullable.impala.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/nulls.snappy.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/old_list_structure.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/overflow_i16_page_cnt.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/page_v2_empty_compressed.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/plain-dict-uncompressed-checksum.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/repeated_no_annotation.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/repeated_primitive_no_list.parquet", 0, "nested or repeated column"},
		{"parquet-testing/data/rle-dict-snappy-checksum.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/rle-dict-uncompressed-corrupt-checksum.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/rle_boolean_encoding.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/single_nan.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/sort_columns.parquet", 0, "missing required column(s) timestamp, open, high, low, close, volume"},
		{"parquet-testing/data/uniform_encryption.parquet.encrypted", 0, "encrypted"},
		{"trade-executor/notebooks/pool_1_hourly_candles.parquet", 2989, ""},
		{"trade-executor/tests/binance-BTCUSDT-1h.parquet", 52106, ""},
	}
	byPath := map[string]bool{}
	for _, tc := range tests {
		byPath[tc.path] = true
	}
	for _, p := range realParquetFiles(t, root) {
		if !byPath[p] {
			t.Errorf("%s has no expectation in this table", p)
		}
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(root, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			dec, err := OpenParquet(bytes.NewReader(data), int64(len(data)), Options{File: tc.path, Symbol: "SYM"})
			var bs []*Batch
			if err == nil {
				bs, err = pqDecodeAll(dec)
				dec.Close()
			}
			if tc.reason != "" {
				if err == nil {
					t.Fatalf("decoded %d rows, want refusal %q", totalRows(bs), tc.reason)
				}
				if !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("error %q, want it to contain %q", err, tc.reason)
				}
				if !errors.Is(err, ErrNotBars) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("error %q wraps neither ErrNotBars nor ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := totalRows(bs); got != tc.rows {
				t.Fatalf("%d rows, want %d", got, tc.rows)
			}
			b := bs[0]
			if b.Symbols()[0] != "SYM" || b.Providers()[0] != "" {
				t.Fatalf("symbol %q provider %q", b.Symbols()[0], b.Providers()[0])
			}
			if b.Line[0] != 1 || bs[len(bs)-1].Line[bs[len(bs)-1].Len()-1] != int64(tc.rows) {
				t.Fatalf("row numbers do not run 1..%d", tc.rows)
			}
		})
	}
}

// TestOpenParquetPandasDateIndexLast checks the pandas file whose named
// index "Date" is the last column and tz-naive: it becomes the timestamp.
func TestOpenParquetPandasDateIndexLast(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(formatstest.SharedData(t), "trade-executor", "tests", "binance-BTCUSDT-1h.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		loc   *time.Location
		first time.Time
	}{
		{"naive read as UTC", nil, time.Date(2017, 8, 17, 4, 0, 0, 0, time.UTC)},
		{"naive read in a zone", time.FixedZone("X", 3600), time.Date(2017, 8, 17, 3, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := OpenParquet(bytes.NewReader(data), int64(len(data)), Options{File: "btc", Location: tc.loc, BatchRows: 10000})
			if err != nil {
				t.Fatal(err)
			}
			if got := dec.Schema(); !got.Equal(BaseSchema(TypeFloat64)) {
				t.Fatalf("schema %v", got)
			}
			bs, err := pqDecodeAll(dec)
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) != 6 || bs[0].Len() != 10000 {
				t.Fatalf("%d batches, first %d rows; want 6 batches of up to 10000", len(bs), bs[0].Len())
			}
			if got := time.Unix(0, bs[0].Timestamps()[0]).UTC(); !got.Equal(tc.first) {
				t.Fatalf("first timestamp %v, want %v", got, tc.first)
			}
		})
	}
}

// readAllLeaves reads every flat, convertible column of a file through the
// column layer (colCursor) and checks each yields the row group's rows.
func readAllLeaves(path string) (rows int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	defer recoverParquet(path, &err)
	f, err := openParquetFile(bytes.NewReader(data), int64(len(data)), path, 0)
	if err != nil {
		return 0, err
	}
	leaves, _, err := flatLeaves(f.Metadata())
	if err != nil {
		return 0, err
	}
	for rgi, g := range f.RowGroups() {
		for i := range leaves {
			li := &leaves[i]
			if li.Conv == convUnsupported {
				continue
			}
			cur := colCursor{info: li}
			if err := cur.reset(f, rgi, li.Leaf); err != nil {
				return 0, err
			}
			n := 0
			for {
				var col Column
				m, err := cur.read(&col, 1000)
				if err == io.EOF {
					break
				}
				if err != nil {
					cur.close()
					return 0, fmt.Errorf("column %s: %w", li.Name, err)
				}
				if col.Len(li.Type) != m || (col.Null != nil && len(col.Null) != m) {
					cur.close()
					return 0, fmt.Errorf("column %s: read reports %d rows, column holds %d", li.Name, m, col.Len(li.Type))
				}
				n += m
			}
			cur.close()
			if int64(n) != g.NumRows() {
				return 0, fmt.Errorf("column %s: %d values, row group has %d", li.Name, n, g.NumRows())
			}
		}
		rows += g.NumRows()
	}
	return rows, nil
}

// TestColumnLayerParquetTesting exercises codecs, encodings and physical
// types: every parquet-testing file is read through the column layer; the
// listed ones fail with the stated reason, all others must read fully.
func TestColumnLayerParquetTesting(t *testing.T) {
	root := filepath.Join(formatstest.SharedData(t), "parquet-testing")
	failures := map[string]string{
		"bad_data/ARROW-GH-41317.parquet":                                          "corrupt column data",
		"bad_data/ARROW-GH-41321.parquet":                                          "corrupt column data",
		"bad_data/ARROW-RS-GH-6229-DICTHEADER.parquet":                             "missing required field",
		"data/column_chunk_key_value_metadata.parquet":                             "corrupt Parquet footer",
		"data/datapage_v1-corrupt-checksum.parquet":                                "checksum mismatch",
		"data/rle-dict-uncompressed-corrupt-checksum.parquet":                      "checksum mismatch",
		"data/datapage_v2_empty_datapage.snappy.parquet":                           "corrupt input",
		"data/hadoop_lz4_compressed.parquet":                                       "unsupported compression codec: LZ4",
		"data/hadoop_lz4_compressed_larger.parquet":                                "unsupported compression codec: LZ4",
		"data/non_hadoop_lz4_compressed.parquet":                                   "unsupported compression codec: LZ4",
		"data/int96_from_spark.parquet":                                            "outside the representable range",
		"data/nation.dict-malformed.parquet":                                       "corrupt column data",
		"data/_KEY_MATERIAL_FOR_external_key_material_java.parquet.encrypted.json": "no PAR1 magic",
	}
	files := realParquetFiles(t, root)
	if len(files) < 90 {
		t.Fatalf("only %d parquet-testing files found", len(files))
	}
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			rows, err := readAllLeaves(filepath.Join(root, rel))
			want, fails := failures[rel]
			if strings.HasSuffix(rel, ".encrypted") {
				want, fails = "encrypted", true
			}
			switch {
			case fails && err == nil:
				t.Fatalf("read %d rows, want failure %q", rows, want)
			case fails && !strings.Contains(err.Error(), want):
				t.Fatalf("error %q, want it to contain %q", err, want)
			case !fails && err != nil:
				t.Fatal(err)
			}
		})
	}
}

// pqFile writes rows with parquet-go's own writer, standing in for files
// from other tools (struct tags choose logical types and nullability).
func pqFile[T any](t testing.TB, rows []T, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type strTSRow struct {
	Date     string  `parquet:"Date"`
	Open     float64 `parquet:"Open"`
	High     float64 `parquet:"High"`
	Low      float64 `parquet:"Low"`
	Close    float64 `parquet:"Close"`
	Volume   int64   `parquet:"Volume"`
	Provider string  `parquet:"Source"`
}

type nullableRow struct {
	TS     time.Time `parquet:"timestamp,timestamp(microsecond)"`
	Open   *float64  `parquet:"open,optional"`
	High   *float64  `parquet:"high,optional"`
	Low    *float64  `parquet:"low,optional"`
	Close  *float64  `parquet:"close,optional"`
	Volume *float64  `parquet:"volume,optional"`
}

type indexRow struct {
	Index  int64     `parquet:"index"`
	Open   float32   `parquet:"open"`
	High   float32   `parquet:"high"`
	Low    float32   `parquet:"low"`
	Close  float32   `parquet:"close"`
	Volume int32     `parquet:"volume"`
	Ticker string    `parquet:"ticker,dict"`
	Trades int32     `parquet:"trades"`
	Halted bool      `parquet:"halted"`
	Note   *string   `parquet:"note,optional"`
	PdIdx  time.Time `parquet:"__index_level_0__,timestamp(millisecond)"`
}

type epochRow struct {
	TS     int64   `parquet:"ts"`
	Open   float64 `parquet:"o"`
	High   float64 `parquet:"h"`
	Low    float64 `parquet:"l"`
	Close  float64 `parquet:"c"`
	Volume float64 `parquet:"v"`
}

type dupRow struct {
	Date   string  `parquet:"Date"`
	TS     string  `parquet:"timestamp"`
	Open   float64 `parquet:"open"`
	High   float64 `parquet:"high"`
	Low    float64 `parquet:"low"`
	Close  float64 `parquet:"close"`
	Volume float64 `parquet:"volume"`
}

type strPriceRow struct {
	TS     time.Time `parquet:"timestamp"`
	Open   string    `parquet:"open"`
	High   float64   `parquet:"high"`
	Low    float64   `parquet:"low"`
	Close  float64   `parquet:"close"`
	Volume float64   `parquet:"volume"`
}

func fp(v float64) *float64 { return &v }

var t0 = time.Date(2024, 3, 1, 14, 30, 0, 0, time.UTC)

func TestOpenParquetSynthetic(t *testing.T) {
	goodNullable := func(i int) nullableRow {
		return nullableRow{TS: t0.Add(time.Duration(i) * time.Minute), Open: fp(10), High: fp(12), Low: fp(9), Close: fp(11), Volume: fp(100.5)}
	}
	note := "x"
	tests := []struct {
		name   string
		data   func(t *testing.T) []byte
		opt    Options
		rows   int
		schema Schema
		err    string // substring of the expected error, "" for success
		check  func(t *testing.T, bs []*Batch, st Stats)
	}{
		{
			name: "string timestamps, lower-cased provider column",
			data: func(t *testing.T) []byte {
				return pqFile(t, []strTSRow{
					{"2024-01-02 09:30:00", 1, 2, 0.5, 1.5, 10, "IBKR"},
					{"2024-01-02T09:31:00Z", 1, 2, 0.5, 1.5, 11, "Yahoo"},
				})
			},
			opt:    Options{Symbol: "ES"},
			rows:   2,
			schema: BaseSchema(TypeInt64),
			check: func(t *testing.T, bs []*Batch, _ Stats) {
				b := bs[0]
				if got := time.Unix(0, b.Timestamps()[1]).UTC(); !got.Equal(time.Date(2024, 1, 2, 9, 31, 0, 0, time.UTC)) {
					t.Errorf("timestamp %v", got)
				}
				if b.Providers()[0] != "ibkr" || b.Providers()[1] != "yahoo" || b.Symbols()[1] != "ES" {
					t.Errorf("providers %q symbols %q", b.Providers(), b.Symbols())
				}
			},
		},
		{
			name: "provider option overrides the column",
			data: func(t *testing.T) []byte {
				return pqFile(t, []strTSRow{{"2024-01-02", 1, 2, 0.5, 1.5, 10, "IBKR"}})
			},
			opt:  Options{Provider: "barchart"},
			rows: 1,
			check: func(t *testing.T, bs []*Batch, _ Stats) {
				if p := bs[0].Providers()[0]; p != "barchart" {
					t.Errorf("provider %q", p)
				}
			},
		},
		{
			name: "bad string timestamp names row and column",
			data: func(t *testing.T) []byte {
				return pqFile(t, []strTSRow{{"2024-01-02", 1, 2, 0.5, 1.5, 10, ""}, {"yesterday", 1, 2, 0.5, 1.5, 10, ""}})
			},
			err: `:2: column 1 ("Date"): value "yesterday"`,
		},
		{
			name: "row with all prices null is skipped",
			data: func(t *testing.T) []byte {
				rows := []nullableRow{goodNullable(0), {TS: t0.Add(time.Minute)}, goodNullable(2)}
				return pqFile(t, rows)
			},
			rows:   2,
			schema: BaseSchema(TypeFloat64),
			check: func(t *testing.T, bs []*Batch, st Stats) {
				if st.SkippedEmpty != 1 || bs[0].Line[1] != 3 {
					t.Errorf("skipped %d, lines %v", st.SkippedEmpty, bs[0].Line)
				}
				if bs[0].Cols[IdxOpen].Null != nil {
					t.Error("canonical column keeps a Null slice")
				}
			},
		},
		{
			name: "partly null prices are an error",
			data: func(t *testing.T) []byte {
				r := goodNullable(1)
				r.High = nil
				return pqFile(t, []nullableRow{goodNullable(0), r})
			},
			err: `:2: column 3 ("high")`,
		},
		{
			name: "pandas index: integer index dropped, timestamp index used, extras keep types",
			data: func(t *testing.T) []byte {
				var rows []indexRow
				for i := 0; i < 5; i++ {
					r := indexRow{Index: int64(i), Open: 1, High: 2, Low: 0.5, Close: 1.5, Volume: int32(i), Ticker: "AAPL", Trades: 7, Halted: i == 3, PdIdx: t0.Add(time.Duration(i) * time.Hour)}
					if i%2 == 0 {
						r.Note = &note
					}
					rows = append(rows, r)
				}
				return pqFile(t, rows)
			},
			rows:   5,
			schema: append(BaseSchema(TypeInt64), Field{"trades", TypeInt64}, Field{"halted", TypeBool}, Field{"note", TypeString}),
			check: func(t *testing.T, bs []*Batch, _ Stats) {
				b := bs[0]
				if got := time.Unix(0, b.Timestamps()[4]).UTC(); !got.Equal(t0.Add(4 * time.Hour)) {
					t.Errorf("timestamp from index %v", got)
				}
				if b.Symbols()[0] != "AAPL" || !b.Cols[NumCanonical+1].Bool[3] || !b.Cols[NumCanonical+2].IsNull(1) || b.Cols[NumCanonical+2].Str[2] != "x" {
					t.Errorf("extras wrong: %v", rowString(b, 1))
				}
			},
		},
		{
			name: "integer epoch milliseconds without a logical type",
			data: func(t *testing.T) []byte {
				return pqFile(t, []epochRow{{t0.UnixMilli(), 1, 2, 0.5, 1.5, 3}})
			},
			rows: 1,
			check: func(t *testing.T, bs []*Batch, _ Stats) {
				if bs[0].Timestamps()[0] != t0.UnixNano() {
					t.Errorf("timestamp %d, want %d", bs[0].Timestamps()[0], t0.UnixNano())
				}
			},
		},
		{
			name: "OHLC violation rejected at the end",
			data: func(t *testing.T) []byte {
				r := goodNullable(1)
				r.Low = fp(13)
				return pqFile(t, []nullableRow{goodNullable(0), r})
			},
			err: "1 row(s) violate",
		},
		{
			name: "OHLC violation kept under warn",
			data: func(t *testing.T) []byte {
				r := goodNullable(1)
				r.Low = fp(13)
				return pqFile(t, []nullableRow{goodNullable(0), r})
			},
			opt:  Options{OHLCCheck: OHLCWarn},
			rows: 2,
			check: func(t *testing.T, _ []*Batch, st Stats) {
				if st.OHLCViolations != 1 {
					t.Errorf("violations %d", st.OHLCViolations)
				}
			},
		},
		{
			name: "two columns map to timestamp",
			data: func(t *testing.T) []byte { return pqFile(t, []dupRow{{}}) },
			err:  `"Date" and "timestamp" both map to "timestamp"`,
		},
		{
			name: "text prices refused",
			data: func(t *testing.T) []byte { return pqFile(t, []strPriceRow{{TS: t0, Open: "1"}}) },
			err:  `column "open" is string, want a number`,
		},
		{
			name: "batches split across row groups",
			data: func(t *testing.T) []byte {
				var rows []nullableRow
				for i := 0; i < 1000; i++ {
					rows = append(rows, goodNullable(i))
				}
				return pqFile(t, rows, parquet.MaxRowsPerRowGroup(300), parquet.PageBufferSize(512))
			},
			opt:  Options{BatchRows: 128},
			rows: 1000,
			check: func(t *testing.T, bs []*Batch, _ Stats) {
				if len(bs) != 8 {
					t.Errorf("%d batches, want 8", len(bs))
				}
				next := t0
				for _, b := range bs {
					for _, ts := range b.Timestamps() {
						if ts != next.UnixNano() {
							t.Fatalf("timestamp %v, want %v", time.Unix(0, ts).UTC(), next)
						}
						next = next.Add(time.Minute)
					}
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			tc.opt.File = "in.parquet"
			dec, err := OpenParquet(bytes.NewReader(data), int64(len(data)), tc.opt)
			var bs []*Batch
			if err == nil {
				if tc.schema != nil && !dec.Schema().Equal(tc.schema) {
					t.Fatalf("schema [%v], want [%v]", dec.Schema(), tc.schema)
				}
				bs, err = pqDecodeAll(dec)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := totalRows(bs); got != tc.rows {
				t.Fatalf("%d rows, want %d", got, tc.rows)
			}
			if st := dec.Stats(); st.Rows != int64(tc.rows) {
				t.Fatalf("Stats.Rows %d, want %d", st.Rows, tc.rows)
			}
			if tc.check != nil {
				tc.check(t, bs, dec.Stats())
			}
		})
	}
}

// FuzzParquetReader: no input may panic the decoder, the partition reader
// or the view builder.
func FuzzParquetReader(f *testing.F) {
	var rows []nullableRow
	for i := 0; i < 40; i++ {
		rows = append(rows, nullableRow{TS: t0.Add(time.Duration(i) * time.Minute), Open: fp(10), High: fp(12), Low: fp(9), Close: fp(11), Volume: fp(1)})
	}
	valid := pqFile(f, rows, parquet.MaxRowsPerRowGroup(16))
	part, _ := writePartition(f, makeBars(partitionSchema(), 0, 60, true), 25)
	for _, seed := range [][]byte{valid, part} {
		f.Add(seed)
		f.Add(seed[:len(seed)/2])
		f.Add(seed[:len(seed)-1])
		for _, pos := range []int{4, 20, len(seed) / 3, len(seed) - 30, len(seed) - 9} {
			m := bytes.Clone(seed)
			m[pos] ^= 0x5a
			f.Add(m)
		}
	}
	f.Add([]byte("PAR1PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		if dec, err := OpenParquet(r, int64(len(data)), Options{File: "fuzz", BatchRows: 7}); err == nil {
			pqDecodeAll(dec)
			dec.Close()
		}
		if p, err := OpenPartition(r, int64(len(data))); err == nil {
			// Arbitrary bytes are no partition the store wrote: the store
			// checks a partition's row-group checksums before reading it,
			// so only here its pages are checked like an input file's.
			p.deep = true
			for i := 0; i < p.NumRowGroups(); i++ {
				p.ReadRowGroup(i)
			}
		}
		if l, err := BuildViewLayout(partitionSchema(), []ViewSource{{r, int64(len(data))}}); err == nil {
			buf := make([]byte, l.Size())
			l.ReadAt(buf, 0)
		}
	})
}
