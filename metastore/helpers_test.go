package metastore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"bcfs/formats"
)

var testTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// testManifest returns a valid manifest of version v with two monthly
// partitions of two row groups each.
func testManifest(v int64) *Manifest {
	m := &Manifest{
		FormatVersion: FormatVersion,
		Dataset:       "yahoo/AAPL",
		Version:       v,
		Parent:        v - 1,
		CommittedAt:   testTime.Add(time.Duration(v) * time.Minute),
		Schema:        append(formats.BaseSchema(formats.TypeInt64), formats.Field{Name: "adj_close", Type: formats.TypeFloat64}),
		Settings:      DefaultSettings(),
		Source:        "AAPL.csv",
		Report:        json.RawMessage(`{"original_count":10,"final_count":7,"duplicate_ratio":0.3}`),
		OHLCWarnings:  1,
		Symbols:       []string{"AAPL", "MSFT"},
		Providers:     []string{"yahoo"},
	}
	for i, month := range []time.Month{1, 2} {
		start := time.Date(2024, month, 1, 0, 0, 0, 0, time.UTC)
		key := PartitionKey(start, GranularityMonth)
		sum := sha256.Sum256([]byte(key))
		p := Partition{
			Key:    key,
			Path:   key + "/" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(key)).String() + ".parquet",
			Rows:   300 + int64(i),
			MinTS:  start,
			MaxTS:  start.Add(20 * 24 * time.Hour),
			Size:   10000,
			SHA256: hex.EncodeToString(sum[:]),
			RowGroups: []RowGroup{
				{Offset: 4, Length: 5000, Rows: 200, CSVLength: 9000},
				{Offset: 5004, Length: 4000, Rows: 100 + int64(i), CSVLength: 4500},
			},
		}
		m.Partitions = append(m.Partitions, p)
		m.RowCount += p.Rows
		m.CSVSize += 13500
	}
	m.CSVSize += 60
	m.ParquetSize = 19000
	return m
}

func mustEncode(t testing.TB, m *Manifest) []byte {
	t.Helper()
	data, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

// manifestsEqual compares what a manifest means (times by instant).
func manifestsEqual(t testing.TB, got, want *Manifest) {
	t.Helper()
	a, err := encode(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encode(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Fatalf("manifests differ:\n got %s\nwant %s", a, b)
	}
}
