package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The namespace is what every name in a mount is, and what create, unlink,
// rename and open-for-write mean for each kind. It knows nothing of FUSE:
// the mount adapts it, the tests drive it directly.
//
// Kinds of names:
//
//   - View: NAME.csv or NAME.parquet where NAME is a valid dataset name. It
//     answers for an existing dataset, a dataset being created (its first
//     ingest has not committed), or nothing yet.
//   - Folder: a folder of the store (mkdir'ed, or the parent of a dataset).
//   - Scratch: any other name (editor temp files, lock files, backups); a
//     real file under STORE/scratch at the same folder path.
//   - Reserved: .metadata, .trash and .versions at the root (read-only,
//     generated).
//   - Invalid: a view extension on a name the store refuses ("a=b.csv").
//
// Removal is never loss: unlinking a view, rm -r of a folder and the source
// of a merging rename move the dataset to the trash. A process that removed
// a view (unlink, or rename away to a backup name) and creates the same name
// again within RecreateWindow gets the dataset back from the trash, and its
// new bytes merge into it as a plain cp would: cp -a, install, tar -x and
// mv from another filesystem all unlink and create.

// Kind is the kind of a name in the mount.
type Kind int

const (
	KindScratch Kind = iota
	KindView
	KindFolder
	KindReserved
	KindInvalid
)

func (k Kind) String() string {
	return [...]string{"scratch", "view", "folder", "reserved", "invalid"}[k]
}

// Reserved names at the mount root.
const (
	MetadataDirName = ".metadata"
	TrashDirName    = ".trash"
	VersionsDirName = ".versions"
)

// Name is a classified entry name.
type Name struct {
	Kind    Kind
	Path    string // slash path from the mount root
	Dataset string // for views
	View    View   // for views
}

// ParseName classifies name, an entry of folder dir ("" for the root),
// without looking at the store: views, reserved names and invalid view
// names are told by spelling alone. Folder-or-scratch is KindScratch here;
// Namespace.Classify tells them apart.
func ParseName(dir, name string) Name {
	n := Name{Path: joinName(dir, name)}
	if dir == "" && (name == MetadataDirName || name == TrashDirName || name == VersionsDirName) {
		n.Kind = KindReserved
		return n
	}
	var stem string
	switch {
	case strings.HasSuffix(name, ".csv"):
		n.View, stem = ViewCSV, strings.TrimSuffix(name, ".csv")
	case strings.HasSuffix(name, ".parquet"):
		n.View, stem = ViewParquet, strings.TrimSuffix(name, ".parquet")
	default:
		return n // KindScratch
	}
	// Hidden names (".x.csv") are what editors use for temporary copies,
	// and the store reserves leading dots; "~$x.csv" is Office's owner file.
	if stem == "" || stem[0] == '.' || strings.HasPrefix(stem, "~$") {
		n.Kind, n.View = KindScratch, 0
		return n
	}
	ds := joinName(dir, stem)
	if ValidName(ds) != nil {
		n.Kind, n.View = KindInvalid, 0
		return n
	}
	n.Kind, n.Dataset = KindView, ds
	return n
}

func joinName(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// RecreateWindow is how long after removing a view the same process may
// create it again and get the dataset back (merged), as an overwrite.
const RecreateWindow = 5 * time.Second

// removal remembers a dataset a process removed, for RecreateWindow.
type removal struct {
	trashID string
	caller  uint32
	at      time.Time
	views   map[View]bool // views whose names the caller has removed
}

// Namespace is the FUSE-free model of a mount's names. It is safe for
// concurrent use.
type Namespace struct {
	st  *Store
	now func() time.Time

	// mu protects creating and removed.
	mu       sync.Mutex
	creating map[string]map[View]int // dataset -> view -> writers creating it
	removed  map[string]*removal     // dataset -> last removal
}

// NewNamespace returns the namespace of st.
func NewNamespace(st *Store) *Namespace {
	return &Namespace{st: st, now: time.Now, creating: map[string]map[View]int{}, removed: map[string]*removal{}}
}

// Store returns the store the namespace shows.
func (ns *Namespace) Store() *Store { return ns.st }

// Classify tells what name in folder dir is now: a view, a folder, a
// scratch file (or nothing: KindScratch with no file), reserved or invalid.
func (ns *Namespace) Classify(dir, name string) (Name, error) {
	n := ParseName(dir, name)
	if n.Kind != KindScratch || ValidName(n.Path) != nil {
		return n, nil
	}
	ok, err := ns.FolderExists(n.Path)
	if err != nil {
		return n, err
	}
	if ok {
		n.Kind = KindFolder
	}
	return n, nil
}

// FolderExists reports whether folder p exists in the store.
func (ns *Namespace) FolderExists(p string) (bool, error) {
	// Reads p alone (Store.FolderExists), not every folder: every lookup
	// of a name in the mount asks this.
	return ns.st.FolderExists(p)
}

// ScratchPath is the real file behind a scratch name.
func (ns *Namespace) ScratchPath(p string) string {
	return filepath.Join(ns.st.ScratchDir(), filepath.FromSlash(p))
}

// BeginCreate registers a writer creating view v of a dataset that does
// not exist yet; the returned func ends it. Until then the name is listed.
func (ns *Namespace) BeginCreate(ds string, v View) (end func()) {
	ns.mu.Lock()
	if ns.creating[ds] == nil {
		ns.creating[ds] = map[View]int{}
	}
	ns.creating[ds][v]++
	ns.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			ns.mu.Lock()
			defer ns.mu.Unlock()
			if m := ns.creating[ds]; m != nil {
				if m[v]--; m[v] <= 0 {
					delete(m, v)
				}
				if len(m) == 0 {
					delete(ns.creating, ds)
				}
			}
		})
	}
}

// Creating returns the view file names ("AAPL.csv") being created in
// folder dir.
func (ns *Namespace) Creating(dir string) []string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	var out []string
	for ds, views := range ns.creating {
		parent, base := path.Split(ds)
		if strings.TrimSuffix(parent, "/") != dir {
			continue
		}
		for v := range views {
			out = append(out, base+v.Ext())
		}
	}
	sort.Strings(out)
	return out
}

// IsCreating reports whether view v of ds is being created.
func (ns *Namespace) IsCreating(ds string, v View) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.creating[ds][v] > 0
}

// recentRemoval returns the removal of ds within RecreateWindow, if any.
// Called with mu held.
func (ns *Namespace) recentRemoval(ds string) *removal {
	r := ns.removed[ds]
	if r == nil {
		return nil
	}
	if ns.now().Sub(r.at) > RecreateWindow {
		delete(ns.removed, ds)
		return nil
	}
	return r
}

// Gone reports whether name (a view of a dataset that no longer exists)
// is the other view of a dataset this caller just removed: rm NAME.csv
// NAME.parquet and rm -r remove both names of one dataset, and the second
// must succeed. It is false for a view the caller removed itself, so that
// create of that name is a create.
func (ns *Namespace) Gone(n Name, caller uint32) bool {
	if n.Kind != KindView {
		return false
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	r := ns.recentRemoval(n.Dataset)
	return r != nil && r.caller == caller && !r.views[n.View]
}

// PrepareWrite is called before view n is opened for writing or a file is
// renamed onto it. It reports whether the dataset exists; if the caller
// removed it within RecreateWindow, it is first restored from the trash,
// so the write merges into it (an overwrite, not a new dataset), and
// restored is true: for the caller the name did not exist (an O_EXCL
// create of it succeeds).
func (ns *Namespace) PrepareWrite(n Name, caller uint32) (exists, restored bool, err error) {
	if _, err := ns.st.Stat(n.Dataset); err == nil {
		return true, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, false, err
	}
	ns.mu.Lock()
	r := ns.recentRemoval(n.Dataset)
	if r == nil || r.caller != caller {
		ns.mu.Unlock()
		return false, false, nil
	}
	delete(ns.removed, n.Dataset)
	ns.mu.Unlock()
	if _, _, err := ns.st.TrashRestore(r.trashID, n.Dataset); err != nil {
		return false, false, fmt.Errorf("recreating %s: bringing the removed dataset back: %w", n.Path, err)
	}
	ns.st.log.Info("overwrite: removed and created again by one process; merging into the dataset", "dataset", n.Dataset)
	return true, true, nil
}

// remove moves dataset ds to the trash on behalf of caller, remembering it
// so that the caller can create it again as an overwrite.
func (ns *Namespace) remove(ds string, v View, caller uint32, reason string) error {
	e, err := ns.st.Trash(ds, reason)
	if err != nil {
		return err
	}
	ns.mu.Lock()
	ns.removed[ds] = &removal{trashID: e.ID, caller: caller, at: ns.now(), views: map[View]bool{v: true}}
	ns.mu.Unlock()
	return nil
}

// Unlink removes name n. A view moves its dataset to the trash; the other
// view of a dataset the caller just removed succeeds without doing
// anything; a scratch file is removed.
func (ns *Namespace) Unlink(n Name, caller uint32) error {
	switch n.Kind {
	case KindReserved:
		return fmt.Errorf("unlink %s: %w", n.Path, ErrNotPermitted)
	case KindInvalid:
		return fmt.Errorf("unlink %s: %w", n.Path, ErrNotFound)
	case KindFolder:
		return fmt.Errorf("unlink %s: %w", n.Path, ErrIsFolder)
	case KindView:
		_, base := path.Split(n.Path)
		err := ns.remove(n.Dataset, n.View, caller, "unlink "+base)
		if errors.Is(err, ErrNotFound) {
			ns.mu.Lock()
			defer ns.mu.Unlock()
			if r := ns.recentRemoval(n.Dataset); r != nil && r.caller == caller && !r.views[n.View] {
				r.views[n.View] = true
				return nil
			}
		}
		return err
	}
	if err := os.Remove(ns.ScratchPath(n.Path)); err != nil {
		return fmt.Errorf("unlink %s: %w", n.Path, err)
	}
	return nil
}

// Rmdir removes an empty folder (and its scratch mirror).
func (ns *Namespace) Rmdir(n Name) error {
	if n.Kind == KindReserved {
		return fmt.Errorf("rmdir %s: %w", n.Path, ErrNotPermitted)
	}
	if n.Kind == KindView {
		return fmt.Errorf("rmdir %s: %w", n.Path, ErrNotFolder)
	}
	sp := ns.ScratchPath(n.Path)
	if ents, err := os.ReadDir(sp); err == nil && len(ents) > 0 {
		return fmt.Errorf("rmdir %s: scratch files live in it: %w", n.Path, ErrNotEmpty)
	}
	if err := ns.st.Rmdir(n.Path); err != nil {
		return err
	}
	_ = os.Remove(sp)
	return nil
}

// Mkdir creates a folder.
func (ns *Namespace) Mkdir(n Name) error {
	switch n.Kind {
	case KindReserved:
		return fmt.Errorf("mkdir %s: %w", n.Path, ErrExists)
	case KindView, KindInvalid:
		// A folder named like a view could never be told from one.
		return fmt.Errorf("mkdir %s: a folder name cannot end in .csv or .parquet: %w", n.Path, ErrNotPermitted)
	}
	if fi, err := os.Lstat(ns.ScratchPath(n.Path)); err == nil && !fi.IsDir() {
		return fmt.Errorf("mkdir %s: a file has that name: %w", n.Path, ErrExists)
	}
	return ns.st.Mkdir(n.Path)
}

// RenameFlags are renameat2's flags that the namespace understands.
type RenameFlags struct {
	NoReplace bool // RENAME_NOREPLACE
	Exchange  bool // RENAME_EXCHANGE
}

// RenameResult says which datasets a rename changed, for the mount to
// invalidate.
type RenameResult struct {
	Action  string   // what the rename did: "noop", "rename", "merge", "backup", "ingest", "folder", "scratch"
	Changed []string // datasets whose views changed
	Ingest  *IngestResult
}

// Rename carries out a rename of src to dst on behalf of caller:
//
//   - view onto a view of the same dataset (X.csv -> X.parquet): nothing.
//   - view onto a free view name (any extension): the dataset is renamed.
//   - view onto an existing dataset's view: the source's rows merge into the
//     target (DuckDB's tmp_NAME save); the source dataset goes to the trash.
//   - view onto a scratch name (mv X.csv X.csv.bak, an editor or Samba
//     backup): the view's bytes become that scratch file, a readable copy,
//     and the dataset goes to the trash as by unlink (so the same process
//     writing X.csv again merges into it).
//   - scratch file onto a view: the file is ingested into the dataset; the
//     rename fails with the ingest's error.
//   - folder onto a free name: every dataset under it moves in one rename
//     of its store folder.
//   - scratch onto scratch: a plain rename.
func (ns *Namespace) Rename(ctx context.Context, src, dst Name, caller uint32, fl RenameFlags) (RenameResult, error) {
	st := ns.st
	if src.Kind == KindReserved || dst.Kind == KindReserved {
		return RenameResult{}, fmt.Errorf("rename %s to %s: %w", src.Path, dst.Path, ErrNotPermitted)
	}
	if src.Kind == KindInvalid {
		return RenameResult{}, fmt.Errorf("rename %s: %w", src.Path, ErrNotFound)
	}
	if dst.Kind == KindInvalid {
		return RenameResult{}, fmt.Errorf("rename to %s: %w", dst.Path, ErrInvalidName)
	}
	if fl.Exchange && (src.Kind != KindScratch || dst.Kind != KindScratch) {
		return RenameResult{}, fmt.Errorf("rename %s: exchanging is only possible between scratch files: %w", src.Path, ErrNotPermitted)
	}
	dstExists := false
	switch dst.Kind {
	case KindView:
		if _, err := st.Stat(dst.Dataset); err == nil {
			dstExists = true
		}
	case KindFolder:
		dstExists = true
	case KindScratch:
		if _, err := os.Lstat(ns.ScratchPath(dst.Path)); err == nil {
			dstExists = true
		}
	}
	if fl.NoReplace && dstExists {
		return RenameResult{}, fmt.Errorf("rename to %s: %w", dst.Path, ErrExists)
	}
	switch src.Kind {
	case KindView:
		if _, err := st.Stat(src.Dataset); err != nil {
			return RenameResult{}, err
		}
		switch dst.Kind {
		case KindFolder:
			return RenameResult{}, fmt.Errorf("rename %s onto folder %s: %w", src.Path, dst.Path, ErrIsFolder)
		case KindView:
			if src.Dataset == dst.Dataset {
				return RenameResult{Action: "noop"}, nil
			}
			if !dstExists {
				if err := st.Rename(src.Dataset, dst.Dataset); err != nil {
					return RenameResult{}, err
				}
				return RenameResult{Action: "rename", Changed: []string{src.Dataset, dst.Dataset}}, nil
			}
			res, err := ns.mergeDataset(ctx, src, dst)
			if err != nil {
				return RenameResult{}, err
			}
			return RenameResult{Action: "merge", Changed: []string{src.Dataset, dst.Dataset}, Ingest: res}, nil
		}
		// Onto a scratch name: a readable copy, then remove as by unlink.
		if err := ns.exportView(src, ns.ScratchPath(dst.Path)); err != nil {
			return RenameResult{}, err
		}
		_, base := path.Split(dst.Path)
		if err := ns.remove(src.Dataset, src.View, caller, "renamed to "+base); err != nil {
			_ = os.Remove(ns.ScratchPath(dst.Path))
			return RenameResult{}, err
		}
		return RenameResult{Action: "backup", Changed: []string{src.Dataset}}, nil
	case KindFolder:
		switch dst.Kind {
		case KindView:
			return RenameResult{}, fmt.Errorf("rename folder %s to %s: a folder name cannot end in .csv or .parquet: %w", src.Path, dst.Path, ErrNotPermitted)
		case KindScratch:
			if dstExists {
				return RenameResult{}, fmt.Errorf("rename folder %s onto file %s: %w", src.Path, dst.Path, ErrNotFolder)
			}
		}
		if err := ValidName(dst.Path); err != nil {
			return RenameResult{}, err
		}
		moved, err := st.RenameFolder(src.Path, dst.Path)
		if err != nil {
			return RenameResult{}, err
		}
		_ = os.MkdirAll(filepath.Dir(ns.ScratchPath(dst.Path)), 0o755)
		if err := os.Rename(ns.ScratchPath(src.Path), ns.ScratchPath(dst.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			st.log.Warn("moving scratch files of a renamed folder", "from", src.Path, "to", dst.Path, "err", err)
		}
		return RenameResult{Action: "folder", Changed: moved}, nil
	}
	// src is a scratch name.
	sp := ns.ScratchPath(src.Path)
	fi, err := os.Lstat(sp)
	if err != nil {
		return RenameResult{}, fmt.Errorf("rename %s: %w", src.Path, err)
	}
	switch dst.Kind {
	case KindFolder:
		return RenameResult{}, fmt.Errorf("rename %s onto folder %s: %w", src.Path, dst.Path, ErrIsFolder)
	case KindView:
		if !fi.Mode().IsRegular() {
			return RenameResult{}, fmt.Errorf("rename %s onto %s: not a regular file: %w", src.Path, dst.Path, ErrNotPermitted)
		}
		if _, _, err := ns.PrepareWrite(dst, caller); err != nil {
			return RenameResult{}, err
		}
		_, base := path.Split(dst.Path)
		res, err := st.Ingest(ctx, dst.Dataset, sp, IngestOptions{Source: base})
		if err != nil {
			return RenameResult{}, err
		}
		_ = os.Remove(sp)
		return RenameResult{Action: "ingest", Changed: []string{dst.Dataset}, Ingest: res}, nil
	}
	dp := ns.ScratchPath(dst.Path)
	if err := os.MkdirAll(filepath.Dir(dp), 0o755); err != nil {
		return RenameResult{}, err
	}
	var flags uint
	if fl.NoReplace {
		flags |= renameNoReplace
	}
	if fl.Exchange {
		flags |= renameExchange
	}
	if err := renameat2(sp, dp, flags); err != nil {
		return RenameResult{}, fmt.Errorf("rename %s to %s: %w", src.Path, dst.Path, err)
	}
	return RenameResult{Action: "scratch"}, nil
}

// exportView writes the committed bytes of view n to the file p (created
// or replaced).
func (ns *Namespace) exportView(n Name, p string) error {
	sn, err := ns.st.Pin(n.Dataset, 0)
	if err != nil {
		return err
	}
	defer sn.Release()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = sn.WriteViewAt(n.View, f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p)
	}
	return err
}

// mergeDataset ingests the committed view of src into dst and then moves
// src to the trash.
func (ns *Namespace) mergeDataset(ctx context.Context, src, dst Name) (*IngestResult, error) {
	tmp, err := ns.st.CreateSpool("merge", src.Path)
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := ns.exportView(src, tmp.Name()); err != nil {
		return nil, err
	}
	_, base := path.Split(src.Path)
	res, err := ns.st.Ingest(ctx, dst.Dataset, tmp.Name(), IngestOptions{Source: base})
	if err != nil {
		return nil, err
	}
	if _, err := ns.st.Trash(src.Dataset, "merged into "+dst.Dataset); err != nil {
		return res, fmt.Errorf("%s merged into %s, but removing it failed: %w", src.Dataset, dst.Dataset, err)
	}
	return res, nil
}

// RecordWriteFailure keeps the reason a write through the mount committed
// nothing (for example: the writing process was killed) where failed
// ingests are recorded.
func (s *Store) RecordWriteFailure(name, source string, err error) {
	s.recordError(name, source, err)
}
