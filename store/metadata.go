package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"bcfs/metastore"
)

// Fixed documents of .metadata/.
const (
	DocIndex   = "index.json"
	DocSummary = "summary.json"
	DocCache   = "cache.json"
)

// MetadataNames lists the documents of .metadata/: the fixed ones, then
// "<dataset>.json" for each dataset (with its folder path), sorted.
func (s *Store) MetadataNames() ([]string, error) {
	ents, err := s.List()
	if err != nil {
		return nil, err
	}
	out := []string{DocCache, DocIndex, DocSummary}
	for _, e := range ents {
		out = append(out, e.Name+".json")
	}
	return out, nil
}

// MetadataDoc renders one .metadata/ document as indented JSON.
func (s *Store) MetadataDoc(name string) ([]byte, error) {
	var v any
	switch name {
	case DocIndex, DocSummary:
		heads, err := s.headManifests()
		if err != nil {
			return nil, err
		}
		if name == DocIndex {
			v = metastore.NewIndex(heads)
		} else {
			v = metastore.NewSummary(heads)
		}
	case DocCache:
		v = s.chunks.Stats()
	default:
		ds, ok := strings.CutSuffix(name, ".json")
		if !ok {
			return nil, fmt.Errorf("metadata %q: %w", name, ErrNotFound)
		}
		m, err := s.head(ds)
		if err != nil {
			if errors.Is(err, ErrInvalidName) {
				return nil, fmt.Errorf("metadata %q: %w", name, ErrNotFound)
			}
			return nil, err
		}
		le, err := metastore.ReadLastError(s.fs, s.datasetDir(ds))
		if err != nil {
			return nil, err
		}
		doc := metastore.NewDatasetDoc(m, le)
		doc.Filepath = ds
		v = doc
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// headManifests returns the head manifest of every dataset, sorted by name.
func (s *Store) headManifests() ([]*metastore.Manifest, error) {
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	out := make([]*metastore.Manifest, 0, len(names))
	for _, n := range names {
		m, err := s.head(n)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// The index is keyed by the name the dataset has now, which a
		// rename may have changed since the manifest was written.
		c := *m
		c.Dataset = n
		out = append(out, &c)
	}
	return out, nil
}
