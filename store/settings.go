package store

import (
	"context"
	"errors"
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
	mu := s.lockDataset(name)
	defer mu.Unlock()
	head, err := s.head(name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return metastore.Settings{}, nil, err
	}
	cur := metastore.DefaultSettings()
	if head != nil {
		cur = head.Settings
	}
	next, err := applySettings(cur, ch)
	if err != nil {
		return cur, nil, err
	}
	if head != nil && settingsEqual(cur, next) {
		return cur, &IngestResult{Dataset: name, Version: head.Version}, nil
	}
	rewrite := head != nil && len(head.Partitions) > 0 &&
		(next.Dedup != cur.Dedup || next.Granularity != cur.Granularity)
	var res *IngestResult
	if rewrite {
		res, err = s.rewrite(ctx, name, head, next)
	} else {
		res, err = s.commitSettings(name, head, next)
	}
	if err != nil {
		return cur, nil, err
	}
	s.notify(name)
	return next, res, nil
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

// commitSettings commits a version that differs from head only in settings
// (or creates an empty dataset).
func (s *Store) commitSettings(name string, head *metastore.Manifest, next metastore.Settings) (*IngestResult, error) {
	dir := s.datasetDir(name)
	for attempt := 0; attempt < maxCommitAttempts; attempt++ {
		var m metastore.Manifest
		var headVersion int64
		if head != nil {
			headVersion = head.Version
		}
		nextVersion, err := metastore.NextVersion(s.fs, dir, headVersion)
		if errors.Is(err, metastore.ErrConflict) {
			if head, err = metastore.Head(s.fs, dir); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if head != nil {
			m = *head
			m.Parent = head.Version
			m.Version = nextVersion
		} else {
			m = metastore.Manifest{FormatVersion: 1, Dataset: name, Version: nextVersion,
				Schema: formats.BaseSchema(formats.TypeInt64)}
			m.CSVSize = int64(len(formats.AppendCSVHeader(nil, m.Schema)))
			size, err := s.parquetViewSize(dir, &m)
			if err != nil {
				return nil, err
			}
			m.ParquetSize = size
		}
		if next.Granularity == "" {
			next.Granularity = granYear
		}
		m.Settings, m.Source, m.Report = next, "settings", nil
		m.CommittedAt = time.Now().UTC().Truncate(time.Millisecond)
		if err := s.fs.MkdirAll(dir+"/_log", 0o755); err != nil {
			return nil, err
		}
		err = metastore.Commit(s.fs, dir, &m)
		if err == nil {
			s.mu.Lock()
			s.heads[name] = &m
			s.mu.Unlock()
			return &IngestResult{Dataset: name, Version: m.Version, Committed: true}, nil
		}
		if !errors.Is(err, metastore.ErrConflict) {
			return nil, err
		}
		if head, err = metastore.Head(s.fs, dir); err != nil {
			return nil, err
		}
		next.Granularity = head.Settings.Granularity
	}
	return nil, fmt.Errorf("settings of %s: too many concurrent commits", name)
}

// rewrite re-merges every stored row under new settings.
func (s *Store) rewrite(ctx context.Context, name string, head *metastore.Manifest, next metastore.Settings) (*IngestResult, error) {
	dir := s.datasetDir(name)
	if next.Granularity == "" {
		next.Granularity = head.Settings.Granularity
	}
	strategy, err := dedupmerge.ParseStrategy(next.Dedup)
	if err != nil {
		return nil, err
	}
	p := &plan{name: name, dir: dir, opt: IngestOptions{Source: "settings"}, head: head, settings: next,
		policy: dedupmerge.Policy{Strategy: strategy, Preference: next.ProviderPreference}, replaceAll: true}
	src := &partitionSource{s: s, dir: dir, m: head}
	res, m, written, err := s.build(ctx, p, src, func() formats.Stats { return formats.Stats{Rows: src.rows} })
	if err == nil {
		err = s.publish(name, m)
	}
	if err != nil {
		s.removeFiles(dir, written)
		if errors.Is(err, metastore.ErrConflict) {
			return nil, fmt.Errorf("settings of %s: another writer committed meanwhile; run it again: %w", name, err)
		}
		return nil, err
	}
	res.Version, res.Committed = m.Version, true
	return res, nil
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
