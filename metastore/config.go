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
	// RetentionPolicies are matched against dataset names in the order
	// added; the first match applies (bcfs policy, bcfs cleanup).
	RetentionPolicies []RetentionPolicy `json:"retention_policies,omitempty"`
	// TrashPeriod is how long cleanup leaves deleted datasets restorable
	// in the trash ("" means 7 days); durations as "90d", "12h".
	TrashPeriod string `json:"trash_period,omitempty"`
}

// RetentionPolicy is one rule of the store's data lifecycle. Durations are
// strings with units d, h, m, s ("90d"); empty means the bound is not set.
type RetentionPolicy struct {
	Pattern           string `json:"pattern"`                        // glob over dataset names; * and ? match '/' too
	DeleteAfter       string `json:"delete_after,omitempty"`         // trash a dataset whose last commit is older
	KeepVersions      int    `json:"keep_versions,omitempty"`        // keep at least the newest N versions
	KeepHistory       string `json:"keep_history,omitempty"`         // keep versions committed within this
	DropRowsOlderThan string `json:"drop_rows_older_than,omitempty"` // rows with older timestamps leave the head
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
