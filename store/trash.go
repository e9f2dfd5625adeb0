package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"bcfs/metastore"
)

// The trash keeps deleted datasets whole, every version, until it is
// emptied on purpose (nothing empties it by itself):
//
//	STORE/trash/<id>/entry.json   what was deleted, when and why
//	STORE/trash/<id>/data/        the dataset dir as it was (_log, partitions)
//
// Moving a dataset in or out is one rename of its dir, so a crash leaves it
// either in the store or in the trash. A dataset dir that also holds other
// datasets or folders ("A" holding "A/B") needs a second step, moving those
// back; entry.json says which step is running so Open finishes it.

const (
	trashEntryFile = "entry.json"
	trashDataDir   = "data"
)

// TrashEntry describes one deleted dataset.
type TrashEntry struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"` // the dataset's name when it was deleted
	DeletedAt   time.Time `json:"deleted_at"`
	Reason      string    `json:"reason,omitempty"` // what deleted it ("unlink ES.csv", "merged into ES")
	HeadVersion int64     `json:"head_version"`
	Versions    int       `json:"versions"` // versions kept (all the dataset had)
	Rows        int64     `json:"rows"`     // rows of the head version
	// moving is set while a move between the store and the trash is not
	// finished; target is the dataset name the move is about.
	Moving string `json:"moving,omitempty"` // "delete" or "restore"
	Target string `json:"target,omitempty"`
}

func (s *Store) trashEntryDir(id string) string { return filepath.Join(s.trashDir(), id) }

func newTrashID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:])
}

func (s *Store) writeTrashEntry(e *TrashEntry) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return s.writeFileAtomic(filepath.Join(s.trashEntryDir(e.ID), trashEntryFile), data)
}

// writeFileAtomic replaces the file at p with data: a fsynced temp file
// renamed over it.
func (s *Store) writeFileAtomic(p string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p))
	f, err := s.fs.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, p)
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return err
	}
	return s.fs.SyncDir(filepath.Dir(p))
}

func (s *Store) readTrashEntry(id string) (*TrashEntry, error) {
	f, err := s.fs.Open(filepath.Join(s.trashEntryDir(id), trashEntryFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var e TrashEntry
	if err := json.NewDecoder(f).Decode(&e); err != nil {
		return nil, fmt.Errorf("trash entry %s: %w", id, err)
	}
	e.ID = id
	return &e, nil
}

// subFolders returns the entries of a dataset dir that are other datasets
// or folders (valid names), not the dataset's own files.
func (s *Store) subFolders(dir string) ([]string, error) {
	ents, err := s.fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && ValidName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Delete moves a dataset, every version, to the trash. Open snapshots keep
// reading. Datasets and folders inside it ("A/B" under "A") stay.
func (s *Store) Delete(name string) error {
	_, err := s.Trash(name, "delete")
	return err
}

// Trash moves a dataset, every version, to the trash and returns its entry.
// reason says what deleted it.
func (s *Store) Trash(name, reason string) (*TrashEntry, error) {
	if s.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	mu := s.lockDataset(name)
	defer mu.Unlock()
	head, err := s.head(name)
	if err != nil {
		return nil, err
	}
	return s.trashLocked(name, head, reason)
}

func (s *Store) trashLocked(name string, head *metastore.Manifest, reason string) (*TrashEntry, error) {
	dir := s.datasetDir(name)
	vs, err := metastore.Versions(s.fs, dir)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	e := &TrashEntry{ID: newTrashID(now), Name: name, DeletedAt: now, Reason: reason,
		HeadVersion: head.Version, Versions: len(vs), Rows: head.RowCount, Moving: "delete", Target: name}
	if err := s.fs.MkdirAll(s.trashEntryDir(e.ID), 0o755); err != nil {
		return nil, err
	}
	if err := s.writeTrashEntry(e); err != nil {
		_ = s.fs.RemoveAll(s.trashEntryDir(e.ID))
		return nil, fmt.Errorf("delete %s: %w", name, err)
	}
	data := filepath.Join(s.trashEntryDir(e.ID), trashDataDir)
	if err := s.fs.Rename(dir, data); err != nil {
		_ = s.fs.RemoveAll(s.trashEntryDir(e.ID))
		return nil, fmt.Errorf("delete %s: %w", name, err)
	}
	s.dropHead(name)
	if err := s.finishTrashMove(e); err != nil {
		s.log.Warn("trash: moving nested folders back", "dataset", name, "err", err)
	}
	s.notify(name)
	s.log.Info("moved to trash", "dataset", name, "id", e.ID, "reason", reason)
	return e, nil
}

// finishTrashMove completes (or, for a restore that had not renamed the
// data yet, undoes) the second step of a move: the datasets and folders
// nested in the data dir go back to the store under e.Target, and the
// entry is marked done. A finished restore leaves no data dir; the entry
// is then removed.
func (s *Store) finishTrashMove(e *TrashEntry) error {
	data := filepath.Join(s.trashEntryDir(e.ID), trashDataDir)
	if _, err := s.fs.Stat(data); errors.Is(err, fs.ErrNotExist) {
		if e.Moving == "restore" {
			return s.fs.RemoveAll(s.trashEntryDir(e.ID))
		}
		// A delete that crashed before its rename: nothing moved.
		return s.fs.RemoveAll(s.trashEntryDir(e.ID))
	}
	subs, err := s.subFolders(data)
	if err != nil {
		return err
	}
	if len(subs) > 0 {
		home := s.datasetDir(e.Target)
		if err := s.fs.MkdirAll(home, 0o755); err != nil {
			return err
		}
		for _, sub := range subs {
			if err := s.fs.Rename(filepath.Join(data, sub), filepath.Join(home, sub)); err != nil {
				return err
			}
		}
	}
	e.Moving, e.Target = "", ""
	return s.writeTrashEntry(e)
}

// recoverTrash finishes moves a crash interrupted.
func (s *Store) recoverTrash() {
	ents, _ := s.fs.ReadDir(s.trashDir())
	for _, d := range ents {
		e, err := s.readTrashEntry(d.Name())
		if errors.Is(err, fs.ErrNotExist) {
			// Crashed before entry.json was written: nothing was moved.
			_ = s.fs.Remove(s.trashEntryDir(d.Name()))
			continue
		}
		if err != nil || e.Moving == "" {
			continue
		}
		if err := s.finishTrashMove(e); err != nil {
			s.log.Warn("trash recovery", "id", e.ID, "err", err)
		}
	}
}

// TrashList returns the trash's entries, oldest first.
func (s *Store) TrashList() ([]TrashEntry, error) {
	ents, err := s.fs.ReadDir(s.trashDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []TrashEntry
	for _, d := range ents {
		if !d.IsDir() {
			continue
		}
		e, err := s.readTrashEntry(d.Name())
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("trash entry unreadable", "id", d.Name(), "err", err)
			}
			continue
		}
		if e.Moving != "" {
			continue
		}
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// findTrash returns the entry with this id, or the most recently deleted
// dataset of this name.
func (s *Store) findTrash(idOrName string) (*TrashEntry, error) {
	list, err := s.TrashList()
	if err != nil {
		return nil, err
	}
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].ID == idOrName || list[i].Name == idOrName {
			return &list[i], nil
		}
	}
	return nil, fmt.Errorf("%q in the trash: %w", idOrName, ErrNotFound)
}

// TrashRestore puts a deleted dataset back, every version byte-identical,
// under its own name or as newName. idOrName is an entry id or a dataset
// name (the most recently deleted one of that name). The name must be free.
func (s *Store) TrashRestore(idOrName, newName string) (*TrashEntry, string, error) {
	if s.opt.ReadOnly {
		return nil, "", ErrReadOnly
	}
	e, err := s.findTrash(idOrName)
	if err != nil {
		return nil, "", err
	}
	target := e.Name
	if newName != "" {
		target = newName
	}
	if err := ValidName(target); err != nil {
		return nil, "", err
	}
	mu := s.lockDataset(target)
	defer mu.Unlock()
	if err := s.restoreLocked(e, target); err != nil {
		return nil, "", err
	}
	return e, target, nil
}

func (s *Store) restoreLocked(e *TrashEntry, target string) error {
	home := s.datasetDir(target)
	if _, err := s.fs.Stat(filepath.Join(home, metastore.LogDir)); err == nil {
		return fmt.Errorf("restore %s: dataset %q: %w (restore it under another name)", e.Name, target, ErrExists)
	}
	data := filepath.Join(s.trashEntryDir(e.ID), trashDataDir)
	e.Moving, e.Target = "restore", target
	if err := s.writeTrashEntry(e); err != nil {
		return err
	}
	// Datasets and folders now under the target name move into the data
	// dir first, so one rename brings everything into place.
	subs, _ := s.subFolders(home)
	for _, sub := range subs {
		if _, err := s.fs.Stat(filepath.Join(data, sub)); err == nil {
			return fmt.Errorf("restore %s: %q in the trash entry: %w", e.Name, sub, ErrExists)
		}
	}
	for _, sub := range subs {
		if err := s.fs.Rename(filepath.Join(home, sub), filepath.Join(data, sub)); err != nil {
			_ = s.finishTrashMove(e)
			return err
		}
	}
	if ents, err := s.fs.ReadDir(home); err == nil {
		if len(ents) > 0 {
			_ = s.finishTrashMove(e)
			return fmt.Errorf("restore %s: %s holds files that are not datasets: %w", e.Name, home, ErrExists)
		}
		_ = s.fs.Remove(home)
	}
	if err := s.fs.MkdirAll(filepath.Dir(home), 0o755); err != nil {
		_ = s.finishTrashMove(e)
		return err
	}
	if err := s.fs.Rename(data, home); err != nil {
		_ = s.finishTrashMove(e)
		return fmt.Errorf("restore %s: %w", e.Name, err)
	}
	if err := s.fs.RemoveAll(s.trashEntryDir(e.ID)); err != nil {
		s.log.Warn("trash: removing restored entry", "id", e.ID, "err", err)
	}
	s.dropHead(target)
	s.notify(target)
	s.log.Info("restored from trash", "dataset", target, "id", e.ID)
	return nil
}

// TrashEmpty removes the entries deleted more than olderThan ago (every
// entry when olderThan is 0) and returns them. This is the only way data
// leaves the store for good.
func (s *Store) TrashEmpty(olderThan time.Duration) ([]TrashEntry, error) {
	if s.opt.ReadOnly {
		return nil, ErrReadOnly
	}
	list, err := s.TrashList()
	if err != nil {
		return nil, err
	}
	cutoff := time.Now().Add(-olderThan)
	var out []TrashEntry
	for _, e := range list {
		if olderThan > 0 && !e.DeletedAt.Before(cutoff) {
			continue
		}
		if err := s.fs.RemoveAll(s.trashEntryDir(e.ID)); err != nil {
			return out, fmt.Errorf("empty trash entry %s (%s): %w", e.ID, e.Name, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// TrashManifest returns the head manifest of a trash entry, for showing
// its contents.
func (s *Store) TrashManifest(id string) (*metastore.Manifest, error) {
	if strings.ContainsAny(id, "/\\") || id == "" || id[0] == '.' {
		return nil, fmt.Errorf("trash entry %q: %w", id, ErrNotFound)
	}
	m, err := metastore.Head(s.fs, filepath.Join(s.trashEntryDir(id), trashDataDir))
	if err != nil {
		return nil, fmt.Errorf("trash entry %q: %w: %w", id, ErrNotFound, err)
	}
	return m, nil
}

func (s *Store) dropHead(name string) {
	s.mu.Lock()
	delete(s.heads, name)
	s.mu.Unlock()
}
