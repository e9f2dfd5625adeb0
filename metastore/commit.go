package metastore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Commit publishes m as version m.Version of the dataset in dir (the dataset
// dir). The caller has already written and fsynced the partition files.
//
// The order is the design: the encoded manifest goes to _log/.tmp-<uuid>.json
// and is fsynced; a hard link then publishes it as _log/<20 digits>.json,
// which fails if that name exists (ErrConflict: another writer won; re-merge
// on the new head and retry); the temp is removed and _log fsynced. Readers
// see either no file or the whole fsynced manifest, never a partial one.
//
// Before the link, any failure leaves the dataset as it was. If only the
// final fsync of _log fails the version is visible and the error wraps
// ErrNotDurable: do not retry it.
func Commit(fsys FS, dir string, m *Manifest) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, LogDir)
	if err := fsys.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("commit %s: %w", dir, err)
	}
	// Makes _log's own entry durable. Only the first commit needs it, but a
	// first commit whose fsync failed and was retried cannot be told apart,
	// and an fsync of a clean folder costs next to nothing.
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("commit %s: %w", dir, err)
	}
	final := filepath.Join(dir, filepath.FromSlash(ManifestName(m.Version)))
	if err := linkNew(fsys, final, data); errors.Is(err, os.ErrExist) {
		return fmt.Errorf("commit %s version %d: %w", dir, m.Version, ErrConflict)
	} else if err != nil {
		return fmt.Errorf("commit %s version %d: %w", dir, m.Version, err)
	}
	if err := fsys.SyncDir(logDir); err != nil {
		return fmt.Errorf("commit %s version %d: %w: %w", dir, m.Version, ErrNotDurable, err)
	}
	return nil
}

// Versions returns the version numbers that have a manifest file in the
// dataset dir, ascending, whether or not they decode. A dataset without a
// _log folder has none.
func Versions(fsys FS, dir string) ([]int64, error) {
	entries, err := fsys.ReadDir(filepath.Join(dir, LogDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	vs := make([]int64, 0, len(entries))
	for _, e := range entries {
		if v, ok := parseManifestBase(e.Name()); ok && e.Type().IsRegular() {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return vs, nil
}

// NextVersion returns the number a commit merged on version head must use:
// head+1, except that manifests above head which do not decode (a torn
// write of a crashed process) are skipped, so a corrupt trailing manifest
// cannot make every later commit conflict. A readable manifest above head
// means another writer committed first: ErrConflict, merge again. Set the
// new manifest's Parent to head.
func NextVersion(fsys FS, dir string, head int64) (int64, error) {
	vs, err := Versions(fsys, dir)
	if err != nil {
		return 0, err
	}
	next := head + 1
	for _, v := range vs {
		if v <= head {
			continue
		}
		if _, err := Load(fsys, dir, v); err == nil {
			return 0, fmt.Errorf("%s: version %d appeared above head %d: %w", dir, v, head, ErrConflict)
		}
		next = v + 1
	}
	return next, nil
}

// Load reads and validates one version. A missing version wraps
// ErrNotFound; a bad one wraps ErrCorrupt.
func Load(fsys FS, dir string, version int64) (*Manifest, error) {
	if version <= 0 {
		return nil, fmt.Errorf("%s version %d: %w", dir, version, ErrNotFound)
	}
	name := filepath.Join(dir, filepath.FromSlash(ManifestName(version)))
	data, err := readFile(fsys, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s version %d: %w", dir, version, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	m, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m.Version != version {
		return nil, fmt.Errorf("%s holds version %d: %w", name, m.Version, ErrCorrupt)
	}
	return m, nil
}

// Head returns the highest version whose manifest decodes. Corrupt
// manifests above it are skipped (recovery), except one of a newer format
// (ErrUnsupportedFormat): this bcfs must not act on a dataset it cannot read.
// With no readable version it returns ErrNoVersions.
func Head(fsys FS, dir string) (*Manifest, error) {
	vs, err := Versions(fsys, dir)
	if err != nil {
		return nil, err
	}
	for i := len(vs) - 1; i >= 0; i-- {
		m, err := Load(fsys, dir, vs[i])
		if err == nil {
			return m, nil
		}
		// A version removed under us (Recover of old versions) or a
		// corrupt one: the previous is the head.
		if errors.Is(err, ErrUnsupportedFormat) || !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound)) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s: %w", dir, ErrNoVersions)
}
