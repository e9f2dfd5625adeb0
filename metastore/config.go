package metastore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StoreConfig is the store root's bcfs.json.
type StoreConfig struct {
	FormatVersion int       `json:"format_version"`
	Created       time.Time `json:"created"`
	// BackupTargets are the places `bcfs backup` copies to, in the order
	// added. Only names and URLs: credentials come from the environment.
	BackupTargets []BackupTarget `json:"backup_targets,omitempty"`
}

// LoadOrCreateConfig reads root/bcfs.json, creating the root and the file
// for a new store. Two processes creating the same store at once agree on
// one file: it is published with an exclusive link, and the loser reads the
// winner's. A config of a newer format wraps ErrUnsupportedFormat.
func LoadOrCreateConfig(fsys FS, root string) (*StoreConfig, error) {
	name := filepath.Join(root, ConfigFile)
	c, err := readConfig(fsys, name)
	if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	c = &StoreConfig{FormatVersion: FormatVersion, Created: time.Now().UTC()}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	linkErr := linkNew(fsys, name, append(data, '\n'))
	if errors.Is(linkErr, os.ErrExist) {
		return readConfig(fsys, name)
	}
	if linkErr != nil {
		return nil, linkErr
	}
	if err := fsys.SyncDir(root); err != nil {
		return nil, err
	}
	return c, nil
}

func readConfig(fsys FS, name string) (*StoreConfig, error) {
	data, err := readFile(fsys, name)
	if err != nil {
		return nil, err
	}
	c := new(StoreConfig)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", name, ErrCorrupt, err)
	}
	switch {
	case c.FormatVersion > FormatVersion:
		return nil, fmt.Errorf("%s: store format %d, this bcfs reads %d: %w", name, c.FormatVersion, FormatVersion, ErrUnsupportedFormat)
	case c.FormatVersion < 1:
		return nil, fmt.Errorf("%s: format_version %d: %w", name, c.FormatVersion, ErrCorrupt)
	}
	return c, nil
}
