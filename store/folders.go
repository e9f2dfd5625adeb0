package store

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"

	"bcfs/metastore"
)

// This file answers questions about one folder or one name by reading only
// that part of the store, so that walking a mount (find, du, ls -lR) costs
// in proportion to what it visits, not to the number of datasets times the
// number of folders. List and Folders walk everything.

// FolderExists reports whether p is a folder: a directory under datasets/
// with a valid name that is not a dataset, or a dataset holding datasets or
// folders ("yahoo" beside "yahoo/AAPL"). It agrees with Folders.
func (s *Store) FolderExists(p string) (bool, error) {
	if p == "" {
		return true, nil
	}
	if ValidName(p) != nil {
		return false, nil
	}
	return s.hasChildren(p)
}

// hasChildren reports whether p (a valid name) is a folder in the sense of
// FolderExists.
func (s *Store) hasChildren(p string) (bool, error) {
	dir := s.datasetDir(p)
	fi, err := s.fs.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil || !fi.IsDir() {
		return false, err
	}
	if _, err := s.fs.Stat(filepath.Join(dir, metastore.LogDir)); err != nil {
		return true, nil // not a dataset: a folder
	}
	ents, err := s.fs.ReadDir(dir)
	if err != nil {
		return false, nil // deleted meanwhile
	}
	for _, e := range ents {
		if e.IsDir() && ValidName(path.Join(p, e.Name())) == nil {
			return true, nil
		}
	}
	return false, nil
}

// ListFolder returns the datasets and the folders directly inside folder dir
// ("" for the top), sorted by name, reading that folder only. Datasets are
// full names with their heads; folders are full names. A name can be both
// (a dataset holding datasets).
func (s *Store) ListFolder(dir string) (datasets []Entry, folders []string, err error) {
	if dir != "" && ValidName(dir) != nil {
		return nil, nil, nil
	}
	ents, err := s.fs.ReadDir(filepath.Join(s.datasetsDir(), filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents { // sorted by name
		child := path.Join(dir, e.Name())
		if !e.IsDir() || ValidName(child) != nil {
			continue
		}
		m, err := s.head(child)
		if err == nil {
			datasets = append(datasets, entryOf(child, m))
		} else if !errors.Is(err, ErrNotFound) {
			return nil, nil, err
		}
		ok, err := s.hasChildren(child)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			folders = append(folders, child)
		}
	}
	return datasets, folders, nil
}
