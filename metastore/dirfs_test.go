package metastore

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestDirFS runs every operation of DirFS through openat2 and through the
// O_NOFOLLOW walk used where openat2 is missing.
func TestDirFS(t *testing.T) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "nofollow-walk"
		}
		t.Run(name, func(t *testing.T) {
			if walk {
				noOpenat2.Store(true)
				defer noOpenat2.Store(false)
			}
			t.Run("operations", testDirFSOperations)
			t.Run("symlinks", testDirFSSymlinks)
		})
	}
}

func testDirFSOperations(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	d := DirFS(root)
	p := func(rel string) string { return filepath.Join(root, rel) }
	if err := d.MkdirAll(p("a/b/c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.MkdirAll(p("a/b/c"), 0o755); err != nil {
		t.Fatalf("MkdirAll of an existing folder: %v", err)
	}
	// One new folder in an existing one, then what may not stand in for a
	// folder: a file, a symlink (to a folder).
	if err := d.MkdirAll(p("a/b/c/d"), 0o755); err != nil {
		t.Fatal(err)
	} else if fi, err := os.Lstat(p("a/b/c/d")); err != nil || !fi.IsDir() {
		t.Fatalf("a/b/c/d: %v, %v", fi, err)
	}
	if err := os.WriteFile(p("a/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.MkdirAll(p("a/file"), 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("MkdirAll of a file: %v, want ENOTDIR", err)
	}
	if err := os.Symlink(p("a/b"), p("a/link")); err != nil {
		t.Fatal(err)
	}
	if err := d.MkdirAll(p("a/link"), 0o755); !errors.Is(err, ErrSymlink) {
		t.Errorf("MkdirAll of a symlink to a folder: %v, want ErrSymlink", err)
	}
	if err := d.MkdirAll(p("a/link/new"), 0o755); !errors.Is(err, ErrSymlink) {
		t.Errorf("MkdirAll below a symlink to a folder: %v, want ErrSymlink", err)
	}
	if _, err := os.Lstat(p("a/b/new")); err == nil {
		t.Error("MkdirAll made a folder through a symlink")
	}
	if err := writeFileSync(d, p("a/b/f"), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := readFile(d, p("a/b/f"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if err := d.Link(p("a/b/f"), p("a/g")); err != nil {
		t.Fatal(err)
	}
	if err := d.Link(p("a/b/f"), p("a/g")); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Link: %v, want ErrExist", err)
	}
	if err := d.Rename(p("a/g"), p("a/b/c/h")); err != nil {
		t.Fatal(err)
	}
	if fi, err := d.Stat(p("a/b/c/h")); err != nil || fi.Size() != 5 || !fi.Mode().IsRegular() {
		t.Fatalf("Stat: %v, %v", fi, err)
	}
	if fi, err := d.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("Stat of the root: %v, %v", fi, err)
	}
	if _, err := d.Stat(p("nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat of a missing file: %v", err)
	}
	ents, err := d.ReadDir(p("a/b"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"c", "f"}) {
		t.Fatalf("ReadDir = %v", names)
	}
	if err := d.SyncDir(p("a/b")); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(p("a/b/f")); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(p("a/b/c")); err == nil {
		t.Fatal("Remove of a non-empty folder succeeded")
	}
	if err := d.RemoveAll(p("a")); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveAll(p("a")); err != nil {
		t.Fatalf("RemoveAll of a missing folder: %v", err)
	}
	if _, err := os.Stat(p("a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a survived RemoveAll: %v", err)
	}
	for _, outside := range []string{filepath.Dir(root), filepath.Join(root, "..", "x"), "/etc/passwd"} {
		if _, err := d.Open(outside); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(%s) outside the root: %v", outside, err)
		}
	}
}

// testDirFSSymlinks: a symlink inside the store, to a folder or file of a
// "victim", is never followed by any operation; the victim is untouched.
func testDirFSSymlinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "store")
	victim := filepath.Join(base, "victim")
	for _, dir := range []string{root, victim, filepath.Join(victim, "sub")} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(victim, "precious"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(root, "trash")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(victim, "precious"), filepath.Join(root, "file")); err != nil {
		t.Fatal(err)
	}
	d := DirFS(root)
	p := func(rel string) string { return filepath.Join(root, rel) }
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrSymlink) {
			t.Errorf("%s: %v, want ErrSymlink", what, err)
		}
	}
	_, err := d.Create(p("trash/new"))
	refused("Create through a symlinked folder", err)
	_, err = d.Create(p("file"))
	refused("Create of a symlinked file", err)
	_, err = d.Open(p("trash/precious"))
	refused("Open through a symlinked folder", err)
	_, err = d.Open(p("file"))
	refused("Open of a symlinked file", err)
	_, err = d.ReadDir(p("trash"))
	refused("ReadDir of a symlinked folder", err)
	_, err = d.Stat(p("trash/precious"))
	refused("Stat through a symlinked folder", err)
	refused("MkdirAll through a symlinked folder", d.MkdirAll(p("trash/sub/x"), 0o755))
	refused("MkdirAll of a symlinked folder", d.MkdirAll(p("trash"), 0o755))
	refused("Remove through a symlinked folder", d.Remove(p("trash/precious")))
	refused("RemoveAll through a symlinked folder", d.RemoveAll(p("trash/sub")))
	refused("Rename into a symlinked folder", d.Rename(p("file"), p("trash/moved")))
	refused("Link into a symlinked folder", d.Link(p("file"), p("trash/linked")))
	refused("SyncDir of a symlinked folder", d.SyncDir(p("trash")))
	if err := d.MkdirAll(p("trash/x"), 0o755); err == nil || !errors.Is(err, ErrSymlink) {
		t.Errorf("MkdirAll: %v", err)
	} else if pe := new(fs.PathError); !errors.As(err, &pe) || pe.Path != p("trash") {
		t.Errorf("the error names %q, want the symlink %s", pe.Path, p("trash"))
	}
	// RemoveAll of the symlink itself removes the link, never the target.
	if err := d.RemoveAll(p("trash")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p("trash")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the symlink survived RemoveAll: %v", err)
	}
	f, err := os.Open(filepath.Join(victim, "precious"))
	if err != nil {
		t.Fatalf("victim file: %v", err)
	}
	defer f.Close()
	if b, _ := io.ReadAll(f); string(b) != "keep" {
		t.Fatalf("victim file now holds %q", b)
	}
	ents, _ := os.ReadDir(victim)
	if len(ents) != 2 {
		t.Fatalf("victim folder changed: %v", ents)
	}
}

// TestDirFSKeptRoot: DirFS opens its root once. A root that is a symlink is
// refused; a root swapped for a symlink to a victim after the first use is
// not followed (the FS keeps the folder it opened); after Close the FS
// still works, opening root again for each call.
func TestDirFSKeptRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "store")
	victim := filepath.Join(base, "victim")
	for _, dir := range []string{root, victim} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if _, err := DirFS(link).Stat(link); !errors.Is(err, ErrSymlink) {
		t.Errorf("Stat of a root that is a symlink: %v, want ErrSymlink", err)
	}

	d := DirFS(root)
	p := func(rel string) string { return filepath.Join(root, rel) }
	if err := d.MkdirAll(p("a"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Swap the root for a symlink to the victim.
	if err := os.Rename(root, filepath.Join(base, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, root); err != nil {
		t.Fatal(err)
	}
	f, err := d.Create(p("a/new"))
	if err != nil {
		t.Fatalf("Create after the root was swapped: %v", err)
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(base, "moved", "a", "new")); err != nil {
		t.Errorf("the file is not in the folder DirFS opened: %v", err)
	}
	if ents, err := os.ReadDir(victim); err != nil || len(ents) != 0 {
		t.Errorf("victim written through the swapped root: %v %v", ents, err)
	}

	closer, ok := d.(io.Closer)
	if !ok {
		t.Fatal("DirFS is not an io.Closer")
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed: root is opened for each call, and it is now a symlink.
	if _, err := d.Stat(p("a/new")); !errors.Is(err, ErrSymlink) {
		t.Errorf("Stat after Close through a symlinked root: %v, want ErrSymlink", err)
	}
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(base, "moved"), root); err != nil {
		t.Fatal(err)
	}
	fi, err := d.Stat(p("a/new"))
	if err != nil || fi.Name() != "new" || fi.Size() != 0 || fi.IsDir() {
		t.Errorf("Stat after Close: %v %v", fi, err)
	}
	if fi, err := d.Stat(p("a")); err != nil || !fi.IsDir() || fi.Mode().Perm() == 0 {
		t.Errorf("Stat of a folder after Close: %v %v", fi, err)
	}
}

// BenchmarkDirFSStat: one Stat of a file two folders below the root, the
// lookup FUSE makes for every name. strace -c -f on the test binary counts
// the syscalls of one Stat.
func BenchmarkDirFSStat(b *testing.B) {
	root := b.TempDir()
	d := DirFS(root)
	name := filepath.Join(root, "datasets", "x", "data.csv")
	if err := d.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := d.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Stat(name); err != nil {
			b.Fatal(err)
		}
	}
}
