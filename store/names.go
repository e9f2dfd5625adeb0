package store

import (
	"fmt"
	"strings"
)

// ValidName checks a dataset or folder name: a relative slash path whose
// segments are not empty, ".", "..", do not start with '.' or '_' (reserved
// for .metadata, _log and hidden scratch files), contain no '=' (partition
// folders), NUL or backslash.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("%w: %q is absolute", ErrInvalidName, name)
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q has an empty segment", ErrInvalidName, name)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q escapes the store", ErrInvalidName, name)
		case strings.ContainsAny(seg, "\x00\\="):
			return fmt.Errorf("%w: %q contains NUL, '\\' or '='", ErrInvalidName, name)
		case seg[0] == '.' || seg[0] == '_':
			return fmt.Errorf("%w: segment %q starts with '.' or '_' (reserved)", ErrInvalidName, seg)
		}
	}
	return nil
}
