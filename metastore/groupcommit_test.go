package metastore_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bcfs/metastore"
)

// recordSyncfs is a Syncfs that records its Syncs among the recordFS's
// operations and fails the ones listed in fail (1-based).
type recordSyncfs struct {
	r     *recordFS
	n     int
	fail  map[int]bool
	inner metastore.Syncfs
}

var errSyncfs = errors.New("syncfs: input/output error (injected)")

func (s *recordSyncfs) Sync() error {
	s.n++
	if s.fail[s.n] {
		s.r.add("syncfs failed")
		return errSyncfs
	}
	if err := s.inner.Sync(); err != nil {
		return err
	}
	s.r.add("syncfs")
	return nil
}

func (s *recordSyncfs) Close() error { return s.inner.Close() }

// groupSetup makes three datasets' dirs with version 1 prepared in each;
// with taken set, another writer has already published version 1 of
// "taken".
func groupSetup(t *testing.T, rec *recordFS, taken bool) (root string, dirs []string, ps []*metastore.Pending) {
	t.Helper()
	root = t.TempDir()
	for _, name := range []string{"a", "b", "taken"} {
		dir := filepath.Join(root, "datasets", name)
		if err := os.MkdirAll(filepath.Join(dir, metastore.LogDir), 0o755); err != nil {
			t.Fatal(err)
		}
		m := metastore.TestManifest(1)
		m.Dataset = name
		if name == "taken" && taken {
			if err := metastore.Commit(metastore.OS, dir, metastore.TestManifest(1)); err != nil {
				t.Fatal(err)
			}
		}
		p, err := metastore.Prepare(rec, dir, m)
		if err != nil {
			t.Fatal(err)
		}
		dirs, ps = append(dirs, dir), append(ps, p)
	}
	return root, dirs, ps
}

// TestPublishGroup: PublishGroup syncs the filesystem once before the first
// link and once after the last, publishes every dataset's version, and
// leaves no temp manifest.
func TestPublishGroup(t *testing.T) {
	rec := &recordFS{FS: metastore.OS}
	root, dirs, ps := groupSetup(t, rec, false)
	inner, err := metastore.DirFS(root).(metastore.SyncfsOpener).OpenSyncfs(root)
	if err != nil {
		t.Fatal(err)
	}
	sfs := &recordSyncfs{r: rec, inner: inner}
	defer sfs.Close()
	rec.ops = nil
	for i, err := range metastore.PublishGroup(rec, sfs, ps) {
		if err != nil {
			t.Errorf("dataset %d: %v", i, err)
		}
	}
	var kinds []string
	for _, op := range rec.ops {
		kinds = append(kinds, strings.Fields(op)[0])
	}
	if want := []string{"syncfs", "link", "link", "link", "syncfs"}; !slices.Equal(kinds, want) {
		t.Errorf("operations %q, want %q", rec.ops, want)
	}
	for _, dir := range dirs {
		if head, err := metastore.Head(metastore.OS, dir); err != nil || head.Version != 1 || head.Dataset != filepath.Base(dir) {
			t.Errorf("%s: head %+v, %v", dir, head, err)
		}
		metastore.AssertNoTemps(t, dir)
	}
}

// TestPublishGroupFailures: a failing first syncfs publishes none of the
// group and reports it for each; a conflict fails only its dataset; a
// failing second syncfs leaves every version published but not durable.
func TestPublishGroupFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		taken bool
		fail  int // which Sync fails (0: none)
		// want per dataset: "" published and durable, else the sentinel
		want []error
		ok   []bool // version published
	}{
		{"first syncfs fails", false, 1, []error{errSyncfs, errSyncfs, errSyncfs}, []bool{false, false, false}},
		{"conflict", true, 0, []error{nil, nil, metastore.ErrConflict}, []bool{true, true, false}},
		{"second syncfs fails", false, 2, []error{metastore.ErrNotDurable, metastore.ErrNotDurable, metastore.ErrNotDurable}, []bool{true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordFS{FS: metastore.OS}
			root, dirs, ps := groupSetup(t, rec, tc.taken)
			inner, err := metastore.OS.(metastore.SyncfsOpener).OpenSyncfs(root)
			if err != nil {
				t.Fatal(err)
			}
			sfs := &recordSyncfs{r: rec, inner: inner, fail: map[int]bool{tc.fail: true}}
			defer sfs.Close()
			errs := metastore.PublishGroup(rec, sfs, ps)
			for i, dir := range dirs {
				switch {
				case tc.want[i] == nil && errs[i] != nil:
					t.Errorf("%s: %v", dir, errs[i])
				case tc.want[i] != nil && !errors.Is(errs[i], tc.want[i]):
					t.Errorf("%s: error %v, want %v", dir, errs[i], tc.want[i])
				case errs[i] != nil && !strings.Contains(errs[i].Error(), dir):
					t.Errorf("error %q does not name %s", errs[i], dir)
				}
				if tc.want[i] == errSyncfs && (errors.Is(errs[i], metastore.ErrConflict) || errors.Is(errs[i], metastore.ErrNotDurable)) {
					t.Errorf("%s: a failed syncfs reported as %v", dir, errs[i])
				}
				head, err := metastore.Head(metastore.OS, dir)
				if filepath.Base(dir) == "taken" && tc.taken {
					if err != nil || head.Dataset != "yahoo/AAPL" {
						t.Errorf("the other writer's version was replaced: %+v, %v", head, err)
					}
				} else if published := err == nil && head.Dataset == filepath.Base(dir); published != tc.ok[i] {
					t.Errorf("%s: published %v, want %v (head %+v, %v)", dir, published, tc.ok[i], head, err)
				}
				metastore.AssertNoTemps(t, dir)
			}
			if tc.fail == 1 && slices.ContainsFunc(rec.ops, func(op string) bool { return strings.HasPrefix(op, "link ") }) {
				t.Errorf("linked after a failed syncfs: %q", rec.ops)
			}
		})
	}
}
