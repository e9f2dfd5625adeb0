package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// boundedScratchFile is an open scratch file whose growth the store's
// scratch bound (store.Options.ScratchBytes) limits: a write or an
// allocation that would pass it fails with ENOSPC, as on a full disk.
type boundedScratchFile struct {
	*fs.LoopbackFile
	fsys *FS
}

var (
	_ = (fs.FileWriter)((*boundedScratchFile)(nil))
	_ = (fs.FileAllocater)((*boundedScratchFile)(nil))
	_ = (fs.FilePassthroughFder)((*boundedScratchFile)(nil))
)

// boundScratch wraps a loopback handle of a scratch file.
func (f *FS) boundScratch(fh fs.FileHandle) fs.FileHandle {
	if lf, ok := fh.(*fs.LoopbackFile); ok {
		return &boundedScratchFile{LoopbackFile: lf, fsys: f}
	}
	return fh
}

func (b *boundedScratchFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if err := b.fsys.st.ReserveScratch(int64(len(data))); err != nil {
		b.fsys.log.Warn("scratch write refused", "err", err)
		return 0, syscall.ENOSPC
	}
	return b.LoopbackFile.Write(ctx, data, off)
}

func (b *boundedScratchFile) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if err := b.fsys.st.ReserveScratch(int64(size)); err != nil {
		b.fsys.log.Warn("scratch allocation refused", "err", err)
		return syscall.ENOSPC
	}
	return b.LoopbackFile.Allocate(ctx, off, size, mode)
}

// PassthroughFd declines kernel passthrough: writes must come through
// Write to be counted.
func (b *boundedScratchFile) PassthroughFd() (int, bool) { return 0, false }

var _ = (fs.NodeOpener)((*scratchNode)(nil))

// Open opens a scratch file loopback-style, under the scratch bound.
func (n *scratchNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fuseFlags, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return n.fsys.boundScratch(fh), fuseFlags, 0
}
