package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"bcfs/store"
)

func TestFillDemo(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "store"), store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := fillDemo(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		rows int64
	}{
		{"ES_1min", 1500}, // two 900-bar feeds overlapping by 300 bars
		{"crypto/BTCUSD", 2000},
		{"yahoo/AAPL", 500},
		{"yahoo/MSFT", 500},
	}
	list, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(cases) {
		t.Fatalf("%d datasets, want %d", len(list), len(cases))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if list[i].Name != tc.name || list[i].Rows != tc.rows {
				t.Fatalf("got %s with %d rows, want %s with %d", list[i].Name, list[i].Rows, tc.name, tc.rows)
			}
		})
	}
}
