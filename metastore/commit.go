package metastore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sync/errgroup"
)

// Commit publishes m as version m.Version of the dataset in dir (the dataset
// dir). The caller has already written and fsynced the partition files.
// It is CommitFiles with no files to sync.
func Commit(fsys FS, dir string, m *Manifest) error { return CommitFiles(fsys, dir, m, nil, nil) }

// syncParallel bounds the fsyncs CommitFiles runs at once.
const syncParallel = 16

// CommitFiles publishes m as version m.Version of the dataset in dir (the
// dataset dir). files are the new files of the version (fsys names,
// written and closed but not necessarily fsynced) and dirs any other
// folders whose entries the version needs (the parents of a new dataset
// dir).
//
// The order is the design: the encoded manifest goes to
// _log/.tmp-<uuid>.json; then, all at once, the temp manifest, every one
// of files, every folder holding one of them, dir (for _log's own entry)
// and dirs are fsynced; only when every one of those succeeded does a
// hard link publish the temp as _log/<20 digits>.json, which fails if
// that name exists (ErrConflict: another writer won; re-merge on the new
// head and retry); the temp is removed and _log fsynced. So nothing a
// published manifest names can be lost in a crash, and readers see either
// no file or the whole fsynced manifest, never a partial one. The fsyncs
// run in parallel so that their waits overlap (a journaling filesystem
// may also fold them into one journal commit; without a journal, as on
// this project's test machine, each is still its own write).
//
// Before the link, any failure leaves the dataset as it was. If only the
// final fsync of _log fails the version is visible and the error wraps
// ErrNotDurable: do not retry it.
func CommitFiles(fsys FS, dir string, m *Manifest, files, dirs []string) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	logDir := filepath.Join(dir, LogDir)
	if err := fsys.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("commit %s: %w", dir, err)
	}
	final := filepath.Join(dir, filepath.FromSlash(ManifestName(m.Version)))
	tmp := tempName(logDir, final)
	// dir's fsync makes _log's own entry durable. Only the first commit
	// needs it, but a first commit whose fsync failed and was retried
	// cannot be told apart, and an fsync of a clean folder costs next to
	// nothing.
	folders := map[string]bool{dir: true}
	for _, d := range dirs {
		folders[d] = true
	}
	for _, f := range files {
		folders[filepath.Dir(f)] = true
	}
	var g errgroup.Group
	g.SetLimit(syncParallel)
	g.Go(func() error { return writeFileSync(fsys, tmp, data) })
	for _, f := range files {
		g.Go(func() error { return syncFile(fsys, f) })
	}
	for d := range folders {
		g.Go(func() error { return fsys.SyncDir(d) })
	}
	if err := g.Wait(); err != nil {
		_ = fsys.Remove(tmp) // best effort: Recover collects a temp left behind
		return fmt.Errorf("commit %s version %d: %w", dir, m.Version, err)
	}
	err = fsys.Link(tmp, final)
	// The temp name is garbage whatever the link did; if removing it fails,
	// Recover collects it later, so the outcome does not change.
	_ = fsys.Remove(tmp)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("commit %s version %d: %w", dir, m.Version, ErrConflict)
	} else if err != nil {
		return fmt.Errorf("commit %s version %d: %w", dir, m.Version, err)
	}
	if err := fsys.SyncDir(logDir); err != nil {
		return fmt.Errorf("commit %s version %d: %w: %w", dir, m.Version, ErrNotDurable, err)
	}
	return nil
}

// syncFile makes a written file's data durable: open, fsync, close. (On
// Linux an fsync through any descriptor of the file flushes it.)
func syncFile(fsys FS, name string) error {
	f, err := fsys.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
