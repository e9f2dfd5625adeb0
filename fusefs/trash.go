package fusefs

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"bcfs/store"
)

// trashDir is .trash: one read-only JSON document per deleted dataset,
// <id>.json, saying its name, when and why it was deleted, its versions
// and rows. bcfs trash restore brings a dataset back.
type trashDir struct {
	fs.Inode
	fsys *FS
}

var (
	_ = (fs.NodeLookuper)((*trashDir)(nil))
	_ = (fs.NodeReaddirer)((*trashDir)(nil))
	_ = (fs.NodeGetattrer)((*trashDir)(nil))
)

func (d *trashDir) fill(a *fuse.Attr) { d.fsys.fillDirAttr(a, 0o555&^d.fsys.umask) }

func (d *trashDir) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.fill(&out.Attr)
	return 0
}

func (d *trashDir) entry(id string) ([]byte, syscall.Errno) {
	list, err := d.fsys.st.TrashList()
	if err != nil {
		return nil, translateError(d.fsys.log, "trash", id, err)
	}
	for _, e := range list {
		if e.ID == id {
			b, err := json.MarshalIndent(e, "", "  ")
			if err != nil {
				return nil, translateError(d.fsys.log, "trash", id, err)
			}
			return append(b, '\n'), 0
		}
	}
	return nil, syscall.ENOENT
}

func (d *trashDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	id, ok := strings.CutSuffix(name, ".json")
	if !ok {
		return nil, syscall.ENOENT
	}
	doc, errno := d.entry(id)
	if errno != 0 {
		return nil, errno
	}
	tf := &trashFile{fsys: d.fsys, doc: doc}
	tf.fill(&out.Attr)
	return d.NewInode(ctx, tf, fs.StableAttr{Mode: syscall.S_IFREG, Ino: hashIno("trashfile", id), Gen: 1}), 0
}

func (d *trashDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	list, err := d.fsys.st.TrashList()
	if err != nil {
		return nil, translateError(d.fsys.log, "readdir", store.TrashDirName, err)
	}
	out := make([]fuse.DirEntry, 0, len(list))
	for _, e := range list {
		out = append(out, fuse.DirEntry{Name: e.ID + ".json", Mode: syscall.S_IFREG, Ino: hashIno("trashfile", e.ID)})
	}
	return fs.NewListDirStream(out), 0
}

// trashFile is one entry's JSON document; entries never change.
type trashFile struct {
	fs.Inode
	fsys *FS
	doc  []byte
}

var (
	_ = (fs.NodeGetattrer)((*trashFile)(nil))
	_ = (fs.NodeOpener)((*trashFile)(nil))
)

func (t *trashFile) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | 0o444&^t.fsys.umask
	a.Nlink = 1
	a.Size = uint64(len(t.doc))
	a.SetTimes(&t.fsys.started, &t.fsys.started, &t.fsys.started)
	t.fsys.fillAttr(a)
}

func (t *trashFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	t.fill(&out.Attr)
	return 0
}

func (t *trashFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	return &bytesHandle{data: t.doc}, fuse.FOPEN_DIRECT_IO, 0
}
