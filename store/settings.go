package store

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"bcfs/dedupmerge"
	"bcfs/formats"
	"bcfs/metastore"
)

// SettingsChange lists settings to change; empty fields stay as they are.
type SettingsChange struct {
	Dedup              string
	ProviderPreference []string
	Partition          string // auto|year|month|day
	Timezone           string
	OHLCCheck          string // reject|warn
}

// UpdateSettings changes a dataset's settings as a new version, creating an
// empty dataset if it does not exist. Changing the dedup strategy or the
// partition granularity rewrites the stored rows under the new setting (a
// coarser dedup key can merge rows; the report says how many).
func (s *Store) UpdateSettings(ctx context.Context, name string, ch SettingsChange) (metastore.Settings, *IngestResult, error) {
	if s.opt.ReadOnly {
		return metastore.Settings{}, nil, ErrReadOnly
	}
	if err := ValidName(name); err != nil {
		return metastore.Settings{}, nil, err
	}
	var cur, next metastore.Settings
	var res *IngestResult
	m, err := s.Update(ctx, name, func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		cur = metastore.DefaultSettings()
		if head != nil {
			cur = head.Settings
		}
		var err error
		if next, err = applySettings(cur, ch); err != nil {
			return nil, nil, err
		}
		if head != nil && settingsEqual(cur, next) {
			res = &IngestResult{Dataset: name, Version: head.Version}
			return nil, nil, nil
		}
		if head != nil && len(head.Partitions) > 0 &&
			(next.Dedup != cur.Dedup || next.Granularity != cur.Granularity) {
			r, m, written, err := s.rewrite(ctx, name, head, next)
			res = r
			return m, written, err
		}
		res = &IngestResult{Dataset: name}
		m, err := s.settingsManifest(name, head, next)
		return m, nil, err
	})
	if err != nil && m == nil {
		return cur, nil, err
	}
	if m != nil {
		res.Version, res.Committed = m.Version, true
		next = m.Settings
	}
	return next, res, err
}

func settingsEqual(a, b metastore.Settings) bool {
	return a.Dedup == b.Dedup && slices.Equal(a.ProviderPreference, b.ProviderPreference) &&
		a.Partition == b.Partition && a.Granularity == b.Granularity &&
		a.Timezone == b.Timezone && a.OHLCCheck == b.OHLCCheck
}

func applySettings(cur metastore.Settings, ch SettingsChange) (metastore.Settings, error) {
	next := cur
	next.ProviderPreference = slices.Clone(cur.ProviderPreference)
	if ch.Dedup != "" {
		if _, err := dedupmerge.ParseStrategy(ch.Dedup); err != nil {
			return cur, badInput(err)
		}
		next.Dedup = ch.Dedup
	}
	if ch.ProviderPreference != nil {
		next.ProviderPreference = nil
		for _, p := range ch.ProviderPreference {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
				next.ProviderPreference = append(next.ProviderPreference, p)
			}
		}
	}
	switch ch.Partition {
	case "":
	case "auto":
		next.Partition = "auto"
	case granYear, granMonth, granDay:
		next.Partition, next.Granularity = ch.Partition, ch.Partition
	default:
		return cur, badInput(fmt.Errorf("partition %q: want auto, year, month or day", ch.Partition))
	}
	if ch.Timezone != "" {
		if _, err := time.LoadLocation(ch.Timezone); err != nil {
			return cur, badInput(fmt.Errorf("timezone %q: %w", ch.Timezone, err))
		}
		next.Timezone = ch.Timezone
	}
	switch ch.OHLCCheck {
	case "":
	case string(formats.OHLCReject), string(formats.OHLCWarn):
		next.OHLCCheck = ch.OHLCCheck
	default:
		return cur, badInput(fmt.Errorf("ohlc check %q: want reject or warn", ch.OHLCCheck))
	}
	return next, nil
}

// settingsManifest returns a version that differs from head only in
// settings (or an empty dataset when head is nil).
func (s *Store) settingsManifest(name string, head *metastore.Manifest, next metastore.Settings) (*metastore.Manifest, error) {
	var m metastore.Manifest
	if head != nil {
		m = *head
		m.CommittedAt = time.Time{}
		if next.Granularity == "" {
			next.Granularity = head.Settings.Granularity
		}
	} else {
		m = metastore.Manifest{Schema: formats.BaseSchema(formats.TypeInt64)}
		m.CSVSize = int64(len(formats.AppendCSVHeader(nil, m.Schema)))
		size, err := s.parquetViewSize(s.datasetDir(name), &m)
		if err != nil {
			return nil, err
		}
		m.ParquetSize = size
	}
	if next.Granularity == "" {
		next.Granularity = granYear
	}
	m.Settings, m.Source, m.Report, m.Checksum = next, "settings", nil, ""
	m.CSVSize = csvViewSize(&m)
	return &m, nil
}

// rewrite re-merges every stored row of head under new settings.
func (s *Store) rewrite(ctx context.Context, name string, head *metastore.Manifest, next metastore.Settings) (*IngestResult, *metastore.Manifest, []string, error) {
	dir := s.datasetDir(name)
	if next.Granularity == "" {
		next.Granularity = head.Settings.Granularity
	}
	strategy, err := dedupmerge.ParseStrategy(next.Dedup)
	if err != nil {
		return nil, nil, nil, err
	}
	p := &plan{name: name, dir: dir, opt: IngestOptions{Source: "settings"}, head: head, settings: next,
		policy: dedupmerge.Policy{Strategy: strategy, Preference: next.ProviderPreference}, replaceAll: true}
	src := &partitionSource{s: s, dir: dir, m: head}
	return s.build(ctx, p, src, func() formats.Stats { return formats.Stats{Rows: src.rows} })
}

// partitionSource reads the stored partitions of a version, row group by
// row group.
type partitionSource struct {
	s    *Store
	dir  string
	m    *metastore.Manifest
	part int
	pr   *formats.PartitionReader
	f    metastore.File
	rg   int
	rows int64
}

func (ps *partitionSource) Schema() formats.Schema { return ps.m.Schema }

func (ps *partitionSource) Next() (*formats.Batch, error) {
	for {
		if ps.pr != nil && ps.rg < ps.pr.NumRowGroups() {
			b, err := ps.pr.ReadRowGroup(ps.rg)
			ps.rg++
			if err != nil {
				return nil, err
			}
			ps.rows += int64(b.Len())
			return formats.Conform(b, ps.m.Schema)
		}
		if ps.f != nil {
			ps.f.Close()
			ps.f, ps.pr = nil, nil
		}
		if ps.part >= len(ps.m.Partitions) {
			return nil, io.EOF
		}
		pt := ps.m.Partitions[ps.part]
		ps.part++
		f, err := ps.s.fs.Open(filepath.Join(ps.dir, filepath.FromSlash(pt.Path)))
		if err != nil {
			return nil, err
		}
		pr, err := formats.OpenPartition(f, pt.Size)
		if err != nil {
			f.Close()
			return nil, err
		}
		ps.f, ps.pr, ps.rg = f, pr, 0
	}
}
