package metastore

import (
	"encoding/json"
	"path/filepath"
)

// BackupTarget is one named backup location: file:///abs/path or
// s3://bucket/prefix.
type BackupTarget struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// UpdateConfig reads root/bcfs.json, lets fn change it and replaces the file
// atomically (temp, fsync, rename, folder fsync). Nothing is written when fn
// fails.
func UpdateConfig(fsys FS, root string, fn func(*StoreConfig) error) error {
	name := filepath.Join(root, ConfigFile)
	c, err := readConfig(fsys, name)
	if err != nil {
		return err
	}
	if err := fn(c); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return replaceFile(fsys, name, append(data, '\n'))
}

// ReadConfig reads root/bcfs.json of an existing store.
func ReadConfig(fsys FS, root string) (*StoreConfig, error) {
	return readConfig(fsys, filepath.Join(root, ConfigFile))
}

// ReplaceFile atomically replaces final with data (temp file, fsync,
// rename, folder fsync), for small documents kept beside the datasets.
func ReplaceFile(fsys FS, final string, data []byte) error { return replaceFile(fsys, final, data) }

// ParseManifestName returns the version of a manifest file name
// ("00000000000000000042.json"), or false.
func ParseManifestName(base string) (int64, bool) { return parseManifestBase(base) }
