package metastore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Names of the on-disk layout.
const (
	ConfigFile     = "bcfs.json"        // in the store root
	DatasetsDir    = "datasets"         // in the store root
	LogDir         = "_log"             // in a dataset dir; its presence makes a dataset
	LastErrorFile  = "_last_error.json" // in a dataset dir
	tempPrefix     = ".tmp-"            // temp files: ".tmp-<uuid>..." in _log or a dataset dir
	manifestDigits = 20
)

// ManifestName returns the manifest path of version relative to the dataset
// dir: "_log/00000000000000000042.json".
func ManifestName(version int64) string {
	return LogDir + "/" + manifestBase(version)
}

func manifestBase(version int64) string {
	return fmt.Sprintf("%0*d.json", manifestDigits, version)
}

// parseManifestBase returns the version of a manifest file name, or false.
func parseManifestBase(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, ".json")
	if !ok || len(digits) != manifestDigits {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}

// MaxNameComponent is the longest component of a dataset name, in bytes:
// the mount shows a dataset as NAME.parquet, and a file name holds at most
// 255 bytes.
const MaxNameComponent = 255 - len(".parquet")

// CheckName reports whether name can name a dataset. A name has one
// canonical form, so that two names that look alike are the same name:
// valid UTF-8 in Unicode NFC, without control characters; a clean relative
// slash path whose components are not empty, hold at most MaxNameComponent
// bytes, do not start with "." or "_" (temp files, _log, .metadata) and
// hold no "=" (partition folders), so that a dataset never collides with
// another's layout or escapes the store. The error says what is wrong and,
// for a name in another Unicode form, the name to use.
func CheckName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidName, name)
	}
	if err := checkRelPath(name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidName, err)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %q holds the control character %U", ErrInvalidName, name, r)
		}
	}
	if !norm.NFC.IsNormalString(name) {
		return fmt.Errorf("%w: %q is not in Unicode NFC form; use %q, which looks the same", ErrInvalidName, name, norm.NFC.String(name))
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" || c[0] == '.' || c[0] == '_' || strings.ContainsRune(c, '=') {
			return fmt.Errorf("%w: %q: component %q is reserved", ErrInvalidName, name, c)
		}
		if len(c) > MaxNameComponent {
			return fmt.Errorf("%w: component %.24q... of %q is %d bytes; at most %d (with \".parquet\" a file name holds 255)",
				ErrInvalidName, c, name, len(c), MaxNameComponent)
		}
	}
	return nil
}

// DatasetDir returns the dataset dir of name under the store root.
func DatasetDir(root, name string) string {
	return filepath.Join(root, DatasetsDir, filepath.FromSlash(name))
}

// Datasets lists the names of all datasets under the store root, sorted. A
// folder is a dataset when it has a _log subfolder; datasets may nest
// ("yahoo" and "yahoo/AAPL"). Partition folders are not searched.
func Datasets(fsys FS, root string) ([]string, error) {
	var names []string
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := fsys.ReadDir(filepath.Join(root, DatasetsDir, filepath.FromSlash(rel)))
		if errors.Is(err, os.ErrNotExist) && rel != "" {
			return nil // deleted or renamed while we walked
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if e.Name() == LogDir && rel != "" {
				names = append(names, rel)
				continue
			}
			child := path.Join(rel, e.Name())
			if CheckName(child) != nil {
				continue
			}
			if err := walk(child); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := fsys.Stat(filepath.Join(root, DatasetsDir)); errors.Is(err, os.ErrNotExist) {
		return nil, nil // a new store
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// PartitionKey returns the key of the partition holding t at granularity g
// ("year=2024", "year=2024/month=01", "year=2024/month=01/day=05"). t must
// already be in the dataset's time zone.
func PartitionKey(t time.Time, g string) string {
	y, m, d := t.Date()
	b := make([]byte, 0, len("year=0000/month=00/day=00"))
	b = append(b, "year="...)
	b = appendPad(b, y, 4)
	if g == GranularityMonth || g == GranularityDay {
		b = append(b, "/month="...)
		b = appendPad(b, int(m), 2)
	}
	if g == GranularityDay {
		b = append(b, "/day="...)
		b = appendPad(b, d, 2)
	}
	return string(b)
}

func appendPad(b []byte, v, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// KeyRange returns the half-open time range [start, end) covered by a
// partition key in loc.
func KeyRange(key string, loc *time.Location) (start, end time.Time, err error) {
	y, m, d, g, err := parseKey(key)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	start = time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc)
	switch g {
	case GranularityYear:
		end = start.AddDate(1, 0, 0)
	case GranularityMonth:
		end = start.AddDate(0, 1, 0)
	default:
		end = start.AddDate(0, 0, 1)
	}
	return start, end, nil
}

func keyGranularity(key string) (string, error) {
	_, _, _, g, err := parseKey(key)
	return g, err
}

// parseKey accepts exactly the keys PartitionKey produces.
func parseKey(key string) (y, m, d int, g string, err error) {
	parts := strings.Split(key, "/")
	m, d = 1, 1
	want := [...]struct {
		name       string
		width, max int
		dst        *int
	}{{"year", 4, 9999, &y}, {"month", 2, 12, &m}, {"day", 2, 31, &d}}
	if len(parts) > len(want) {
		return 0, 0, 0, "", fmt.Errorf("partition key %q has %d levels", key, len(parts))
	}
	for i, p := range parts {
		w := want[i]
		v, ok := strings.CutPrefix(p, w.name+"=")
		if !ok || len(v) != w.width {
			return 0, 0, 0, "", fmt.Errorf("partition key %q: level %d is not %s=<%d digits>", key, i+1, w.name, w.width)
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > w.max || (i > 0 && n == 0) || v[0] == '+' || v[0] == '-' {
			return 0, 0, 0, "", fmt.Errorf("partition key %q: bad %s %q", key, w.name, v)
		}
		*w.dst = n
	}
	if len(parts) == 3 && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() != d {
		return 0, 0, 0, "", fmt.Errorf("partition key %q: no such day", key)
	}
	return y, m, d, want[len(parts)-1].name, nil
}
