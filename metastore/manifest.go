package metastore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"bcfs/formats"
)

// FormatVersion is the store format (bcfs.json) and the format of a
// manifest with one file per partition key.
const FormatVersion = 1

// FormatMultiFile is the format of a manifest in which some partition key
// has several files (an append, before compaction). Encode writes it only
// for such manifests, so a bcfs that knows format 1 alone refuses them as
// a newer format (ErrUnsupportedFormat) rather than skipping them as
// corrupt and committing on an older head, which would drop the appended
// rows.
const FormatMultiFile = 2

// manifestFormat is the format m needs: FormatMultiFile when a key has
// several files, else FormatVersion.
func manifestFormat(m *Manifest) int {
	for i := 1; i < len(m.Partitions); i++ {
		if m.Partitions[i].Key == m.Partitions[i-1].Key {
			return FormatMultiFile
		}
	}
	return FormatVersion
}

// Manifest describes one committed version of a dataset. It is immutable
// once committed: a new version is a new manifest.
type Manifest struct {
	FormatVersion int            `json:"format_version"`
	Dataset       string         `json:"dataset"`
	Version       int64          `json:"version"`
	Parent        int64          `json:"parent"` // 0 for the first version
	CommittedAt   time.Time      `json:"committed_at"`
	Schema        formats.Schema `json:"schema"`
	Settings      Settings       `json:"settings"`
	// Partitions are sorted by (Key, MinTS). A key may have several files
	// (an append adds one for rows past the key's last timestamp; see
	// FormatMultiFile); their time ranges do not overlap, so the files in
	// order hold the key's rows sorted by (timestamp, symbol).
	Partitions []Partition `json:"partitions"`
	RowCount   int64       `json:"row_count"`
	// CSVSize is the exact size of the CSV view: header plus the sum of the
	// row groups' CSV lengths.
	CSVSize int64 `json:"csv_size"`
	// ParquetSize is the exact size of the concatenated Parquet view.
	ParquetSize int64           `json:"parquet_size"`
	Source      string          `json:"source,omitempty"` // what the ingest read
	Report      json.RawMessage `json:"report,omitempty"` // the ingest's dedup report, verbatim
	// OHLCWarnings counts rows accepted under ohlc_check=warn, cumulative
	// over the dataset's history.
	OHLCWarnings int64    `json:"ohlc_warnings"`
	Symbols      []string `json:"symbols"`   // sorted, distinct
	Providers    []string `json:"providers"` // sorted, distinct
	// Checksum is "sha256:<hex>" of the manifest encoded by Encode with
	// Checksum "". It must stay the last field: Decode finds it at the end.
	Checksum string `json:"checksum"`
}

// Settings are a dataset's configuration, carried by every version.
type Settings struct {
	Dedup              string   `json:"dedup"` // timestamp_symbol|timestamp_only|all_columns
	ProviderPreference []string `json:"provider_preference"`
	Partition          string   `json:"partition"`   // auto|year|month|day, as configured
	Granularity        string   `json:"granularity"` // year|month|day, resolved
	Timezone           string   `json:"timezone"`    // IANA name
	OHLCCheck          string   `json:"ohlc_check"`  // reject|warn
}

// Granularities of partition keys.
const (
	GranularityYear  = "year"
	GranularityMonth = "month"
	GranularityDay   = "day"
)

// DefaultSettings returns the settings of a new dataset.
func DefaultSettings() Settings {
	return Settings{
		Dedup:              "timestamp_symbol",
		ProviderPreference: []string{"ibkr", "barchart", "yahoo"},
		Partition:          "auto",
		Granularity:        GranularityMonth,
		Timezone:           "UTC",
		OHLCCheck:          "reject",
	}
}

// Validate checks the enumerated settings and that the timezone loads.
func (s Settings) Validate() error {
	if err := s.validateEnums(); err != nil {
		return err
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil {
		return fmt.Errorf("timezone %q: %w", s.Timezone, err)
	}
	return nil
}

// validateEnums is the part of Validate that does not depend on the host's
// time zone database, so a manifest decodes the same on every machine.
func (s Settings) validateEnums() error {
	oneOf := func(field, v string, allowed ...string) error {
		if slices.Contains(allowed, v) {
			return nil
		}
		return fmt.Errorf("settings.%s %q, want one of %s", field, v, strings.Join(allowed, "|"))
	}
	return errors.Join(
		oneOf("dedup", s.Dedup, "timestamp_symbol", "timestamp_only", "all_columns"),
		oneOf("partition", s.Partition, "auto", GranularityYear, GranularityMonth, GranularityDay),
		oneOf("granularity", s.Granularity, GranularityYear, GranularityMonth, GranularityDay),
		oneOf("ohlc_check", s.OHLCCheck, "reject", "warn"),
		func() error {
			if s.Timezone == "" {
				return errors.New("settings.timezone is empty")
			}
			return nil
		}(),
	)
}

// Partition is one immutable Parquet file holding rows of one time bucket
// (all of them, or a time range of them when the key has several files),
// sorted by (timestamp, symbol).
type Partition struct {
	Key       string     `json:"key"`  // "year=2024/month=01"
	Path      string     `json:"path"` // slash path relative to the dataset dir: Key + "/<uuid>.parquet"
	Rows      int64      `json:"rows"`
	MinTS     time.Time  `json:"min_ts"`
	MaxTS     time.Time  `json:"max_ts"`
	Size      int64      `json:"size"`
	SHA256    string     `json:"sha256"` // lower-case hex of the file's SHA-256
	RowGroups []RowGroup `json:"row_groups"`
	// FooterCRC32C (Castagnoli) covers the bytes after the last row group
	// (Parquet footer, its length, the magic), checked like a row group's.
	// Nil in manifests written before it existed.
	FooterCRC32C *uint32 `json:"footer_crc32c,omitempty"`
	// Symbols and Providers present in the partition, sorted and distinct,
	// so the dataset's lists stay exact when a merge replaces every row of
	// a provider in one partition.
	Symbols   []string `json:"symbols,omitempty"`
	Providers []string `json:"providers,omitempty"`
}

// RowGroup locates one Parquet row group inside its partition file and
// records the byte length of its CSV rendering (rows only, no header).
type RowGroup struct {
	Offset    int64 `json:"offset"`
	Length    int64 `json:"length"`
	Rows      int64 `json:"rows"`
	CSVLength int64 `json:"csv_length"`
	// CRC32C (Castagnoli) of the bytes [Offset, Offset+Length), checked by
	// every read before the bytes are decoded or served. Nil in manifests
	// written before it existed: their row groups are read unchecked.
	CRC32C *uint32 `json:"crc32c,omitempty"`
}

// FileSize returns the canonical bytes of the version: the sum of its
// partition file sizes.
func (m *Manifest) FileSize() int64 {
	var n int64
	for i := range m.Partitions {
		n += m.Partitions[i].Size
	}
	return n
}

// checksumPrefix starts the Checksum value.
const checksumPrefix = "sha256:"

// checksumTail is how an encoded manifest ends when Checksum is "" (before
// Encode's final newline): MarshalIndent puts the last field on its own line.
const checksumTail = "\n  \"checksum\": \"\"\n}"

// Encode sets m.FormatVersion to the format m needs (manifestFormat),
// validates m, sets m.Checksum and returns the manifest as indented JSON
// ending in a newline. Times are written in UTC and nil slices as [].
func Encode(m *Manifest) ([]byte, error) {
	if m.FormatVersion == FormatVersion || m.FormatVersion == FormatMultiFile {
		m.FormatVersion = manifestFormat(m)
	}
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := CheckLimits(m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return encode(m)
}

// encode is Encode without validation.
func encode(m *Manifest) ([]byte, error) {
	c := *m
	c.Checksum = ""
	c.CommittedAt = c.CommittedAt.UTC()
	c.Symbols = nonNil(c.Symbols)
	c.Providers = nonNil(c.Providers)
	c.Settings.ProviderPreference = nonNil(c.Settings.ProviderPreference)
	c.Partitions = make([]Partition, len(m.Partitions))
	for i, p := range m.Partitions {
		p.MinTS, p.MaxTS = p.MinTS.UTC(), p.MaxTS.UTC()
		p.RowGroups = nonNil(p.RowGroups)
		c.Partitions[i] = p
	}
	data, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !bytes.HasSuffix(data, []byte(checksumTail)) {
		return nil, fmt.Errorf("%w: encoding does not end with the checksum field", ErrInvalid)
	}
	sum := sha256.Sum256(data)
	m.Checksum = checksumPrefix + hex.EncodeToString(sum[:])
	out := make([]byte, 0, len(data)+len(m.Checksum)+1)
	out = append(out, data[:len(data)-len(checksumTail)]...)
	out = append(out, "\n  \"checksum\": \""...)
	out = append(out, m.Checksum...)
	out = append(out, "\"\n}\n"...)
	return out, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Decode parses and validates a manifest written by Encode. Every failure
// wraps ErrCorrupt; an unknown format version also wraps ErrUnsupportedFormat.
func Decode(data []byte) (*Manifest, error) {
	m := new(Manifest)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if m.FormatVersion != FormatVersion && m.FormatVersion != FormatMultiFile {
		if m.FormatVersion > FormatMultiFile {
			return nil, fmt.Errorf("%w: %w: manifest format %d, this bcfs reads up to %d", ErrCorrupt, ErrUnsupportedFormat, m.FormatVersion, FormatMultiFile)
		}
		return nil, fmt.Errorf("%w: format_version %d", ErrCorrupt, m.FormatVersion)
	}
	if err := verifyChecksum(data, m.Checksum); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := validate(m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return m, nil
}

// verifyChecksum recomputes the checksum over data with the checksum value
// cut out, which is exactly what Encode hashed. Hashing the bytes as stored
// (rather than re-encoding the decoded struct) detects any change and costs
// no second encoding.
func verifyChecksum(data []byte, want string) error {
	const lenSum = len(checksumPrefix) + 2*sha256.Size
	if len(want) != lenSum || !strings.HasPrefix(want, checksumPrefix) {
		return fmt.Errorf("checksum %q is not sha256:<64 hex>", want)
	}
	body := bytes.TrimSuffix(data, []byte("\n"))
	tail := "\n  \"checksum\": \"" + want + "\"\n}"
	if !bytes.HasSuffix(body, []byte(tail)) {
		return errors.New("checksum field is not where Encode writes it")
	}
	h := sha256.New()
	h.Write(body[:len(body)-len(tail)])
	h.Write([]byte(checksumTail))
	var sum [sha256.Size]byte
	if got := checksumPrefix + hex.EncodeToString(h.Sum(sum[:0])); got != want {
		return fmt.Errorf("checksum mismatch: content hashes to %s, manifest says %s", got, want)
	}
	return nil
}

// validate checks the invariants every committed manifest holds.
func validate(m *Manifest) error {
	if m.FormatVersion != FormatVersion && m.FormatVersion != FormatMultiFile {
		return fmt.Errorf("format_version %d, want %d or %d", m.FormatVersion, FormatVersion, FormatMultiFile)
	}
	if err := CheckName(m.Dataset); err != nil {
		return err
	}
	if m.Version <= 0 {
		return fmt.Errorf("version %d, want > 0", m.Version)
	}
	if m.Parent < 0 || m.Parent >= m.Version {
		return fmt.Errorf("parent %d of version %d, want 0 <= parent < version", m.Parent, m.Version)
	}
	if err := m.Schema.Validate(); err != nil {
		return err
	}
	if err := m.Settings.validateEnums(); err != nil {
		return err
	}
	if m.RowCount < 0 || m.CSVSize < 0 || m.ParquetSize < 0 || m.OHLCWarnings < 0 {
		return fmt.Errorf("negative count: rows %d, csv_size %d, parquet_size %d, ohlc_warnings %d",
			m.RowCount, m.CSVSize, m.ParquetSize, m.OHLCWarnings)
	}
	if !sortedDistinct(m.Symbols) {
		return errors.New("symbols are not sorted and distinct")
	}
	if !sortedDistinct(m.Providers) {
		return errors.New("providers are not sorted and distinct")
	}
	var rows int64
	for i := range m.Partitions {
		p := &m.Partitions[i]
		if i > 0 {
			q := &m.Partitions[i-1]
			switch {
			case q.Key > p.Key:
				return fmt.Errorf("partition %q follows %q: keys not sorted", p.Key, q.Key)
			case q.Key == p.Key && m.FormatVersion == FormatVersion:
				return fmt.Errorf("partition %q follows %q: keys not sorted and unique (format %d)", p.Key, q.Key, FormatVersion)
			case q.Key == p.Key && !q.MaxTS.Before(p.MinTS):
				return fmt.Errorf("partition %q: file %s [%s, %s] does not follow %s (max %s): files of a key must be in time order without overlap",
					p.Key, p.Path, p.MinTS.UTC().Format(time.RFC3339Nano), p.MaxTS.UTC().Format(time.RFC3339Nano), q.Path, q.MaxTS.UTC().Format(time.RFC3339Nano))
			case q.Key == p.Key && q.Path == p.Path:
				return fmt.Errorf("partition %q: file %s listed twice", p.Key, p.Path)
			}
		}
		if err := validatePartition(p, m.Settings.Granularity); err != nil {
			return fmt.Errorf("partition %q: %w", p.Key, err)
		}
		rows += p.Rows
		if rows < 0 {
			return errors.New("row count overflows")
		}
	}
	if rows != m.RowCount {
		return fmt.Errorf("partitions hold %d rows, row_count says %d", rows, m.RowCount)
	}
	return nil
}

func validatePartition(p *Partition, granularity string) error {
	if g, err := keyGranularity(p.Key); err != nil {
		return err
	} else if g != granularity {
		return fmt.Errorf("key granularity %s, dataset granularity %s", g, granularity)
	}
	if err := checkRelPath(p.Path); err != nil {
		return fmt.Errorf("path: %w", err)
	}
	if path.Dir(p.Path) != p.Key || path.Ext(p.Path) != ".parquet" {
		return fmt.Errorf("path %q is not %s/<name>.parquet", p.Path, p.Key)
	}
	if p.Rows <= 0 || p.Size <= 0 {
		return fmt.Errorf("rows %d, size %d: want > 0", p.Rows, p.Size)
	}
	if p.MaxTS.Before(p.MinTS) {
		return fmt.Errorf("max_ts %s before min_ts %s", p.MaxTS, p.MinTS)
	}
	if len(p.SHA256) != 2*sha256.Size || !isLowerHex(p.SHA256) {
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", p.SHA256)
	}
	var rows, end int64
	for j, rg := range p.RowGroups {
		// Row groups are laid out one after the other in a Parquet file;
		// the subtraction form avoids overflow on hostile values.
		if rg.Offset < end || rg.Length <= 0 || rg.Offset > p.Size-rg.Length {
			return fmt.Errorf("row group %d [%d,+%d) not inside the file (size %d) after the previous one", j, rg.Offset, rg.Length, p.Size)
		}
		if rg.Rows <= 0 || rg.CSVLength < 0 {
			return fmt.Errorf("row group %d: rows %d, csv_length %d", j, rg.Rows, rg.CSVLength)
		}
		end = rg.Offset + rg.Length
		rows += rg.Rows
		if rows > p.Rows {
			break
		}
	}
	if rows != p.Rows {
		return fmt.Errorf("row groups hold %d rows, partition says %d", rows, p.Rows)
	}
	return nil
}

func sortedDistinct(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkRelPath accepts clean, relative slash paths that stay inside their
// base folder.
func checkRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case strings.ContainsAny(p, "\x00\\"):
		return fmt.Errorf("%q contains NUL or backslash", p)
	case path.IsAbs(p):
		return fmt.Errorf("%q is absolute", p)
	case path.Clean(p) != p:
		return fmt.Errorf("%q is not clean", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%q escapes its folder", p)
	}
	return nil
}
