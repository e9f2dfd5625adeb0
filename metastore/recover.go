package metastore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// DefaultGrace is the grace period of Recover when none is given.
const DefaultGrace = 10 * time.Minute

// droppedPrefix starts the tombstone of a version retention dropped:
// _log/.dropped-<20 digits>.json holds the manifest as it was, written when
// the version was dropped. While a tombstone is younger than the grace
// period its partition files stay, so a reader or a rollback that loaded the
// manifest just before the drop still finds them.
const droppedPrefix = ".dropped-"

// GCOptions tune Collect.
type GCOptions struct {
	// Grace: only files older than this are removed (<= 0: DefaultGrace),
	// so the in-flight commits of other processes are never touched.
	Grace time.Duration
	// Pinned: partition files open snapshots read (slash paths relative
	// to the dataset dir, as in Partition.Path).
	Pinned map[string]bool
	// DryRun computes what would be removed and removes nothing.
	DryRun bool
	// Dropped (dry run only) lists versions to treat as dropped by
	// DropVersions at the given time, as if their tombstones existed.
	Dropped map[int64]time.Time
}

// GCResult says what Collect removed (or would remove).
type GCResult struct {
	Removed    []string `json:"removed"`    // OS paths
	Bytes      int64    `json:"bytes"`      // their total size
	Partitions int      `json:"partitions"` // how many were partition files
}

// Recover cleans a dataset dir after crashes and returns the removed paths
// (OS paths): Collect without a dry run. Every manifest is kept; versions
// only go through DropVersions, driven by an explicit retention policy.
func Recover(fsys FS, dir string, grace time.Duration, pinned map[string]bool) ([]string, error) {
	r, err := Collect(fsys, dir, GCOptions{Grace: grace, Pinned: pinned})
	return r.Removed, err
}

// Collect removes the garbage of a dataset dir: temp files of interrupted
// writes, partition files that no manifest and no young tombstone references
// and no open snapshot reads, and tombstones older than the grace period.
// Only files older than the grace period are removed, and only names the
// store generates (partition folders year=/month=/day= holding
// <uuid>.parquet, temp and tombstone names in _log); nothing else, ever.
//
// If any manifest does not decode, partition files are left alone (their
// references cannot be known) and the error wraps ErrCorrupt; temp files
// are still removed.
func Collect(fsys FS, dir string, opt GCOptions) (GCResult, error) {
	grace := opt.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	cutoff := time.Now().Add(-grace)
	var res GCResult
	remove := func(name string, size int64) error {
		if !opt.DryRun {
			if err := fsys.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		res.Removed = append(res.Removed, name)
		res.Bytes += size
		return nil
	}
	if err := removeTemps(fsys, dir, cutoff, remove); err != nil {
		return res, err
	}

	vs, err := Versions(fsys, dir)
	if err != nil || len(vs) == 0 {
		return res, err // no versions: nothing is known to be garbage
	}
	referenced := map[string]bool{}
	var pretendOld []sizedFile // dry run: tombstones DropVersions would write
	for _, v := range vs {
		m, err := Load(fsys, dir, v)
		if errors.Is(err, ErrNotFound) {
			continue // dropped by a concurrent cleanup: its tombstone counts
		}
		if err != nil {
			return res, fmt.Errorf("recover %s: partition GC skipped: %w", dir, err)
		}
		if at, ok := opt.Dropped[v]; ok && opt.DryRun && at.Before(cutoff) {
			data, _ := Encode(m)
			pretendOld = append(pretendOld, sizedFile{path: filepath.Join(dir, LogDir, droppedPrefix+manifestBase(v)), size: int64(len(data))})
			continue
		}
		addRefs(referenced, m)
	}
	oldTombs, err := tombstoneRefs(fsys, dir, cutoff, referenced)
	if err != nil {
		return res, err
	}

	candidates, err := partitionFiles(fsys, dir, cutoff)
	if err != nil {
		return res, err
	}
	// A commit by another process may have landed while we listed: its
	// manifest can reference files we already saw (carried over from its
	// parent), so take its references too before removing anything.
	now, err := Versions(fsys, dir)
	if err != nil {
		return res, err
	}
	for _, v := range now {
		if v <= vs[len(vs)-1] {
			continue
		}
		m, err := Load(fsys, dir, v)
		if err != nil {
			return res, fmt.Errorf("recover %s: partition GC skipped: %w", dir, err)
		}
		addRefs(referenced, m)
	}
	for _, c := range candidates {
		if referenced[c.rel] || opt.Pinned[c.rel] {
			continue
		}
		if err := remove(filepath.Join(dir, filepath.FromSlash(c.rel)), c.size); err != nil {
			return res, err
		}
		res.Partitions++
	}
	// Tombstones last: a crash before this leaves them for the next run.
	for _, t := range append(oldTombs, pretendOld...) {
		if err := remove(t.path, t.size); err != nil {
			return res, err
		}
	}
	return res, nil
}

type sizedFile struct {
	path string // OS path, or slash path relative to the dataset dir (rel)
	rel  string
	size int64
}

// tombstoneRefs adds the references of tombstones younger than cutoff and
// returns the older ones.
func tombstoneRefs(fsys FS, dir string, cutoff time.Time, referenced map[string]bool) ([]sizedFile, error) {
	logDir := filepath.Join(dir, LogDir)
	entries, err := fsys.ReadDir(logDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var old []sizedFile
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), droppedPrefix) {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p := filepath.Join(logDir, e.Name())
		if fi.ModTime().Before(cutoff) {
			old = append(old, sizedFile{path: p, size: fi.Size()})
			continue
		}
		data, err := readFile(fsys, p)
		if err != nil {
			return nil, err
		}
		m, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("recover %s: partition GC skipped: tombstone %s: %w", dir, e.Name(), err)
		}
		addRefs(referenced, m)
	}
	return old, nil
}

// DropVersions removes the given versions of a dataset (retention). First
// a tombstone holding each manifest is written (fsynced, renamed into _log),
// and _log fsynced; then the manifests are removed and _log fsynced again:
// a crash leaves every version either whole or tombstoned (or both, and the
// next run finishes). The head (the highest version that decodes) is never
// dropped. Their partition files are garbage for Collect once no other
// version references them and the tombstone is older than the grace period.
func DropVersions(fsys FS, dir string, versions []int64) error {
	head, err := Head(fsys, dir)
	if err != nil {
		return err
	}
	vs := slices.Clone(versions)
	slices.Sort(vs)
	logDir := filepath.Join(dir, LogDir)
	var todo []string
	for _, v := range vs {
		if v >= head.Version {
			return fmt.Errorf("drop version %d of %s: it is the head (%d) or newer", v, dir, head.Version)
		}
		name := filepath.Join(dir, filepath.FromSlash(ManifestName(v)))
		data, err := readFile(fsys, name)
		if errors.Is(err, os.ErrNotExist) {
			continue // dropped meanwhile
		}
		if err != nil {
			return err
		}
		tomb := filepath.Join(logDir, droppedPrefix+manifestBase(v))
		tmp := tempName(logDir, tomb)
		if err := writeFileSync(fsys, tmp, data); err != nil {
			return fmt.Errorf("drop version %d of %s: %w", v, dir, err)
		}
		if err := fsys.Rename(tmp, tomb); err != nil {
			_ = fsys.Remove(tmp)
			return fmt.Errorf("drop version %d of %s: %w", v, dir, err)
		}
		todo = append(todo, name)
	}
	if len(todo) == 0 {
		return nil
	}
	if err := fsys.SyncDir(logDir); err != nil {
		return err
	}
	for _, name := range todo {
		if err := fsys.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("drop %s: %w", name, err)
		}
	}
	return fsys.SyncDir(logDir)
}

func addRefs(referenced map[string]bool, m *Manifest) {
	for i := range m.Partitions {
		referenced[m.Partitions[i].Path] = true
	}
}

// removeTemps removes the temp files of interrupted commits and
// WriteLastError calls.
func removeTemps(fsys FS, dir string, cutoff time.Time, remove func(string, int64) error) error {
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
			if old, size, err := olderThan(e, cutoff); err != nil {
				return err
			} else if old {
				if err := remove(filepath.Join(d, e.Name()), size); err != nil {
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
func partitionFiles(fsys FS, dir string, cutoff time.Time) ([]sizedFile, error) {
	var out []sizedFile
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
			if old, size, err := olderThan(e, cutoff); err != nil {
				return err
			} else if old {
				out = append(out, sizedFile{rel: child, size: size})
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

func olderThan(e os.DirEntry, cutoff time.Time) (bool, int64, error) {
	fi, err := e.Info()
	if errors.Is(err, os.ErrNotExist) {
		return false, 0, nil // removed meanwhile
	}
	if err != nil {
		return false, 0, err
	}
	return fi.ModTime().Before(cutoff), fi.Size(), nil
}
