package fusefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"bcfs/store"
)

// dirNode is a folder of the store ("" is the mount root). Its entries are
// the views of the datasets in it, its sub-folders, the scratch files kept in
// the mirrored scratch folder and, at the root, .metadata.
type dirNode struct {
	fs.Inode
	fsys *FS
	path string // folder path relative to the root; fixed (folders are not renamed)
}

var (
	_ = (fs.NodeLookuper)((*dirNode)(nil))
	_ = (fs.NodeReaddirer)((*dirNode)(nil))
	_ = (fs.NodeGetattrer)((*dirNode)(nil))
	_ = (fs.NodeCreater)((*dirNode)(nil))
	_ = (fs.NodeMkdirer)((*dirNode)(nil))
	_ = (fs.NodeRmdirer)((*dirNode)(nil))
	_ = (fs.NodeUnlinker)((*dirNode)(nil))
	_ = (fs.NodeRenamer)((*dirNode)(nil))
	_ = (fs.NodeSymlinker)((*dirNode)(nil))
	_ = (fs.NodeStatfser)((*dirNode)(nil))
)

const metadataDir = ".metadata"

func (d *dirNode) scratchPath(name string) string {
	return filepath.Join(d.fsys.st.ScratchDir(), filepath.FromSlash(joinPath(d.path, name)))
}

func (d *dirNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fsys.fillDirAttr(&out.Attr, d.fsys.dirMode())
	return 0
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var s syscall.Statfs_t
	if err := syscall.Statfs(d.fsys.st.Dir(), &s); err != nil {
		return translateError(d.fsys.log, "statfs", d.path, err)
	}
	out.FromStatfsT(&s)
	return 0
}

// folderExists reports whether folder p exists in the store (reading only
// p, not every folder).
func (f *FS) folderExists(p string) (bool, error) { return f.st.FolderExists(p) }

func (d *dirNode) dirInode(ctx context.Context, p string) *fs.Inode {
	return d.NewInode(ctx, &dirNode{fsys: d.fsys, path: p},
		fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("dir", p), Gen: 1})
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	f := d.fsys
	if d.path == "" && name == metadataDir {
		ch := d.NewInode(ctx, &metaDir{fsys: f},
			fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("meta", ""), Gen: 1})
		ch.Operations().(*metaDir).fill(&out.Attr)
		return ch, 0
	}
	if d.path == "" && name == versionsDirName {
		return f.lookupVersions(ctx, &d.Inode, out), 0
	}
	kind, ds, view := classify(d.path, name)
	switch kind {
	case kindInvalid:
		return nil, syscall.ENOENT
	case kindView:
		e, err := f.st.Stat(ds)
		if err == nil {
			ch := f.viewInode(ctx, &d.Inode, e, view)
			ch.Operations().(*viewNode).fill(&out.Attr)
			return ch, 0
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, translateError(f.log, "lookup", ds, err)
		}
		if p := f.pendingFor(ds, view); p != nil {
			ch := d.NewInode(ctx, p, fs.StableAttr{Mode: syscall.S_IFREG, Ino: p.ino, Gen: 1})
			p.fill(&out.Attr)
			return ch, 0
		}
		return nil, syscall.ENOENT
	}
	child := joinPath(d.path, name)
	if store.ValidName(child) == nil {
		ok, err := f.folderExists(child)
		if err != nil {
			return nil, translateError(f.log, "lookup", child, err)
		}
		if ok {
			f.fillDirAttr(&out.Attr, f.dirMode())
			return d.dirInode(ctx, child), 0
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(d.scratchPath(name), &st); err != nil {
		return nil, syscall.ENOENT
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		// A mirror folder left after its store folder was removed.
		return nil, syscall.ENOENT
	}
	out.FromStat(&st)
	return d.scratchInode(ctx, &st), 0
}

func (d *dirNode) scratchInode(ctx context.Context, st *syscall.Stat_t) *fs.Inode {
	return d.NewInode(ctx, &fs.LoopbackNode{RootData: d.fsys.scratch},
		fs.StableAttr{Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino, Gen: 1})
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	f := d.fsys
	entries, err := f.listDir(d.path)
	if err != nil {
		return nil, translateError(f.log, "readdir", d.path, err)
	}
	return fs.NewListDirStream(entries), 0
}

// listDir returns the sorted entries of folder dir.
func (f *FS) listDir(dir string) ([]fuse.DirEntry, error) {
	byName := map[string]fuse.DirEntry{}
	if dir == "" {
		byName[metadataDir] = fuse.DirEntry{Name: metadataDir, Mode: syscall.S_IFDIR, Ino: hashIno("meta", "")}
		byName[versionsDirName] = fuse.DirEntry{Name: versionsDirName, Mode: syscall.S_IFDIR, Ino: hashIno("versions", "")}
	}
	// One folder of the store, not a listing of every dataset: find and
	// ls -lR read every folder.
	list, folders, err := f.st.ListFolder(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		_, base := splitDataset(e.Name)
		for _, v := range []store.View{store.ViewCSV, store.ViewParquet} {
			n := base + v.Ext()
			byName[n] = fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: viewIno(e, v)}
		}
	}
	for _, p := range folders {
		_, base := splitDataset(p)
		byName[base] = fuse.DirEntry{Name: base, Mode: syscall.S_IFDIR, Ino: hashIno("dir", p)}
	}
	f.mu.Lock()
	for ds, p := range f.pending {
		parent, base := splitDataset(ds)
		n := base + p.view.Ext()
		if _, ok := byName[n]; !ok && parent == dir {
			byName[n] = fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: p.ino}
		}
	}
	f.mu.Unlock()
	scratch, err := os.ReadDir(filepath.Join(f.st.ScratchDir(), filepath.FromSlash(dir)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, de := range scratch {
		if de.IsDir() {
			continue // folders come from the store
		}
		if _, ok := byName[de.Name()]; ok {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		st, _ := info.Sys().(*syscall.Stat_t)
		var ino uint64
		if st != nil {
			ino = st.Ino
		}
		byName[de.Name()] = fuse.DirEntry{Name: de.Name(), Mode: uint32(info.Mode().Type()), Ino: ino}
	}
	out := make([]fuse.DirEntry, 0, len(byName))
	for _, e := range byName {
		if e.Mode&syscall.S_IFMT == 0 && e.Mode != syscall.S_IFDIR {
			e.Mode = syscall.S_IFREG
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return nil, nil, 0, errno
	}
	if d.path == "" && name == metadataDir {
		return nil, nil, 0, syscall.EEXIST
	}
	kind, ds, view := classify(d.path, name)
	switch kind {
	case kindInvalid:
		return nil, nil, 0, syscall.EINVAL
	case kindView:
		e, err := f.st.Stat(ds)
		if err == nil {
			if flags&syscall.O_EXCL != 0 {
				return nil, nil, 0, syscall.EEXIST
			}
			ch := f.viewInode(ctx, &d.Inode, e, view)
			fh, errno := f.newWriteHandle(ds, name, flags, nil)
			if errno != 0 {
				return nil, nil, 0, errno
			}
			ch.Operations().(*viewNode).fill(&out.Attr)
			return ch, fh, fuse.FOPEN_DIRECT_IO, 0
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, 0, translateError(f.log, "create", ds, err)
		}
		p := f.pendingNode(ds, view)
		ch := d.NewInode(ctx, p, fs.StableAttr{Mode: syscall.S_IFREG, Ino: p.ino, Gen: 1})
		fh, errno := f.newWriteHandle(ds, name, flags, p)
		if errno != 0 {
			return nil, nil, 0, errno
		}
		p.fill(&out.Attr)
		return ch, fh, fuse.FOPEN_DIRECT_IO, 0
	}
	if ok, _ := f.folderExists(joinPath(d.path, name)); ok {
		return nil, nil, 0, syscall.EEXIST
	}
	p := d.scratchPath(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, nil, 0, translateError(f.log, "create", p, err)
	}
	flags = flags &^ syscall.O_APPEND // the kernel supplies append offsets
	fd, err := syscall.Open(p, int(flags)|os.O_CREATE|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, nil, 0, fs.ToErrno(err)
	}
	out.FromStat(&st)
	return d.scratchInode(ctx, &st), fs.NewLoopbackFile(fd), 0, 0
}

func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return nil, errno
	}
	if kind, _, _ := classify(d.path, name); kind != kindScratch {
		return nil, syscall.EPERM // a view name is a dataset, never a link
	}
	p := d.scratchPath(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, translateError(f.log, "symlink", p, err)
	}
	if err := syscall.Symlink(target, p); err != nil {
		return nil, fs.ToErrno(err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return nil, fs.ToErrno(err)
	}
	out.FromStat(&st)
	return d.scratchInode(ctx, &st), 0
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return nil, errno
	}
	if d.path == "" && name == metadataDir {
		return nil, syscall.EEXIST
	}
	child := joinPath(d.path, name)
	if fi, err := os.Lstat(d.scratchPath(name)); err == nil && !fi.IsDir() {
		return nil, syscall.EEXIST // a scratch file has that name
	}
	if err := f.st.Mkdir(child); err != nil {
		return nil, translateError(f.log, "mkdir", child, err)
	}
	f.fillDirAttr(&out.Attr, f.dirMode())
	return d.dirInode(ctx, child), 0
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return errno
	}
	if d.path == "" && name == metadataDir {
		return syscall.EPERM
	}
	child := joinPath(d.path, name)
	sp := d.scratchPath(name)
	if ents, err := os.ReadDir(sp); err == nil && len(ents) > 0 {
		return syscall.ENOTEMPTY // scratch files live in it
	}
	if err := f.st.Rmdir(child); err != nil {
		return translateError(f.log, "rmdir", child, err)
	}
	_ = os.Remove(sp)
	return 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return errno
	}
	kind, ds, _ := classify(d.path, name)
	switch kind {
	case kindInvalid:
		return syscall.ENOENT
	case kindView:
		if err := f.st.Delete(ds); err != nil {
			return translateError(f.log, "unlink", ds, err)
		}
		// The other view's name is still cached; the kernel holds this
		// folder's lock until we return, so tell it from a goroutine.
		go f.invalidateDataset(ds)
		return 0
	}
	if err := syscall.Unlink(d.scratchPath(name)); err != nil {
		return fs.ToErrno(err)
	}
	return 0
}

// Rename handles three cases: a dataset view onto another view name with the
// same extension renames the dataset; a scratch file onto a view name ingests
// it (the rename fails with the ingest's error); scratch onto scratch is a
// plain rename in the scratch folder.
func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return errno
	}
	if _, ok := newParent.(*versionsDir); ok || d.path == "" && name == versionsDirName {
		return syscall.EROFS
	}
	np, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EPERM // into .metadata
	}
	if d.path == "" && name == metadataDir || np.path == "" && newName == metadataDir {
		return syscall.EPERM
	}
	srcKind, srcDS, srcView := classify(d.path, name)
	dstKind, dstDS, dstView := classify(np.path, newName)
	if srcKind == kindInvalid || dstKind == kindInvalid {
		return syscall.EINVAL
	}
	if srcKind == kindScratch && store.ValidName(joinPath(d.path, name)) == nil {
		if ok, _ := f.folderExists(joinPath(d.path, name)); ok {
			return syscall.EPERM // folders cannot be renamed (yet)
		}
	}
	switch {
	case srcKind == kindView && dstKind == kindView:
		if srcView != dstView {
			return syscall.EINVAL // a.csv -> b.parquet would not convert anything
		}
		if flags&unix.RENAME_EXCHANGE != 0 {
			return syscall.EINVAL
		}
		if err := f.st.Rename(srcDS, dstDS); err != nil {
			return translateError(f.log, "rename", srcDS, err)
		}
		go func() {
			f.invalidateDataset(srcDS)
			f.invalidateDataset(dstDS)
		}()
		return 0
	case srcKind == kindView:
		// Turning a dataset into a scratch file (mv X.csv X.csv~) has no
		// meaning that keeps the rows; editors fall back to copying.
		return syscall.EPERM
	case dstKind == kindView:
		if flags != 0 {
			return syscall.EINVAL
		}
		src := d.scratchPath(name)
		fi, err := os.Lstat(src)
		if err != nil {
			return fs.ToErrno(err)
		}
		if !fi.Mode().IsRegular() {
			return syscall.EINVAL
		}
		errno := f.ingest(dstDS, src, newName)
		// The kernel moves its dentry for newName to the scratch inode;
		// once the rename returns, make it look the name up again.
		go f.invalidateDataset(dstDS)
		if errno != 0 {
			return errno
		}
		_ = os.Remove(src)
		return 0
	}
	src, dst := d.scratchPath(name), np.scratchPath(newName)
	if ok, _ := f.folderExists(joinPath(np.path, newName)); ok {
		return syscall.EISDIR
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return translateError(f.log, "rename", dst, err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, uint(flags)); err != nil {
		return fs.ToErrno(err)
	}
	return 0
}
