package fusefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

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
}

var (
	_ = (fs.NodeLookuper)((*dirNode)(nil))
	_ = (fs.NodeReaddirer)((*dirNode)(nil))
	_ = (fs.NodeGetattrer)((*dirNode)(nil))
	_ = (fs.NodeSetattrer)((*dirNode)(nil))
	_ = (fs.NodeCreater)((*dirNode)(nil))
	_ = (fs.NodeMkdirer)((*dirNode)(nil))
	_ = (fs.NodeRmdirer)((*dirNode)(nil))
	_ = (fs.NodeUnlinker)((*dirNode)(nil))
	_ = (fs.NodeRenamer)((*dirNode)(nil))
	_ = (fs.NodeSymlinker)((*dirNode)(nil))
	_ = (fs.NodeStatfser)((*dirNode)(nil))
)

const metadataDir = store.MetadataDirName

// dirEntryTimeout is how long the kernel may trust a folder, scratch or
// .metadata name. View names are not cached at all (Options.EntryTimeout
// is 0), so an open that starts after a commit returned sees it.
const dirEntryTimeout = time.Second

func (d *dirNode) scratchPath(name string) string {
	return d.fsys.ns.ScratchPath(joinPath(d.dirPath(), name))
}

func (d *dirNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fsys.fillDirAttr(&out.Attr, d.fsys.dirMode())
	d.fsys.ownerMode("dir:"+d.dirPath(), &out.Attr)
	return 0
}

// Setattr of a folder applies chmod and chown for the life of the mount
// (FS.setOwnerMode); times are the mount's.
func (d *dirNode) Setattr(ctx context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := d.fsys.writable(); errno != 0 {
		return errno
	}
	d.fsys.fillDirAttr(&out.Attr, d.fsys.dirMode())
	d.fsys.setOwnerMode("dir:"+d.dirPath(), in, &out.Attr)
	return 0
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var s syscall.Statfs_t
	if err := syscall.Statfs(d.fsys.st.Dir(), &s); err != nil {
		return translateError(d.fsys.log, "statfs", d.dirPath(), err)
	}
	out.FromStatfsT(&s)
	return 0
}

// dirPath is the folder's path from the mount root ("" for the root),
// taken from the inode tree so that it follows folder renames.
func (d *dirNode) dirPath() string {
	if d == d.fsys.root {
		return ""
	}
	return d.Path(d.fsys.root.EmbeddedInode())
}

func (d *dirNode) dirInode(ctx context.Context, p string) *fs.Inode {
	return d.NewInode(ctx, &dirNode{fsys: d.fsys},
		fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("dir", p), Gen: 1})
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	f := d.fsys
	n, err := f.ns.Classify(d.dirPath(), name)
	if err != nil {
		return nil, translateError(f.log, "lookup", joinPath(d.dirPath(), name), err)
	}
	switch n.Kind {
	case store.KindReserved:
		out.SetEntryTimeout(dirEntryTimeout)
		if name == versionsDirName {
			return f.lookupVersions(ctx, &d.Inode, out), 0
		}
		if name == metadataDir {
			ch := d.NewInode(ctx, &metaDir{fsys: f},
				fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("meta", ""), Gen: 1})
			ch.Operations().(*metaDir).fill(&out.Attr)
			return ch, 0
		}
		ch := d.NewInode(ctx, &trashDir{fsys: f},
			fs.StableAttr{Mode: syscall.S_IFDIR, Ino: hashIno("trash", ""), Gen: 1})
		ch.Operations().(*trashDir).fill(&out.Attr)
		return ch, 0
	case store.KindInvalid:
		return nil, syscall.ENOENT
	case store.KindView:
		e, err := f.st.Stat(n.Dataset)
		if err == nil {
			ch := f.viewInode(ctx, &d.Inode, e, n.View)
			ch.Operations().(*viewNode).fill(&out.Attr)
			return ch, 0
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, translateError(f.log, "lookup", n.Dataset, err)
		}
		if p := f.pendingFor(n.Dataset, n.View); p != nil {
			ch := d.NewInode(ctx, p, fs.StableAttr{Mode: syscall.S_IFREG, Ino: p.ino, Gen: 1})
			p.fill(&out.Attr)
			return ch, 0
		}
		if f.ns.Gone(n, callerOf(ctx)) {
			// The other view of a dataset this process just removed
			// (rm X.csv X.parquet, rm -r): a name it may still unlink.
			g := &goneNode{fsys: f}
			ch := d.NewInode(ctx, g, fs.StableAttr{Mode: syscall.S_IFREG, Ino: hashIno("gone", n.Path, time.Now().UnixNano()), Gen: 1})
			g.fill(&out.Attr)
			return ch, 0
		}
		return nil, syscall.ENOENT
	case store.KindFolder:
		out.SetEntryTimeout(dirEntryTimeout)
		f.fillDirAttr(&out.Attr, f.dirMode())
		f.ownerMode("dir:"+n.Path, &out.Attr)
		return d.dirInode(ctx, n.Path), 0
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
	f.shareAttr(&out.Attr)
	out.SetEntryTimeout(dirEntryTimeout)
	return d.scratchInode(ctx, &st), 0
}

func (d *dirNode) scratchInode(ctx context.Context, st *syscall.Stat_t) *fs.Inode {
	return d.NewInode(ctx, &scratchNode{LoopbackNode: fs.LoopbackNode{RootData: d.fsys.scratch}, fsys: d.fsys},
		fs.StableAttr{Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino, Gen: 1})
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	f := d.fsys
	entries, err := f.listDir(d.dirPath())
	if err != nil {
		return nil, translateError(f.log, "readdir", d.dirPath(), err)
	}
	return fs.NewListDirStream(entries), 0
}

// listDir returns the sorted entries of folder dir.
func (f *FS) listDir(dir string) ([]fuse.DirEntry, error) {
	byName := map[string]fuse.DirEntry{}
	if dir == "" {
		byName[metadataDir] = fuse.DirEntry{Name: metadataDir, Mode: syscall.S_IFDIR, Ino: hashIno("meta", "")}
		byName[versionsDirName] = fuse.DirEntry{Name: versionsDirName, Mode: syscall.S_IFDIR, Ino: hashIno("versions", "")}
		byName[store.TrashDirName] = fuse.DirEntry{Name: store.TrashDirName, Mode: syscall.S_IFDIR, Ino: hashIno("trash", "")}
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
			byName[n] = fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: f.asideIno(viewIno(e, v))}
		}
	}
	for _, p := range folders {
		_, base := splitDataset(p)
		byName[base] = fuse.DirEntry{Name: base, Mode: syscall.S_IFDIR, Ino: hashIno("dir", p)}
	}
	// Datasets being created, by the view names being written.
	for _, n := range f.ns.Creating(dir) {
		if _, ok := byName[n]; ok {
			continue
		}
		var ino uint64
		if v := store.ParseName(dir, n); v.Kind == store.KindView {
			if p := f.pendingFor(v.Dataset, v.View); p != nil {
				ino = p.ino
			}
		}
		byName[n] = fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: ino}
	}
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
	n, err := f.ns.Classify(d.dirPath(), name)
	if err != nil {
		return nil, nil, 0, translateError(f.log, "create", n.Path, err)
	}
	switch n.Kind {
	case store.KindReserved, store.KindFolder:
		return nil, nil, 0, syscall.EEXIST
	case store.KindInvalid:
		return nil, nil, 0, translateError(f.log, "create", n.Path, store.ErrInvalidName)
	case store.KindView:
		exists, restored, err := f.ns.PrepareWrite(n, callerOf(ctx))
		if err != nil {
			return nil, nil, 0, translateError(f.log, "create", n.Dataset, err)
		}
		if exists {
			e, err := f.st.Stat(n.Dataset)
			if err != nil {
				return nil, nil, 0, translateError(f.log, "create", n.Dataset, err)
			}
			if flags&syscall.O_EXCL != 0 && !restored {
				return nil, nil, 0, syscall.EEXIST
			}
			ch := f.viewInode(ctx, &d.Inode, e, n.View)
			if vn := ch.Operations().(*viewNode); vn.modes.busy() {
				// A write cannot share an inode with passthrough readers.
				f.moveAside(vn)
				ch = f.viewInode(ctx, &d.Inode, e, n.View)
			}
			version := e.Version
			if restored {
				version = 0 // a new file for the caller: its bytes start empty
			}
			fh, errno := f.newWriteHandle(n.Dataset, name, n.View, version, flags, nil)
			if errno != 0 {
				return nil, nil, 0, errno
			}
			if c, ok := fuse.FromContext(ctx); ok {
				fh.pid = c.Pid
			}
			ch.Operations().(*viewNode).addWriter(fh)
			ch.Operations().(*viewNode).fill(&out.Attr)
			return ch, fh, fuse.FOPEN_DIRECT_IO, 0
		}
		p := f.pendingNode(n.Dataset, n.View)
		ch := d.NewInode(ctx, p, fs.StableAttr{Mode: syscall.S_IFREG, Ino: p.ino, Gen: 1})
		fh, errno := f.newWriteHandle(n.Dataset, name, n.View, 0, flags, p)
		if errno != 0 {
			return nil, nil, 0, errno
		}
		p.fill(&out.Attr)
		return ch, fh, fuse.FOPEN_DIRECT_IO, 0
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
	f.shareAttr(&out.Attr)
	out.SetEntryTimeout(dirEntryTimeout)
	return d.scratchInode(ctx, &st), f.boundScratch(fs.NewLoopbackFile(fd)), 0, 0
}

// Symlink is refused everywhere in the mount: a link made through it could
// point bcfs's own file operations (scratch files) outside the store.
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := d.fsys.writable(); errno != 0 {
		return nil, errno
	}
	return nil, syscall.EPERM
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return nil, errno
	}
	n := store.ParseName(d.dirPath(), name)
	if err := f.ns.Mkdir(n); err != nil {
		return nil, translateError(f.log, "mkdir", n.Path, err)
	}
	f.fillDirAttr(&out.Attr, f.dirMode())
	out.SetEntryTimeout(dirEntryTimeout)
	return d.dirInode(ctx, n.Path), 0
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return errno
	}
	n := store.ParseName(d.dirPath(), name)
	if err := f.ns.Rmdir(n); err != nil {
		return translateError(f.log, "rmdir", n.Path, err)
	}
	return 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return errno
	}
	n, err := f.ns.Classify(d.dirPath(), name)
	if err != nil {
		return translateError(f.log, "unlink", n.Path, err)
	}
	if err := f.ns.Unlink(n, callerOf(ctx)); err != nil {
		return translateError(f.log, "unlink", n.Path, err)
	}
	return 0
}

// Rename is the namespace's (store.Namespace.Rename); this only adapts
// flags and finds the folders. View names are never cached by the kernel,
// so nothing needs invalidating.
func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	f := d.fsys
	if errno := f.writable(); errno != 0 {
		return errno
	}
	if _, ok := newParent.(*versionsDir); ok || d == f.root && name == versionsDirName {
		return syscall.EROFS
	}
	np, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EPERM // into .metadata or .trash
	}
	src, err := f.ns.Classify(d.dirPath(), name)
	if err != nil {
		return translateError(f.log, "rename", src.Path, err)
	}
	dst, err := f.ns.Classify(np.dirPath(), newName)
	if err != nil {
		return translateError(f.log, "rename", dst.Path, err)
	}
	if errno := f.beginIngest(); errno != 0 {
		return errno
	}
	_, err = f.ns.Rename(f.ctx, src, dst, callerOf(ctx), store.RenameFlags{
		NoReplace: flags&unix.RENAME_NOREPLACE != 0, Exchange: flags&unix.RENAME_EXCHANGE != 0})
	f.inflight.Done()
	if err != nil {
		return translateError(f.log, "rename", src.Path+" -> "+dst.Path, err)
	}
	return 0
}

// scratchNode is a scratch file served loopback-style; its owner is the
// mount's unless chown'ed through the mount.
type scratchNode struct {
	fs.LoopbackNode
	fsys *FS
}

var (
	_ = (fs.NodeGetattrer)((*scratchNode)(nil))
	_ = (fs.NodeSetattrer)((*scratchNode)(nil))
)

func (n *scratchNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if errno := n.LoopbackNode.Getattr(ctx, fh, out); errno != 0 {
		return errno
	}
	n.fsys.shareAttr(&out.Attr)
	n.fsys.ownerMode("scratch:"+n.Path(n.fsys.root.EmbeddedInode()), &out.Attr)
	return 0
}

// Setattr applies mode, size and times to the real file; chown applies for
// the life of the mount, as for views.
func (n *scratchNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	own := *in
	own.Valid &= fuse.FATTR_UID | fuse.FATTR_GID
	in.Valid &^= fuse.FATTR_UID | fuse.FATTR_GID
	if errno := n.LoopbackNode.Setattr(ctx, fh, in, out); errno != 0 {
		return errno
	}
	n.fsys.shareAttr(&out.Attr)
	n.fsys.setOwnerMode("scratch:"+n.Path(n.fsys.root.EmbeddedInode()), &own, &out.Attr)
	return 0
}
