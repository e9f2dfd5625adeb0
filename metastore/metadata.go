package metastore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"bcfs/formats"
)

// DatasetDoc is .metadata/<dataset>.json: the BC-Utils dataset metadata,
// derived from the head manifest (never stored on its own).
type DatasetDoc struct {
	Filepath             string          `json:"filepath"` // the dataset name
	RowCount             int64           `json:"row_count"`
	ColumnCount          int             `json:"column_count"`
	Columns              formats.Schema  `json:"columns"`   // [{name, type}]
	FileSize             int64           `json:"file_size"` // canonical bytes: sum of partition sizes
	CSVSize              int64           `json:"csv_size"`
	ParquetSize          int64           `json:"parquet_size"`
	LastModified         time.Time       `json:"last_modified"`
	Checksum             string          `json:"checksum"`        // see DataChecksum
	FirstTimestamp       *time.Time      `json:"first_timestamp"` // null when empty
	LastTimestamp        *time.Time      `json:"last_timestamp"`
	Symbols              []string        `json:"symbols"`
	Providers            []string        `json:"providers"`
	Version              int64           `json:"version"`
	Partitions           int             `json:"partitions"`      // time buckets
	PartitionFiles       int             `json:"partition_files"` // files (appends add some until compaction)
	PartitionGranularity string          `json:"partition_granularity"`
	Settings             Settings        `json:"settings"`
	OHLCWarnings         int64           `json:"ohlc_warnings"`
	LastIngest           json.RawMessage `json:"last_ingest"` // the report of the ingest that made the version
	LastError            *LastError      `json:"last_error"`
}

// NewDatasetDoc builds the metadata document of a head manifest and the
// dataset's last failed ingest (nil if none).
func NewDatasetDoc(m *Manifest, lastErr *LastError) DatasetDoc {
	d := DatasetDoc{
		Filepath:             m.Dataset,
		RowCount:             m.RowCount,
		ColumnCount:          len(m.Schema),
		Columns:              m.Schema,
		FileSize:             m.FileSize(),
		CSVSize:              m.CSVSize,
		ParquetSize:          m.ParquetSize,
		LastModified:         m.CommittedAt.UTC(),
		Checksum:             DataChecksum(m),
		Symbols:              nonNil(m.Symbols),
		Providers:            nonNil(m.Providers),
		Version:              m.Version,
		Partitions:           partitionKeys(m),
		PartitionFiles:       len(m.Partitions),
		PartitionGranularity: m.Settings.Granularity,
		Settings:             m.Settings,
		OHLCWarnings:         m.OHLCWarnings,
		LastIngest:           m.Report,
		LastError:            lastErr,
	}
	if n := len(m.Partitions); n > 0 {
		// Partition files are sorted by time bucket, then time, and never
		// overlap, so the first and last hold the extremes.
		first, last := m.Partitions[0].MinTS.UTC(), m.Partitions[n-1].MaxTS.UTC()
		d.FirstTimestamp, d.LastTimestamp = &first, &last
	}
	if len(d.LastIngest) == 0 {
		d.LastIngest = json.RawMessage("null")
	}
	return d
}

// DataChecksum identifies a version's data: "sha256:<hex>" over the
// partitions' SHA-256 hex digests in order, each followed by "\n". It changes
// exactly when the canonical bytes change.
func DataChecksum(m *Manifest) string {
	h := sha256.New()
	for i := range m.Partitions {
		h.Write([]byte(m.Partitions[i].SHA256))
		h.Write([]byte{'\n'})
	}
	return checksumPrefix + hex.EncodeToString(h.Sum(nil))
}

// IndexEntry is one dataset in index.json.
type IndexEntry struct {
	RowCount    int64     `json:"row_count"`
	FileSize    int64     `json:"file_size"`
	LastUpdated time.Time `json:"last_updated"`
	Version     int64     `json:"version"`
}

// IndexDoc is .metadata/index.json: dataset name -> entry. encoding/json
// writes map keys sorted, so the document is deterministic.
type IndexDoc map[string]IndexEntry

// NewIndex builds index.json from the head manifests of all datasets.
func NewIndex(heads []*Manifest) IndexDoc {
	idx := make(IndexDoc, len(heads))
	for _, m := range heads {
		idx[m.Dataset] = IndexEntry{
			RowCount:    m.RowCount,
			FileSize:    m.FileSize(),
			LastUpdated: m.CommittedAt.UTC(),
			Version:     m.Version,
		}
	}
	return idx
}

// SummaryDoc is .metadata/summary.json, the BC-Utils storage summary.
// OldestFile and NewestFile name the datasets updated least and most
// recently ("" and null times when the store is empty).
type SummaryDoc struct {
	TotalFiles     int64      `json:"total_files"`
	TotalSizeBytes int64      `json:"total_size_bytes"`
	TotalRows      int64      `json:"total_rows"`
	OldestFile     string     `json:"oldest_file"`
	NewestFile     string     `json:"newest_file"`
	OldestUpdate   *time.Time `json:"oldest_update"`
	NewestUpdate   *time.Time `json:"newest_update"`
}

// NewSummary builds summary.json from the head manifests of all datasets.
// Ties in update time go to the smaller name, so the result does not depend
// on the order of heads.
func NewSummary(heads []*Manifest) SummaryDoc {
	var s SummaryDoc
	var oldest, newest *Manifest
	for _, m := range heads {
		s.TotalFiles++
		s.TotalSizeBytes += m.FileSize()
		s.TotalRows += m.RowCount
		if oldest == nil || m.CommittedAt.Before(oldest.CommittedAt) ||
			(m.CommittedAt.Equal(oldest.CommittedAt) && m.Dataset < oldest.Dataset) {
			oldest = m
		}
		if newest == nil || m.CommittedAt.After(newest.CommittedAt) ||
			(m.CommittedAt.Equal(newest.CommittedAt) && m.Dataset < newest.Dataset) {
			newest = m
		}
	}
	if oldest != nil {
		o, n := oldest.CommittedAt.UTC(), newest.CommittedAt.UTC()
		s.OldestFile, s.OldestUpdate = oldest.Dataset, &o
		s.NewestFile, s.NewestUpdate = newest.Dataset, &n
	}
	return s
}

// LastError records one failed write (an ingest that changed no data). It
// is not a version. File, Line, Column, ColumnName and Value locate the bad
// cell when the error did (0 and "" otherwise); Error is the whole message.
type LastError struct {
	Time       time.Time `json:"time"`
	Dataset    string    `json:"dataset,omitempty"`
	Source     string    `json:"source"` // the name the writer used ("ES.csv", a path)
	File       string    `json:"file"`
	Line       int64     `json:"line,omitempty"`
	Column     int       `json:"column,omitempty"`
	ColumnName string    `json:"column_name,omitempty"`
	Value      string    `json:"value,omitempty"`
	Error      string    `json:"error"`
}

// Bounds of one recorded failure, so that the failure log stays small
// whatever the input held.
const (
	maxFailureValue = 256
	maxFailureError = 4096
)

func (e *LastError) clip() {
	e.Value = clipString(e.Value, maxFailureValue)
	e.Error = clipString(e.Error, maxFailureError)
}

func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// WriteLastError replaces the dataset's _last_error.json atomically (temp
// file, fsync, rename, fsync of the folder); a nil e removes it. The dataset
// dir must exist.
func WriteLastError(fsys FS, dir string, e *LastError) error {
	name := filepath.Join(dir, LastErrorFile)
	if e == nil {
		if err := fsys.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	c := *e
	c.clip()
	data, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return err
	}
	return replaceFile(fsys, name, append(data, '\n'))
}

// ReadLastError returns the dataset's last failed ingest, or nil, nil.
func ReadLastError(fsys FS, dir string) (*LastError, error) {
	name := filepath.Join(dir, LastErrorFile)
	data, err := readFile(fsys, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := new(LastError)
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", name, ErrCorrupt, err)
	}
	return e, nil
}

// FailuresDir is the store's log of failed writes: one small JSON file per
// failure, "<20-digit unix nanoseconds>-<uuid>.json", so that concurrent
// writers (mounts, CLI processes) never rewrite each other's entries and the
// names sort by time. AppendFailure keeps only the newest ones.
const FailuresDir = "errors"

// MaxFailures is how many failures the store keeps.
const MaxFailures = 100

// AppendFailure records e in the store's failure log under root and removes
// all but the newest keep entries.
func AppendFailure(fsys FS, root string, e *LastError, keep int) error {
	dir := filepath.Join(root, FailuresDir)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c := *e
	c.clip()
	data, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%0*d-%s.json", manifestDigits, c.Time.UnixNano(), uuid.NewString())
	if err := replaceFile(fsys, filepath.Join(dir, name), append(data, '\n')); err != nil {
		return err
	}
	names, err := failureNames(fsys, dir)
	if err != nil {
		return err
	}
	for _, n := range names[:max(0, len(names)-keep)] {
		if err := fsys.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// failureNames lists the entries of the failure log, oldest first.
func failureNames(fsys FS, dir string) ([]string, error) {
	ents, err := fsys.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && !strings.HasPrefix(n, tempPrefix) && strings.HasSuffix(n, ".json") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// FailureNames lists the entries of the store's failure log under root,
// oldest first.
func FailureNames(fsys FS, root string) ([]string, error) {
	return failureNames(fsys, filepath.Join(root, FailuresDir))
}

// ReadFailure reads one entry of the failure log; nil, nil when it was
// removed meanwhile or does not decode.
func ReadFailure(fsys FS, root, name string) (*LastError, error) {
	data, err := readFile(fsys, filepath.Join(root, FailuresDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // pruned by another writer
	}
	if err != nil {
		return nil, err
	}
	e := new(LastError)
	if json.Unmarshal(data, e) != nil {
		return nil, nil
	}
	return e, nil
}

// ReadFailures returns the store's recorded failures, oldest first. An entry
// removed or damaged meanwhile is left out.
func ReadFailures(fsys FS, root string) ([]LastError, error) {
	names, err := FailureNames(fsys, root)
	if err != nil {
		return nil, err
	}
	out := make([]LastError, 0, len(names))
	for _, n := range names {
		e, err := ReadFailure(fsys, root, n)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

// partitionKeys counts the distinct partition keys of m.
func partitionKeys(m *Manifest) int {
	n := 0
	for i := range m.Partitions {
		if i == 0 || m.Partitions[i].Key != m.Partitions[i-1].Key {
			n++
		}
	}
	return n
}
