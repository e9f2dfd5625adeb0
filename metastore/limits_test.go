package metastore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"bcfs/formats"
)

func TestLimitsFollowParquetGo(t *testing.T) {
	if MaxColumns != parquet.MaxColumnIndex || MaxRowGroups != parquet.MaxRowGroups {
		t.Fatalf("MaxColumns %d, MaxRowGroups %d; parquet-go's limits are %d, %d",
			MaxColumns, MaxRowGroups, parquet.MaxColumnIndex, parquet.MaxRowGroups)
	}
}

// TestEncodeRefusesOverLimits: a manifest no reader could open is never
// encoded, so never committed.
func TestEncodeRefusesOverLimits(t *testing.T) {
	extra := func(n int, name func(int) string) formats.Schema {
		s := formats.BaseSchema(formats.TypeInt64)
		for i := 0; i < n; i++ {
			s = append(s, formats.Field{Name: name(i), Type: formats.TypeFloat64})
		}
		return s
	}
	numbered := func(i int) string { return fmt.Sprintf("x%d", i) }
	tooManyGroups := testManifest(1)
	p := &tooManyGroups.Partitions[0]
	p.RowGroups = nil
	for i := 0; i <= MaxRowGroups; i++ {
		p.RowGroups = append(p.RowGroups, RowGroup{Offset: 4 + int64(i), Length: 1, Rows: 1})
	}
	p.Size = int64(len(p.RowGroups)) + 100
	p.Rows = int64(len(p.RowGroups))
	tooManyGroups.RowCount = p.Rows + tooManyGroups.Partitions[1].Rows
	for _, tc := range []struct {
		name   string
		m      func() *Manifest
		want   string
		schema bool
	}{
		{"columns", func() *Manifest {
			m := testManifest(1)
			m.Schema = extra(MaxColumns-len(formats.BaseSchema(formats.TypeInt64))+1, numbered)
			return m
		}, "65535 columns", true},
		{"name length", func() *Manifest {
			m := testManifest(1)
			m.Schema = extra(1, func(int) string { return strings.Repeat("é", 3000) })
			return m
		}, "6000 bytes", true},
		{"name encoding", func() *Manifest {
			m := testManifest(1)
			m.Schema = extra(1, func(int) string { return "bad\xff" })
			return m
		}, "not valid UTF-8", true},
		{"row groups", func() *Manifest { return tooManyGroups }, "32770 row groups", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m()
			_, err := Encode(m)
			if !errors.Is(err, ErrLimit) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Encode: %v; want ErrLimit saying %q", err, tc.want)
			}
			if err := CheckSchema(m.Schema); (err != nil) != tc.schema {
				t.Fatalf("CheckSchema: %v", err)
			}
		})
	}
	// At the limits, a manifest encodes.
	m := testManifest(1)
	m.Schema = extra(MaxColumns-len(formats.BaseSchema(formats.TypeInt64)), numbered)
	if _, err := Encode(m); err != nil {
		t.Fatalf("Encode at %d columns: %v", MaxColumns, err)
	}
}
