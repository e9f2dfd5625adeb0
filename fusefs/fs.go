package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"bcfs/cache"
	"bcfs/store"
)

// Options configure a mount.
type Options struct {
	ReadOnly   bool // every write fails with EROFS
	AllowOther bool // let other users in (mode bits are then enforced by the kernel)
	Debug      bool // log every FUSE request
	Logger     *slog.Logger
	// UID and GID own every file and folder of the mount (rclone's --uid,
	// --gid); nil means the user running the mount.
	UID, GID *uint32
	// Umask clears permission bits of everything in the mount (rclone's
	// --umask): files are 0666 and folders 0777 minus it. nil means 022.
	Umask *uint32
	// ViewCache keeps whole rendered views on disk; nil: none. An open of
	// a view of at least ViewCacheMin bytes that finds its version there
	// is served from the file, by FUSE passthrough unless NoPassthrough
	// or the kernel refuses it (then by pread); one that misses renders
	// as without it and fills the cache in the background.
	ViewCache     *cache.Views
	ViewCacheMin  int64
	NoPassthrough bool
}

// cacheTimeout bounds how long the kernel trusts attributes. View names are
// never cached (entry timeout 0): each open looks the name up, and the
// lookup reads the head, so an open that starts after a commit returned -
// by this mount, the CLI or another mount - sees it (close-to-open). View
// inodes never change, so their attributes can be cached.
const cacheTimeout = time.Second

// FS is one mounted view of a store.
type FS struct {
	st      *store.Store
	ns      *store.Namespace
	umask   uint32
	opt     Options
	log     *slog.Logger
	uid     uint32
	gid     uint32
	root    *dirNode
	scratch *fs.LoopbackRoot

	// ctx is handed to ingests; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc

	// attrMu protects attrs: chmod and chown applied through the mount.
	attrMu sync.Mutex
	attrs  map[string]ownerMode

	// mu protects pending, draining and the Add side of inflight.
	mu       sync.Mutex
	pending  map[string]*pendingNode // dataset name -> node created but not committed yet
	draining bool                    // true once Drain started: new writes get EROFS
	inflight sync.WaitGroup          // ingests running now

	started time.Time // mtime of folders, which have no commit time

	views       *cache.Views
	passthrough atomic.Bool   // the kernel takes backing files (probed at mount)
	fillSem     chan struct{} // one view cache fill at a time
	fills       sync.WaitGroup
	fillMu      sync.Mutex           // protects filling and viewFill.refs
	filling     map[string]*viewFill // by view cache key
	served      viewCounters

	// asideMu protects aside: view names moved off an inode held by
	// passthrough readers (moveAside), by viewIno to generation.
	asideMu sync.Mutex
	aside   map[uint64]uint64
}

// NewFS prepares a filesystem over st. Mount it with (*FS).Mount.
func NewFS(st *store.Store, opt Options) (*FS, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	var sst syscall.Stat_t
	if !opt.ReadOnly {
		if err := os.MkdirAll(st.ScratchDir(), 0o755); err != nil {
			return nil, fmt.Errorf("scratch folder: %w", err)
		}
		if err := os.MkdirAll(st.SpoolDir(), 0o755); err != nil {
			return nil, fmt.Errorf("spool folder: %w", err)
		}
	}
	if err := syscall.Stat(st.ScratchDir(), &sst); err != nil && !opt.ReadOnly {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &FS{
		st:      st,
		ns:      store.NewNamespace(st),
		attrs:   map[string]ownerMode{},
		umask:   0o022,
		opt:     opt,
		log:     opt.Logger,
		uid:     uint32(os.Getuid()),
		gid:     uint32(os.Getgid()),
		scratch: &fs.LoopbackRoot{Path: st.ScratchDir(), Dev: uint64(sst.Dev)},
		ctx:     ctx,
		cancel:  cancel,
		pending: make(map[string]*pendingNode),
		started: time.Now(),
		views:   opt.ViewCache,
		fillSem: make(chan struct{}, 1),
		filling: map[string]*viewFill{},
		aside:   map[uint64]uint64{},
	}
	if f.views != nil {
		st.SetViewCacheDoc(func() any {
			return struct {
				cache.ViewStats
				ViewServing
			}{f.views.Stats(), f.ViewServing()}
		})
	}
	if opt.UID != nil {
		f.uid = *opt.UID
	}
	if opt.GID != nil {
		f.gid = *opt.GID
	}
	if opt.Umask != nil {
		f.umask = *opt.Umask & 0o777
	}
	f.root = &dirNode{fsys: f}
	// The loopback scratch nodes compute their backing path relative to
	// this root, which mirrors the folder layout of the scratch folder.
	f.scratch.RootNode = f.root
	return f, nil
}

// Mount mounts a filesystem over st at mountpoint and returns the running
// server. Call Unmount on it (or use (*FS).Mount and (*FS).Drain for a
// graceful stop).
func Mount(mountpoint string, st *store.Store, opt Options) (*fuse.Server, error) {
	f, err := NewFS(st, opt)
	if err != nil {
		return nil, err
	}
	return f.Mount(mountpoint)
}

// Mount mounts f at mountpoint. As root it mounts directly (no fusermount
// needed); otherwise go-fuse falls back to fusermount3.
func (f *FS) Mount(mountpoint string) (*fuse.Server, error) {
	timeout := cacheTimeout
	var zero time.Duration // views and new datasets: never cached
	mo := fuse.MountOptions{
		FsName:        "bcfs:" + f.st.Dir(),
		Name:          "bcfs",
		AllowOther:    f.opt.AllowOther,
		Debug:         f.opt.Debug,
		DirectMount:   os.Geteuid() == 0,
		MaxBackground: 32,
		// 1 MiB requests (Linux >= 4.20) quarter the round trips of cp into
		// and cat out of the mount; read-ahead follows.
		MaxWrite:     1 << 20,
		MaxReadAhead: 1 << 20,
		// Scratch files of editors do not need xattrs; answering ENOTSUP
		// keeps ls -l from asking for security labels on each file.
		DisableXAttrs: true,
		Logger:        log.New(slogWriter{f.log}, "", 0),
	}
	// The kernel enforces the mode bits (--uid, --gid, --umask): with
	// --allow-other, other users pass only what they allow.
	mo.Options = append(mo.Options, "default_permissions")
	if f.opt.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	}
	srv, err := fs.Mount(mountpoint, f.root, &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &zero,
		AttrTimeout:     &timeout,
		NegativeTimeout: &zero,
		// Owners are filled in by the nodes (fillAttr): go-fuse's UID and
		// GID options would also replace a chown to root.
	})
	if err != nil {
		f.cancel()
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	if f.views != nil && !f.opt.NoPassthrough {
		if err := probePassthrough(srv, f.views.Dir()); err != nil {
			f.log.Info("view cache served without FUSE passthrough", "reason", err)
		} else {
			f.passthrough.Store(true)
		}
	}
	return srv, nil
}

// viewCounters count the read opens of views by how they are served.
type viewCounters struct {
	passthrough, pread, rendered atomic.Int64
	// passthroughReads counts reads that reached a passthrough handle:
	// the kernel did not take its backing file after all.
	passthroughReads atomic.Int64
	// fillReads counts reads of missed views served from the fill.
	fillReads atomic.Int64
	open      atomic.Int64 // read handles of views open now
}

// ViewServing says how this mount serves views: whether the kernel takes
// passthrough, and the read opens served by passthrough, by pread of a
// view cache file, and by rendering.
type ViewServing struct {
	Passthrough      bool  `json:"passthrough"`
	PassthroughOpens int64 `json:"passthrough_opens"`
	PreadOpens       int64 `json:"pread_opens"`
	RenderedOpens    int64 `json:"rendered_opens"`
	PassthroughReads int64 `json:"passthrough_reads"`
	FillReads        int64 `json:"fill_reads"`
	OpenReads        int64 `json:"open_reads"` // read handles open now
}

// ViewServing returns the counters of view opens.
func (f *FS) ViewServing() ViewServing {
	return ViewServing{Passthrough: f.passthrough.Load(), PassthroughOpens: f.served.passthrough.Load(),
		PreadOpens: f.served.pread.Load(), RenderedOpens: f.served.rendered.Load(),
		PassthroughReads: f.served.passthroughReads.Load(), FillReads: f.served.fillReads.Load(),
		OpenReads: f.served.open.Load()}
}

// probePassthrough tells whether the kernel takes a backing file of the
// view cache folder for passthrough (Linux 6.9+, CAP_SYS_ADMIN, a folder
// not itself on a stacked filesystem too deep).
func probePassthrough(srv *fuse.Server, dir string) error {
	f, err := os.CreateTemp(dir, ".tmp-"+strconv.Itoa(os.Getpid())+"-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	id, errno := srv.RegisterBackingFd(&fuse.BackingMap{Fd: int32(f.Fd())})
	if errno != 0 {
		return fmt.Errorf("registering a backing file: %w", errno)
	}
	if errno := srv.UnregisterBackingFd(id); errno != 0 {
		return fmt.Errorf("unregistering a backing file: %w", errno)
	}
	return nil
}

// viewKey names the content of a view in the view cache: store,
// dataset, version, commit time (a dataset deleted and made again restarts
// its versions), view kind, size, and the binary that renders it.
func (f *FS) viewKey(id viewID) string {
	return strings.Join([]string{"bcfs-view-1", renderer(), f.st.Dir(), id.dataset,
		strconv.FormatInt(id.version, 10), strconv.FormatInt(id.committed.UnixNano(), 10),
		id.view.Ext(), strconv.FormatInt(id.size, 10)}, "\x00")
}

// renderer identifies the running binary (its VCS revision, and its size
// and mtime, which change with any rebuild), so that a change of how views
// are rendered never serves a file rendered by another build.
var renderer = sync.OnceValue(func() string {
	id := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				id += s.Value + " "
			}
		}
	}
	if fi, err := os.Stat("/proc/self/exe"); err == nil {
		id += strconv.FormatInt(fi.Size(), 10) + " " + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
	}
	return id
})

// fillView returns the fill of view n into the view cache: the one
// running for key, or a new one started in the background from a snapshot
// of its own, or nil when another fill runs (a later open tries again).
// The caller holds a reference (release it). Close cancels fills.
func (f *FS) fillView(n viewID, key string) *viewFill {
	f.fillMu.Lock()
	defer f.fillMu.Unlock()
	if fl := f.filling[key]; fl != nil {
		fl.mu.Lock()
		fl.refs++
		fl.mu.Unlock()
		return fl
	}
	select {
	case f.fillSem <- struct{}{}:
	default:
		return nil
	}
	fl := &viewFill{size: n.size, refs: 2} // the caller's and the fill's
	fl.cond = sync.NewCond(&fl.mu)
	f.filling[key] = fl
	f.fills.Add(1)
	go func() {
		defer f.fills.Done()
		defer func() { <-f.fillSem }()
		ok := false
		defer func() {
			f.fillMu.Lock()
			delete(f.filling, key)
			f.fillMu.Unlock()
			fl.finish(ok)
		}()
		sn, err := f.st.Pin(n.dataset, n.version)
		if err != nil {
			return // gone meanwhile
		}
		defer sn.Release()
		if !sn.Committed().Equal(n.committed) || sn.Size(n.view) != n.size {
			return // deleted and made again meanwhile: another version
		}
		start := time.Now()
		base, baseSize, prefix := f.viewBase(sn, n)
		if base != nil {
			fl.setBase(base, prefix)
		}
		err = f.views.Fill(f.ctx, key, n.size, func(tmp *os.File, w *cache.FillWriter) error {
			if err := fl.start(tmp); err != nil {
				return err
			}
			pw := progressWriter{w, fl}
			if base == nil {
				_, err := sn.WriteTo(n.view, pw)
				return err
			}
			if err := w.CopyBase(base, baseSize, prefix, fl.progress); err != nil {
				return err
			}
			_, err := sn.WriteFrom(n.view, pw, prefix)
			return err
		})
		switch {
		case err == nil:
			ok = fl.complete()
			f.log.Debug("view cached", "dataset", n.dataset, "version", n.version, "view", n.view.Ext(), "bytes", n.size, "copied", prefix, "took", time.Since(start))
		case errors.Is(err, cache.ErrTooBig), f.ctx.Err() != nil:
		default:
			f.log.Warn("view cache fill failed", "dataset", n.dataset, "version", n.version, "view", n.view.Ext(), "err", err)
		}
	}()
	return fl
}

// baseDepth is how many versions back viewBase looks for a cached view.
const baseDepth = 8

// viewBase finds, among the baseDepth versions before sn's, the newest
// whose view n.view is in the view cache and starts as sn's does
// (Snapshot.Extends: an append after all of its files): that file, open
// and checked as a hit is, its size, and the prefix of sn's view it holds
// (all of a CSV view; a Parquet view but its footer). The fill copies the
// prefix and writes only the rest. nil if there is none.
func (f *FS) viewBase(sn *store.Snapshot, n viewID) (base *os.File, size, prefix int64) {
	v := sn.Parent()
	for i := 0; i < baseDepth && v > 0; i++ {
		m, err := f.st.Manifest(n.dataset, v)
		if err != nil {
			return nil, 0, 0 // not kept: nor are older ones
		}
		if prefix, ok := sn.Extends(n.view, m); ok {
			id := viewID{dataset: n.dataset, version: m.Version, committed: m.CommittedAt, view: n.view, size: m.CSVSize}
			if n.view == store.ViewParquet {
				id.size = m.ParquetSize
			}
			if file := f.views.OpenBase(f.viewKey(id), id.size); file != nil {
				return file, id.size, prefix
			}
		}
		v = m.Parent
	}
	return nil, 0, 0
}

// viewFill is a view being written into the view cache. Handles that
// missed the cache read what it has written so far rather than rendering
// the view a second time.
type viewFill struct {
	size int64
	cond *sync.Cond // signals progress; L is &mu
	// mu protects the fields below.
	mu      sync.Mutex
	file    *os.File // the temp file (a descriptor of its own), once writing
	written int64    // bytes of the view in file
	done    bool     // no more progress: written is final
	refs    int      // handles and the fill itself; file and base close at 0
	// base is the older version's cached view the fill copies (viewBase):
	// its bytes are the view's first prefix bytes, so reads below prefix
	// are served from it at once rather than after the copy.
	base   *os.File
	prefix int64
}

// fillLead is how far ahead of a fill a read waits for it rather than
// rendering itself.
const fillLead = 64 << 20

func (fl *viewFill) start(tmp *os.File) error {
	fd, err := unix.Dup(int(tmp.Fd()))
	if err != nil {
		return err
	}
	fl.mu.Lock()
	fl.file = os.NewFile(uintptr(fd), tmp.Name())
	fl.mu.Unlock()
	return nil
}

func (fl *viewFill) progress(n int) {
	fl.mu.Lock()
	fl.written += int64(n)
	fl.mu.Unlock()
	fl.cond.Broadcast()
}

// complete tells whether the whole view was written.
func (fl *viewFill) complete() bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.written == fl.size
}

// setBase hands the fill the cached view it copies; the fill's last
// reference closes it.
func (fl *viewFill) setBase(base *os.File, prefix int64) {
	fl.mu.Lock()
	fl.base, fl.prefix = base, prefix
	fl.mu.Unlock()
	fl.cond.Broadcast()
}

// finish ends the fill: readers stop waiting; after a failure they render
// (and read nothing more from base: the copy may have found it changed).
func (fl *viewFill) finish(ok bool) {
	fl.mu.Lock()
	fl.done = true
	if !ok {
		fl.written = 0
		fl.prefix = 0
	}
	fl.mu.Unlock()
	fl.cond.Broadcast()
	fl.release()
}

// release drops a reference; the last closes the files.
func (fl *viewFill) release() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.refs--; fl.refs > 0 {
		return
	}
	for _, f := range []**os.File{&fl.file, &fl.base} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

// readAt answers a read of n bytes at off: from the base for bytes below
// its prefix, else from the bytes the fill has written, waiting for a fill
// that is at most fillLead behind; false means render it instead. The
// result reads a descriptor that the reader's reference keeps open.
func (fl *viewFill) readAt(n int, off int64) (fuse.ReadResult, bool) {
	want := min(off+int64(n), fl.size)
	if want <= off {
		return fuse.ReadResultData(nil), true // at or past the end
	}
	fl.mu.Lock()
	for !fl.done && fl.written < want && off < fl.written+fillLead && want > fl.prefix {
		fl.cond.Wait()
	}
	var file *os.File
	switch {
	case want <= fl.prefix:
		file = fl.base
	case fl.written >= want:
		file = fl.file
	}
	fl.mu.Unlock()
	if file == nil {
		return nil, false
	}
	return fuse.ReadResultFd(file.Fd(), off, int(want-off)), true
}

// progressWriter tells a fill's readers about each write.
type progressWriter struct {
	w  io.Writer
	fl *viewFill
}

func (pw progressWriter) Write(p []byte) (int, error) {
	n, err := pw.w.Write(p)
	pw.fl.progress(n)
	return n, err
}

// Drain stops accepting writes (new write handles and ingests get EROFS) and
// waits for the ingests in flight, or for ctx to end.
func (f *FS) Drain(ctx context.Context) error {
	f.mu.Lock()
	f.draining = true
	f.mu.Unlock()
	done := make(chan struct{})
	go func() {
		f.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for ingests in flight: %w", ctx.Err())
	}
}

// Close stops notifications and cancels ingests still running. Call it after
// the server has been unmounted.
func (f *FS) Close() {
	f.cancel()
	f.fills.Wait()
}

// beginIngest registers an ingest, or refuses it while draining.
func (f *FS) beginIngest() syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.draining {
		return syscall.EROFS
	}
	f.inflight.Add(1)
	return 0
}

// writable answers the errno for an operation that would change something.
func (f *FS) writable() syscall.Errno {
	if f.opt.ReadOnly {
		return syscall.EROFS
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.draining {
		return syscall.EROFS
	}
	return 0
}

// ingest runs one ingest of the file at path into dataset name and tells the
// kernel to drop the names of the dataset's views. It must not be called with
// a lock held that a FUSE request for the same folder could need.
func (f *FS) ingest(name, path, source string) syscall.Errno {
	if errno := f.beginIngest(); errno != 0 {
		return errno
	}
	defer f.inflight.Done()
	res, err := f.st.Ingest(f.ctx, name, path, store.IngestOptions{Source: source})
	if err != nil {
		return translateError(f.log, "ingest", name, err)
	}
	f.log.Info("ingested", "dataset", name, "source", source, "version", res.Version, "committed", res.Committed)
	return 0
}

// slogWriter adapts go-fuse's *log.Logger output to slog.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimRight(string(p), "\n"), "component", "go-fuse")
	return len(p), nil
}

// fillAttr sets the fields every node shares.
func (f *FS) fillAttr(a *fuse.Attr) {
	a.Owner = fuse.Owner{Uid: f.uid, Gid: f.gid}
	a.Blksize = 1 << 16
	a.Blocks = (a.Size + 511) / 512
}

// fileMode is the permission of dataset views: writable unless read-only,
// since writing a view merges into the dataset.
func (f *FS) fileMode() uint32 {
	if f.opt.ReadOnly {
		return 0o444 &^ f.umask
	}
	return 0o666 &^ f.umask
}

// fillDirAttr sets the attributes of folders and .metadata folders.
func (f *FS) fillDirAttr(a *fuse.Attr, mode uint32) {
	a.Mode = syscall.S_IFDIR | mode
	a.Nlink = 2
	a.SetTimes(&f.started, &f.started, &f.started)
	f.fillAttr(a)
}

func (f *FS) dirMode() uint32 {
	if f.opt.ReadOnly {
		return 0o555 &^ f.umask
	}
	return 0o777 &^ f.umask
}

// shareAttr gives a scratch file the mount's owner.
func (f *FS) shareAttr(a *fuse.Attr) {
	a.Owner = fuse.Owner{Uid: f.uid, Gid: f.gid}
}

// ownerMode is a chmod or chown applied to a dataset or folder.
type ownerMode struct {
	mode     uint32 // permission bits; 0: unchanged
	uid, gid *uint32
}

// setOwnerMode applies a chmod or chown of a view (key "ds:NAME", both
// views) or folder (key "dir:PATH"): the new owner and mode show in stat
// and the kernel enforces them (default_permissions). They last as long as
// the mount (they are not stored); mount --uid, --gid and --umask set them
// for good. a holds the current attributes and is updated.
func (f *FS) setOwnerMode(key string, in *fuse.SetAttrIn, a *fuse.Attr) {
	m, okm := in.GetMode()
	u, oku := in.GetUID()
	g, okg := in.GetGID()
	if !okm && !oku && !okg {
		return
	}
	f.attrMu.Lock()
	om := f.attrs[key]
	if okm {
		om.mode = m & 0o7777
	}
	if oku {
		om.uid = &u
	}
	if okg {
		om.gid = &g
	}
	f.attrs[key] = om
	f.attrMu.Unlock()
	f.ownerMode(key, a)
}

// ownerMode applies the chmod or chown recorded for key to a.
func (f *FS) ownerMode(key string, a *fuse.Attr) {
	f.attrMu.Lock()
	om, ok := f.attrs[key]
	f.attrMu.Unlock()
	if !ok {
		return
	}
	if om.mode != 0 {
		a.Mode = a.Mode&^0o7777 | om.mode
	}
	if om.uid != nil {
		a.Uid = *om.uid
	}
	if om.gid != nil {
		a.Gid = *om.gid
	}
}
