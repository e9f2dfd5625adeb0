package store

import (
	"fmt"

	"bcfs/metastore"
)

// ValidName checks a dataset or folder name: a clean relative slash path
// whose segments do not start with '.' or '_' (reserved for .metadata, _log
// and hidden scratch files) and hold no '=' (partition folders), NUL or
// backslash. The rules are metastore's, which lays the names out on disk.
func ValidName(name string) error {
	if err := metastore.CheckName(name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidName, err)
	}
	return nil
}
