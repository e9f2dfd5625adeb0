package store

import (
	"bcfs/metastore"
)

// ValidName checks a dataset or folder name. The rules are metastore's
// (CheckName), which lays the names out on disk: one canonical form (valid
// UTF-8, Unicode NFC, no control characters), a clean relative slash path
// whose components hold at most 247 bytes (255 with ".parquet"), do not
// start with '.' or '_' (reserved for .metadata, _log and hidden scratch
// files) and hold no '=' (partition folders), NUL or backslash. The CLI and
// the mount both check names here, so they accept the same set.
func ValidName(name string) error { return metastore.CheckName(name) }
