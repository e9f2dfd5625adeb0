package dedupmerge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseStrategy(t *testing.T) {
	tests := []struct {
		in      string
		want    Strategy
		wantErr bool
	}{
		{"", TimestampSymbol, false},
		{"timestamp_symbol", TimestampSymbol, false},
		{"timestamp_only", TimestampOnly, false},
		{"all_columns", AllColumns, false},
		{" All-Columns ", AllColumns, false},
		{"timestamp", "", true},
		{"symbol_timestamp", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseStrategy(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrStrategy) {
				t.Fatalf("err = %v, want ErrStrategy", err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if err == nil && (Policy{Strategy: got}).Validate() != nil {
				t.Fatalf("parsed strategy %q does not validate", got)
			}
		})
	}
}

func TestRank(t *testing.T) {
	tests := []struct {
		name     string
		pref     []string
		provider string
		want     int
	}{
		{"default ibkr", nil, "ibkr", 0},
		{"default barchart", nil, "barchart", 1},
		{"default yahoo", nil, "yahoo", 2},
		{"default case-insensitive", nil, "YaHoo", 2},
		{"default unknown", nil, "kraken", 3},
		{"default empty", nil, "", 3},
		{"custom first", []string{"yahoo"}, "yahoo", 0},
		{"custom unknown ibkr", []string{"yahoo"}, "ibkr", 1},
		{"empty preference", []string{}, "ibkr", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Policy{Preference: tc.pref}).Rank(tc.provider); got != tc.want {
				t.Fatalf("Rank(%q) = %d, want %d", tc.provider, got, tc.want)
			}
		})
	}
}

func TestReportFinish(t *testing.T) {
	tests := []struct {
		name     string
		added    int64
		incoming int64
		ratio    float64
		warn     bool
	}{
		{"no input", 0, 0, 0, false},
		{"all new", 100, 100, 0, false},
		{"exactly threshold", 90, 100, 0.1, false},
		{"above threshold", 89, 100, 0.11, true},
		{"all duplicates", 0, 5, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Report
			r.Add(Report{RowsAdded: tc.added})
			r.Finish(tc.incoming)
			if r.DuplicateThreshold != 0.1 {
				t.Errorf("threshold %v", r.DuplicateThreshold)
			}
			if d := r.DuplicateRatio - tc.ratio; d > 1e-12 || d < -1e-12 {
				t.Errorf("ratio %v, want %v", r.DuplicateRatio, tc.ratio)
			}
			if (r.Warning != "") != tc.warn {
				t.Errorf("warning %q, want warning %v", r.Warning, tc.warn)
			}
		})
	}
}

func TestReportAddAndJSON(t *testing.T) {
	a := Report{OriginalCount: 10, FinalCount: 8, DuplicatesRemoved: 2, ConflictsResolved: 1, RowsAdded: 3, RowsReplaced: 1, RowsUnchanged: 2, DuplicateThreshold: 0.1}
	var r Report
	r.Add(a)
	r.Add(a)
	r.AddInputDuplicates(4, 2)
	want := Report{OriginalCount: 24, FinalCount: 16, DuplicatesRemoved: 8, ConflictsResolved: 4, RowsAdded: 6, RowsReplaced: 2, RowsUnchanged: 8, DuplicateThreshold: 0.1}
	if r != want {
		t.Fatalf("sum %+v, want %+v", r, want)
	}
	r.Finish(16)
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"original_count":24`, `"final_count":16`, `"duplicates_removed":8`, `"conflicts_resolved":4`,
		`"rows_added":6`, `"rows_replaced":2`, `"rows_unchanged_duplicates":8`, `"duplicate_threshold":0.1`, `"duplicate_ratio":0.625`, `"warning":"10 of 16`} {
		if !strings.Contains(string(js), field) {
			t.Errorf("JSON %s lacks %s", js, field)
		}
	}
}
