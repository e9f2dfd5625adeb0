package metastore

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Manifest)
	}{
		{"full", func(*Manifest) {}},
		{"empty dataset", func(m *Manifest) {
			m.Partitions, m.RowCount, m.Symbols, m.Providers, m.Report = nil, 0, nil, nil, nil
		}},
		{"non-UTC times", func(m *Manifest) {
			ny := time.FixedZone("EST", -5*3600)
			m.CommittedAt = m.CommittedAt.In(ny)
			m.Partitions[0].MinTS = m.Partitions[0].MinTS.In(ny)
		}},
		{"day partitions", func(m *Manifest) {
			m.Settings.Granularity = GranularityDay
			for i := range m.Partitions {
				p := &m.Partitions[i]
				p.Key = PartitionKey(p.MinTS, GranularityDay)
				p.Path = p.Key + "/" + p.Path[strings.LastIndexByte(p.Path, '/')+1:]
			}
		}},
		{"html and unicode in source", func(m *Manifest) { m.Source = "<a&b> Données \u2028.csv" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testManifest(3)
			tc.edit(m)
			data := mustEncode(t, m)
			if !strings.HasPrefix(m.Checksum, "sha256:") {
				t.Fatalf("Encode did not fill Checksum: %q", m.Checksum)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v\n%s", err, data)
			}
			manifestsEqual(t, got, m)
			if got.Checksum != m.Checksum {
				t.Fatalf("checksum %s, want %s", got.Checksum, m.Checksum)
			}
			again := mustEncode(t, got)
			if !bytes.Equal(again, data) {
				t.Fatalf("re-encoding differs:\n%s\n%s", again, data)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	m := testManifest(1)
	m.RowCount++
	if _, err := Encode(m); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode of inconsistent manifest: %v, want ErrInvalid", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	// Structural edits are re-encoded with a valid checksum, so each case
	// tests one validation rule, not the checksum.
	structural := []struct {
		name string
		edit func(m *Manifest)
		want string // part of the error text
	}{
		{"format version 0", func(m *Manifest) { m.FormatVersion = 0 }, "format_version 0"},
		{"version 0", func(m *Manifest) { m.Version, m.Parent = 0, 0 }, "version 0"},
		{"negative version", func(m *Manifest) { m.Version = -4 }, "version -4"},
		{"parent equals version", func(m *Manifest) { m.Parent = m.Version }, "parent"},
		{"parent above version", func(m *Manifest) { m.Parent = m.Version + 1 }, "parent"},
		{"negative parent", func(m *Manifest) { m.Parent = -1 }, "parent"},
		{"empty dataset name", func(m *Manifest) { m.Dataset = "" }, "invalid dataset name"},
		{"dataset escapes", func(m *Manifest) { m.Dataset = "../etc" }, "escapes"},
		{"absolute dataset", func(m *Manifest) { m.Dataset = "/etc/x" }, "absolute"},
		{"reserved dataset component", func(m *Manifest) { m.Dataset = "a/_log" }, "reserved"},
		{"schema missing columns", func(m *Manifest) { m.Schema = m.Schema[:5] }, "schema has 5 columns"},
		{"schema wrong order", func(m *Manifest) { m.Schema[1], m.Schema[2] = m.Schema[2], m.Schema[1] }, "schema column 1"},
		{"bad dedup", func(m *Manifest) { m.Settings.Dedup = "fuzzy" }, "settings.dedup"},
		{"bad granularity", func(m *Manifest) { m.Settings.Granularity = "week" }, "settings.granularity"},
		{"bad ohlc check", func(m *Manifest) { m.Settings.OHLCCheck = "" }, "settings.ohlc_check"},
		{"empty timezone", func(m *Manifest) { m.Settings.Timezone = "" }, "timezone"},
		{"negative csv size", func(m *Manifest) { m.CSVSize = -1 }, "negative"},
		{"symbols unsorted", func(m *Manifest) { m.Symbols = []string{"MSFT", "AAPL"} }, "symbols"},
		{"providers duplicate", func(m *Manifest) { m.Providers = []string{"a", "a"} }, "providers"},
		{"partitions unsorted", func(m *Manifest) { m.Partitions[0], m.Partitions[1] = m.Partitions[1], m.Partitions[0] }, "not sorted"},
		{"partition keys duplicate", func(m *Manifest) {
			m.Partitions[1].Key = m.Partitions[0].Key
			m.Partitions[1].Path = m.Partitions[0].Key + "/x.parquet"
			m.Partitions[1].MinTS = m.Partitions[0].MaxTS
		}, "not sorted and unique"},
		{"row count mismatch", func(m *Manifest) { m.RowCount++ }, "row_count says"},
		{"row group rows mismatch", func(m *Manifest) { m.Partitions[0].RowGroups[1].Rows-- }, "row groups hold"},
		{"row group past end", func(m *Manifest) { m.Partitions[0].RowGroups[1].Length = 6000 }, "not inside"},
		{"row group overlap", func(m *Manifest) { m.Partitions[0].RowGroups[1].Offset = 4000 }, "not inside"},
		{"row group negative offset", func(m *Manifest) { m.Partitions[0].RowGroups[0].Offset = -1 }, "not inside"},
		{"row group overflow", func(m *Manifest) { m.Partitions[0].RowGroups[1].Length = 1<<63 - 1 }, "not inside"},
		{"row group empty", func(m *Manifest) { m.Partitions[0].RowGroups[1].Length = 0 }, "not inside"},
		{"negative csv length", func(m *Manifest) { m.Partitions[0].RowGroups[0].CSVLength = -2 }, "csv_length"},
		{"path with dotdot", func(m *Manifest) { m.Partitions[0].Path = "year=2024/month=01/../../../x.parquet" }, "not clean"},
		{"path escapes", func(m *Manifest) { m.Partitions[0].Path = "../year=2024/month=01/x.parquet" }, "path"},
		{"absolute path", func(m *Manifest) { m.Partitions[0].Path = "/year=2024/month=01/x.parquet" }, "absolute"},
		{"path not under key", func(m *Manifest) { m.Partitions[0].Path = "year=2024/month=02/x.parquet" }, "is not year=2024/month=01"},
		{"path not parquet", func(m *Manifest) { m.Partitions[0].Path = "year=2024/month=01/x.csv" }, "parquet"},
		{"path with NUL", func(m *Manifest) { m.Partitions[0].Path = "year=2024/month=01/x\x00.parquet" }, "NUL"},
		{"bad key", func(m *Manifest) { m.Partitions[0].Key = "year=24/month=01" }, "year=<4 digits>"},
		{"month 13", func(m *Manifest) { m.Partitions[1].Key = "year=2024/month=13" }, "bad month"},
		{"key granularity mismatch", func(m *Manifest) { m.Settings.Granularity = GranularityYear }, "granularity"},
		{"bad sha256", func(m *Manifest) { m.Partitions[0].SHA256 = strings.ToUpper(m.Partitions[0].SHA256) }, "sha256"},
		{"min after max", func(m *Manifest) { m.Partitions[0].MinTS = m.Partitions[0].MaxTS.Add(time.Second) }, "before min_ts"},
		{"empty partition", func(m *Manifest) {
			m.RowCount -= m.Partitions[0].Rows
			m.Partitions[0].Rows, m.Partitions[0].RowGroups = 0, nil
		}, "rows 0"},
	}
	for _, tc := range structural {
		t.Run(tc.name, func(t *testing.T) {
			m := testManifest(2)
			tc.edit(m)
			data, err := encode(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v, want it to mention %q", err, tc.want)
			}
			if _, err := Encode(m); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Encode accepted what Decode rejects: %v", err)
			}
		})
	}

	valid := mustEncode(t, testManifest(2))
	raw := []struct {
		name        string
		data        []byte
		want        string
		unsupported bool
	}{
		{"empty", nil, "unexpected end", false},
		{"not json", []byte("PAR1"), "invalid character", false},
		{"torn write", valid[:len(valid)/2], "unexpected end", false},
		{"flipped byte", bytes.Replace(valid, []byte(`"rows": 300`), []byte(`"rows": 301`), 1), "checksum mismatch", false},
		{"reformatted", bytes.Replace(valid, []byte("\n  "), []byte("\n "), -1), "checksum", false},
		{"checksum removed", bytes.Replace(valid, []byte(`"checksum": "sha256:`), []byte(`"checksum": "md5:`), 1), "not sha256", false},
		{"json array", []byte(`[1,2]`), "cannot unmarshal", false},
		{"newer format", bytes.Replace(valid, []byte(`"format_version": 1`), []byte(`"format_version": 7`), 1), "format 7", true},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v, want ErrCorrupt mentioning %q", err, tc.want)
			}
			if got := errors.Is(err, ErrUnsupportedFormat); got != tc.unsupported {
				t.Fatalf("errors.Is(ErrUnsupportedFormat) = %v, want %v", got, tc.unsupported)
			}
		})
	}
}

func TestPartitionKeys(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		t          time.Time
		g          string
		key        string
		start, end time.Time
	}{
		{"year", time.Date(2024, 7, 9, 13, 0, 0, 0, time.UTC), GranularityYear, "year=2024",
			time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"month", time.Date(1999, 12, 31, 23, 59, 0, 0, time.UTC), GranularityMonth, "year=1999/month=12",
			time.Date(1999, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"day", time.Date(2024, 2, 29, 1, 0, 0, 0, time.UTC), GranularityDay, "year=2024/month=02/day=29",
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"day across DST in New York", time.Date(2024, 3, 10, 12, 0, 0, 0, ny), GranularityDay, "year=2024/month=03/day=10",
			time.Date(2024, 3, 10, 0, 0, 0, 0, ny), time.Date(2024, 3, 11, 0, 0, 0, 0, ny)},
		{"early year", time.Date(33, 1, 5, 0, 0, 0, 0, time.UTC), GranularityYear, "year=0033",
			time.Date(33, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(34, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PartitionKey(tc.t, tc.g); got != tc.key {
				t.Fatalf("PartitionKey = %q, want %q", got, tc.key)
			}
			start, end, err := KeyRange(tc.key, tc.t.Location())
			if err != nil {
				t.Fatal(err)
			}
			if !start.Equal(tc.start) || !end.Equal(tc.end) {
				t.Fatalf("KeyRange = [%v, %v), want [%v, %v)", start, end, tc.start, tc.end)
			}
			if tc.t.Before(start) || !tc.t.Before(end) {
				t.Fatalf("%v not inside its key's range", tc.t)
			}
		})
	}
	for _, bad := range []string{"", "year=2024/", "month=01", "year=2024/day=01", "year=2024/month=00", "year=2023/month=02/day=29",
		"year=+024", "year=2024/month=01/day=01/hour=01", "year=2024/month=1"} {
		if _, _, err := KeyRange(bad, time.UTC); err == nil {
			t.Errorf("KeyRange(%q) accepted", bad)
		}
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"ES_1min", true}, {"yahoo/AAPL", true}, {"a/b/c", true}, {"BTC-USD.1h", true},
		{"", false}, {"/abs", false}, {"a/../b", false}, {"..", false}, {"a//b", false}, {"a/", false},
		{".metadata", false}, {"a/.hidden", false}, {"_log", false}, {"x/year=2024", false},
		{"a\\b", false}, {"nul\x00", false}, {".", false},
		// One canonical form: valid UTF-8, NFC, no control characters.
		{"caf\u00e9", true}, {"cafe\u0301", false}, {"指数/沪深300", true}, {"₿/BTC", true},
		{"a\nb", false}, {"a\tb", false}, {"a\rb", false}, {"del\x7f", false}, {"c1\u0085", false},
		{"bad\xff", false}, {"bad\xc3", false},
		// 247 bytes per component: NAME.parquet fits in 255.
		{strings.Repeat("a", 247), true}, {strings.Repeat("a", 248), false},
		{strings.Repeat("é", 123) + "a", true}, {strings.Repeat("é", 124), false},
		{strings.Repeat("f", 247) + "/" + strings.Repeat("n", 247), true},
		{strings.Repeat("f", 248) + "/n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v does not wrap ErrInvalidName", err)
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatalf("default settings: %v", err)
	}
	s := DefaultSettings()
	s.Timezone = "Mars/Olympus_Mons"
	if err := s.Validate(); err == nil {
		t.Fatal("unknown timezone accepted")
	}
}

func FuzzDecodeManifest(f *testing.F) {
	valid := mustEncode(f, testManifest(5))
	f.Add(valid)
	f.Add(valid[:len(valid)-20])
	f.Add(bytes.Replace(valid, []byte(`"version": 5`), []byte(`"version": 9`), 1))
	f.Add([]byte(`{"format_version":1,"checksum":"sha256:"}`))
	f.Add([]byte(`{"format_version":1,"partitions":[{"row_groups":[{"offset":-1}]}]}`))
	f.Add([]byte(`null`))
	empty := testManifest(1)
	empty.Partitions, empty.RowCount = nil, 0
	f.Add(mustEncode(f, empty))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes must re-encode and decode to the same manifest.
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded manifest does not encode: %v", err)
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
		manifestsEqual(t, m2, m)
	})
}

// bigManifest has ten years of daily partitions with 4 row groups each.
func bigManifest() *Manifest {
	m := testManifest(7)
	m.Settings.Granularity = GranularityDay
	m.Partitions, m.RowCount = nil, 0
	day := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3650; i++ {
		d := day.AddDate(0, 0, i)
		key := PartitionKey(d, GranularityDay)
		p := Partition{Key: key, Path: key + "/0b9d2a1e-3c6f-4a57-9b0e-2f7c1d5e8a41.parquet", Rows: 1600,
			MinTS: d, MaxTS: d.Add(23 * time.Hour), Size: 80000, SHA256: strings.Repeat("ab", 32)}
		for g := int64(0); g < 4; g++ {
			p.RowGroups = append(p.RowGroups, RowGroup{Offset: 4 + g*19000, Length: 19000, Rows: 400, CSVLength: 30000})
		}
		m.Partitions = append(m.Partitions, p)
		m.RowCount += p.Rows
	}
	return m
}

func BenchmarkDecodeManifest(b *testing.B) {
	data, err := Encode(bigManifest())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeManifest(b *testing.B) {
	m := bigManifest()
	data, err := Encode(m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzValidateManifest reaches the validation rules behind the checksum:
// any JSON is decoded into a Manifest, re-signed and decoded again.
func FuzzValidateManifest(f *testing.F) {
	f.Add(mustEncode(f, testManifest(2)))
	f.Add([]byte(`{"version":3,"parent":2,"partitions":[{"key":"year=2024","path":"year=2024/a.parquet","rows":1,"size":9,"row_groups":[{"offset":9223372036854775807,"length":9223372036854775807,"rows":1}]}]}`))
	f.Add([]byte(`{"dataset":"a/../b","schema":[{"name":"timestamp","type":"timestamp"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Manifest
		if json.Unmarshal(data, &m) != nil {
			return
		}
		m.FormatVersion = FormatVersion
		signed, err := encode(&m)
		if err != nil {
			return
		}
		got, err := Decode(signed)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if _, err := Encode(got); err != nil {
			t.Fatalf("Decode accepted what Encode rejects: %v", err)
		}
	})
}

// multiFileManifest is testManifest with January split into two files:
// the second holds the rows after the first's last timestamp.
func multiFileManifest(v int64) *Manifest {
	m := testManifest(v)
	jan := m.Partitions[0]
	extra := jan
	extra.Path = jan.Key + "/appended.parquet"
	extra.MinTS = jan.MaxTS.Add(time.Minute)
	extra.MaxTS = jan.MaxTS.Add(time.Hour)
	m.Partitions = append([]Partition{jan, extra}, m.Partitions[1:]...)
	m.RowCount += extra.Rows
	m.CSVSize += 13500
	return m
}

func TestManifestWithSeveralFilesPerKey(t *testing.T) {
	m := multiFileManifest(2)
	data := mustEncode(t, m)
	if m.FormatVersion != FormatMultiFile {
		t.Fatalf("Encode wrote format %d for a key with two files, want %d", m.FormatVersion, FormatMultiFile)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(got.Partitions) != 3 || got.Partitions[0].Key != got.Partitions[1].Key || got.RowCount != m.RowCount {
		t.Fatalf("decoded %d partitions, rows %d", len(got.Partitions), got.RowCount)
	}
	if d := NewDatasetDoc(got, nil); d.Partitions != 2 || d.PartitionFiles != 3 || !d.LastTimestamp.Equal(got.Partitions[2].MaxTS) {
		t.Fatalf("metadata: %d partitions, %d files, last %v", d.Partitions, d.PartitionFiles, d.LastTimestamp)
	}
	// One file per key again (compaction): back to format 1, which a bcfs
	// without appends reads.
	one := testManifest(3)
	one.FormatVersion = FormatMultiFile
	mustEncode(t, one)
	if one.FormatVersion != FormatVersion {
		t.Fatalf("one file per key encoded as format %d, want %d", one.FormatVersion, FormatVersion)
	}

	bad := []struct {
		name string
		edit func(m *Manifest)
		want string
	}{
		{"overlap", func(m *Manifest) { m.Partitions[1].MinTS = m.Partitions[0].MaxTS }, "without overlap"},
		{"out of time order", func(m *Manifest) {
			m.Partitions[0], m.Partitions[1] = m.Partitions[1], m.Partitions[0]
		}, "without overlap"},
		{"same file twice", func(m *Manifest) {
			m.Partitions[1].Path = m.Partitions[0].Path
		}, "listed twice"},
		{"format 1", func(m *Manifest) { m.FormatVersion = FormatVersion }, "format 1"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			m := multiFileManifest(2)
			m.FormatVersion = FormatMultiFile
			tc.edit(m)
			data, err := encode(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(data)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v, want ErrCorrupt mentioning %q", err, tc.want)
			}
		})
	}
}
