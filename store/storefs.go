package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"bcfs/metastore"
)

// storeFolders are the folders of a store root that bcfs writes and
// deletes in.
func (s *Store) storeFolders() []string {
	return []string{s.dir, s.datasetsDir(), s.SpoolDir(), s.ScratchDir(), s.trashDir(),
		filepath.Join(s.dir, metastore.FailuresDir)}
}

// checkStoreFolders refuses a store whose root or top folders are symlinks
// or writable by other users: another user could then swap in a symlink to
// a folder of theirs or of a victim, and a bcfs run by root would write or
// delete there. (Below them, DirFS follows no symlink anyway.) Folders not
// made yet pass: Open makes them.
func (s *Store) checkStoreFolders() error {
	for _, p := range s.storeFolders() {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open store: %w", err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0 && p == s.dir:
			real, _ := filepath.EvalSymlinks(p)
			return fmt.Errorf("%w: the store folder %s is a symlink (to %s); bcfs never follows symlinks in a store. "+
				"Name the real folder: --store %s", ErrUnsafeStore, p, real, real)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return fmt.Errorf("%w: %s is a symlink (to %s); bcfs never follows symlinks in a store, so that no other user can point its writes and deletes elsewhere. "+
				"Make it a real folder: rm %s && mkdir %s (and move its contents back if they are yours)", ErrUnsafeStore, p, target, p, p)
		case !fi.IsDir():
			return fmt.Errorf("%w: %s is not a folder", ErrUnsafeStore, p)
		case fi.Mode().Perm()&0o022 != 0:
			return fmt.Errorf("%w: %s is writable by other users (mode %s), who could swap what bcfs writes and deletes there. "+
				"Make it writable by its owner only: chmod go-w %s", ErrUnsafeStore, p, fi.Mode().Perm(), p)
		}
	}
	return nil
}
