package metastore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Defaults of Recover.
const (
	DefaultKeep  = 10
	DefaultGrace = 10 * time.Minute
)

// Recover cleans a dataset dir and returns the removed paths (OS paths).
//
// It keeps the manifests of the last keep versions (keep < 1 means
// DefaultKeep) and removes older ones. It removes temp files in _log and the
// dataset dir, and partition files referenced by none of the kept manifests
// and not in pinned (slash paths relative to the dataset dir, as in
// Partition.Path, used by open snapshots). Only files whose modification time
// is older than grace (grace <= 0 means DefaultGrace) are removed, so the
// in-flight commits of other processes are never touched. Only names the
// store generates are candidates (partition folders year=/month=/day= holding
// <uuid>.parquet); anything else is never removed.
//
// If any manifest newer than the oldest kept one does not decode, partition
// files and manifests are left alone (their references cannot be known) and
// the error wraps ErrCorrupt; temp files are still removed.
func Recover(fsys FS, dir string, keep int, grace time.Duration, pinned map[string]bool) ([]string, error) {
	if keep < 1 {
		keep = DefaultKeep
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	cutoff := time.Now().Add(-grace)
	var removed []string
	remove := func(name string) error {
		if err := fsys.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		removed = append(removed, name)
		return nil
	}
	if err := removeTemps(fsys, dir, cutoff, remove); err != nil {
		return removed, err
	}

	vs, err := Versions(fsys, dir)
	if err != nil {
		return removed, err
	}
	referenced := map[string]bool{}
	kept := 0
	oldestKept := len(vs)
	for i := len(vs) - 1; i >= 0 && kept < keep; i-- {
		m, err := Load(fsys, dir, vs[i])
		if err != nil {
			return removed, fmt.Errorf("recover %s: partition GC skipped: %w", dir, err)
		}
		addRefs(referenced, m)
		kept++
		oldestKept = i
	}
	if kept == 0 {
		return removed, nil // no versions: nothing is known to be garbage
	}

	candidates, err := partitionFiles(fsys, dir, cutoff)
	if err != nil {
		return removed, err
	}
	// A commit by another process may have landed while we listed: its
	// manifest can reference files we already saw (carried over from its
	// parent), so take its references too before removing anything.
	now, err := Versions(fsys, dir)
	if err != nil {
		return removed, err
	}
	for _, v := range now {
		if v <= vs[len(vs)-1] {
			continue
		}
		m, err := Load(fsys, dir, v)
		if err != nil {
			return removed, fmt.Errorf("recover %s: partition GC skipped: %w", dir, err)
		}
		addRefs(referenced, m)
	}
	// Old manifests go first: a crash halfway then never leaves a manifest
	// that names a removed file.
	for _, v := range vs[:oldestKept] {
		if err := remove(filepath.Join(dir, filepath.FromSlash(ManifestName(v)))); err != nil {
			return removed, err
		}
	}
	for _, rel := range candidates {
		if referenced[rel] || pinned[rel] {
			continue
		}
		if err := remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

func addRefs(referenced map[string]bool, m *Manifest) {
	for i := range m.Partitions {
		referenced[m.Partitions[i].Path] = true
	}
}

// removeTemps removes the temp files of interrupted commits and
// WriteLastError calls.
func removeTemps(fsys FS, dir string, cutoff time.Time, remove func(string) error) error {
	for _, d := range []string{filepath.Join(dir, LogDir), dir} {
		entries, err := fsys.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !isTempName(e.Name()) {
				continue
			}
			if old, err := olderThan(e, cutoff); err != nil {
				return err
			} else if old {
				if err := remove(filepath.Join(d, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// isTempName matches ".tmp-<uuid>" followed by an extension.
func isTempName(name string) bool {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok || len(rest) < 36 {
		return false
	}
	_, err := uuid.Parse(rest[:36])
	return err == nil && strings.HasPrefix(rest[36:], ".")
}

// partitionFiles lists partition files older than cutoff as slash paths
// relative to dir. It descends only into partition folders, so datasets
// nested in this one ("yahoo/AAPL" inside "yahoo") are never scanned.
func partitionFiles(fsys FS, dir string, cutoff time.Time) ([]string, error) {
	var out []string
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := fsys.ReadDir(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		for _, e := range entries {
			child := path.Join(rel, e.Name())
			if e.IsDir() {
				if _, err := keyGranularity(child); err == nil {
					if err := walk(child); err != nil {
						return err
					}
				}
				continue
			}
			if rel == "" || !e.Type().IsRegular() || !isPartitionFileName(e.Name()) {
				continue
			}
			if old, err := olderThan(e, cutoff); err != nil {
				return err
			} else if old {
				out = append(out, child)
			}
		}
		return nil
	}
	return out, walk("")
}

func isPartitionFileName(name string) bool {
	id, ok := strings.CutSuffix(name, ".parquet")
	if !ok || len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil
}

func olderThan(e os.DirEntry, cutoff time.Time) (bool, error) {
	fi, err := e.Info()
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // removed meanwhile
	}
	if err != nil {
		return false, err
	}
	return fi.ModTime().Before(cutoff), nil
}
