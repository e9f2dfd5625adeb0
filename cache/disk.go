package cache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Views is a folder of whole rendered views on disk, bounded in bytes,
// evicting the least recently used view first. See the package doc for the
// rules; the folder may be shared by any number of processes.
type Views struct {
	dir string
	max int64

	mu      sync.Mutex      // protects filling
	filling map[string]bool // names this process is writing now

	hits, misses, fills, evictions, damaged atomic.Int64
	// incremental counts fills that started from a copy of another
	// cached view (FillWriter.CopyBase).
	incremental atomic.Int64
}

// fileID identifies a cache file and its version: a write into it changes
// its mtime, a replacement its inode.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

// ViewStats are the counters of a view cache.
type ViewStats struct {
	Dir       string `json:"dir"`
	MaxBytes  int64  `json:"max_bytes"`
	UsedBytes int64  `json:"used_bytes"`
	Files     int    `json:"files"`
	Hits      int64  `json:"hits"`
	Misses    int64  `json:"misses"`
	Fills     int64  `json:"fills"`
	// IncrementalFills counts the fills (of Fills) that copied another
	// cached view (an older version's) and wrote only the rest.
	IncrementalFills int64 `json:"incremental_fills"`
	Evictions        int64 `json:"evictions"`
	Damaged          int64 `json:"damaged"`
}

const (
	viewExt   = ".view"
	tmpPrefix = ".tmp-"
	// crcAttr holds the CRC32C of a cache file's bytes, set on the temp
	// file before the rename that publishes it.
	crcAttr = "user.bcfs.crc32c"
	// checkedAttr holds the mtime (ns) the file had when its bytes last
	// matched crcAttr: at the fill, after an fsync, or at a later check.
	// A write into the file changes its mtime, so the file is read whole
	// and checked again before it is served.
	checkedAttr = "user.bcfs.checked"
	// staleTemp is the age after which a temp file is garbage even if a
	// process with its pid runs (pids are reused).
	staleTemp = 24 * time.Hour
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenViews opens (creating) a view cache folder bounded to maxBytes. It
// fails if the folder's filesystem keeps no user extended attributes
// (where the checksums live).
func OpenViews(dir string, maxBytes int64) (*Views, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("view cache %s: bound must be > 0", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("view cache: %w", err)
	}
	probe, err := os.CreateTemp(dir, tmpPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("view cache: %w", err)
	}
	err = unix.Fsetxattr(int(probe.Fd()), crcAttr, []byte{0, 0, 0, 0}, 0)
	probe.Close()
	os.Remove(probe.Name())
	if err != nil {
		return nil, fmt.Errorf("view cache %s: the filesystem keeps no user extended attributes (for checksums): %w", dir, err)
	}
	c := &Views{dir: dir, max: maxBytes, filling: map[string]bool{}}
	c.evict(maxBytes, "")
	return c, nil
}

// Dir is the cache folder.
func (c *Views) Dir() string { return c.dir }

// Max is the bound in bytes.
func (c *Views) Max() int64 { return c.max }

// fileName is the name of key's file: a hash, so any key is a safe name.
func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:20]) + viewExt
}

// Path returns where key's file is (whether or not it exists).
func (c *Views) Path(key string) string { return filepath.Join(c.dir, fileName(key)) }

// Open returns the cached view of key, open for reading, if there is one of
// exactly size bytes whose bytes match its checksum (read whole and checked
// only if the file changed since it was last checked); nil on a miss. A
// damaged file is removed.
func (c *Views) Open(key string, size int64) *os.File {
	f := c.open(key, size)
	if f == nil {
		c.misses.Add(1)
		return nil
	}
	// Recency is the access time, set here on every hit; the mtime (part
	// of the file's identity) stays.
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, c.Path(key), []unix.Timespec{unix.NsecToTimespec(time.Now().UnixNano()), {Nsec: unix.UTIME_OMIT}}, 0)
	c.hits.Add(1)
	return f
}

// OpenBase returns the cached view of key, checked as Open checks it, to
// copy into the fill of another view that starts with it (see CopyBase).
// It is not a hit: neither the counters nor the file's recency change.
func (c *Views) OpenBase(key string, size int64) *os.File { return c.open(key, size) }

// open returns key's file if it is exactly size bytes and its bytes match
// its checksum; a damaged file is removed.
func (c *Views) open(key string, size int64) *os.File {
	name := fileName(key)
	f, err := os.Open(filepath.Join(c.dir, name))
	if err != nil {
		return nil
	}
	id, err := identify(f)
	ok := err == nil && id.size == size
	if ok && !checked(f, id) {
		if ok = checkFile(f); ok {
			_ = unix.Fsetxattr(int(f.Fd()), checkedAttr, binary.BigEndian.AppendUint64(nil, uint64(id.mtime)), 0)
		}
	}
	if !ok {
		f.Close()
		c.damaged.Add(1)
		c.removeIf(name, id)
		return nil
	}
	return f
}

// checked tells whether f's bytes matched its checksum when it had the
// mtime it has now.
func checked(f *os.File, id fileID) bool {
	b := make([]byte, 8)
	n, err := unix.Fgetxattr(int(f.Fd()), checkedAttr, b)
	return err == nil && n == 8 && int64(binary.BigEndian.Uint64(b)) == id.mtime
}

// identify returns the identity of an open file.
func identify(f *os.File) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, err
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano()}, nil
}

// checkFile reads f whole and compares its CRC32C with the one recorded.
func checkFile(f *os.File) bool {
	want := make([]byte, 4)
	if n, err := unix.Fgetxattr(int(f.Fd()), crcAttr, want); err != nil || n != 4 {
		return false
	}
	h := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, 1<<62), make([]byte, 1<<20)); err != nil {
		return false
	}
	return binary.BigEndian.Uint32(want) == h.Sum32()
}

// removeIf removes name if it is still the file identified by id (another
// process may have replaced it with a good one meanwhile).
func (c *Views) removeIf(name string, id fileID) {
	p := filepath.Join(c.dir, name)
	var st syscall.Stat_t
	if syscall.Stat(p, &st) == nil && (id == fileID{} || st.Ino == id.ino && st.Dev == id.dev) {
		os.Remove(p)
	}
}

// ErrTooBig is returned by Fill for a view larger than the whole cache.
var ErrTooBig = errors.New("view larger than the cache bound")

// Fill writes key's view of size bytes into the cache with write, unless it
// is there already or this process is writing it: into a temp file first,
// its checksum set, then renamed into place, and least recently used views
// evicted to stay under the bound. ctx cancels it; a failed fill leaves
// nothing behind. write gets w and the temp file tmp that w writes to,
// unbuffered: the bytes w took can be read back from tmp (pread) while the
// fill runs; tmp is closed when Fill returns.
func (c *Views) Fill(ctx context.Context, key string, size int64, write func(tmp *os.File, w *FillWriter) error) error {
	if size > c.max {
		return ErrTooBig
	}
	name := fileName(key)
	c.mu.Lock()
	if c.filling[name] {
		c.mu.Unlock()
		return nil
	}
	c.filling[name] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.filling, name)
		c.mu.Unlock()
	}()
	final := filepath.Join(c.dir, name)
	if fi, err := os.Stat(final); err == nil && fi.Size() == size {
		return nil // there, or being replaced by another process
	}
	c.evict(c.max-size, "")
	// The folder may have been removed (deleting the cache loses nothing).
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("view cache: %w", err)
	}
	tmp, err := os.CreateTemp(c.dir, tmpPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return fmt.Errorf("view cache: %w", err)
	}
	done := false
	defer func() {
		tmp.Close()
		if !done {
			os.Remove(tmp.Name())
		}
	}()
	// Reserve the space at once: a full disk fails here, not midway.
	if err := unix.Fallocate(int(tmp.Fd()), 0, 0, size); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("view cache: %w", err)
	}
	w := &FillWriter{ctx: ctx, tmp: tmp}
	if err := write(tmp, w); err != nil {
		return err
	}
	if w.base {
		c.incremental.Add(1)
	}
	if w.n != size {
		return fmt.Errorf("view cache: wrote %d bytes of a %d-byte view", w.n, size)
	}
	// On disk before it has a name: a crash never leaves a named file
	// whose bytes were not written.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("view cache: %w", err)
	}
	id, err := identify(tmp)
	if err != nil {
		return fmt.Errorf("view cache: %w", err)
	}
	sum := binary.BigEndian.AppendUint32(nil, w.crc)
	if err := unix.Fsetxattr(int(tmp.Fd()), crcAttr, sum, 0); err != nil {
		return fmt.Errorf("view cache: %w", err)
	}
	if err := unix.Fsetxattr(int(tmp.Fd()), checkedAttr, binary.BigEndian.AppendUint64(nil, uint64(id.mtime)), 0); err != nil {
		return fmt.Errorf("view cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("view cache: %w", err)
	}
	done = true
	c.fills.Add(1)
	c.evict(c.max, name)
	return nil
}

// FillWriter writes a fill's temp file, counting and checksumming what it
// writes, and stops when the fill's context ends.
type FillWriter struct {
	ctx  context.Context
	tmp  *os.File
	crc  uint32 // CRC32C of the n bytes written
	n    int64
	base bool // the fill started with CopyBase
}

func (w *FillWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.tmp.Write(p)
	w.crc = crc32.Update(w.crc, castagnoli, p[:n])
	w.n += int64(n)
	return n, err
}

// copyChunk is how much CopyBase copies per copy_file_range call, and so
// how often it reports progress.
const copyChunk = 8 << 20

// CopyBase starts the fill with the first n bytes of base, a cached view of
// size bytes that OpenBase returned, copied by the kernel (copy_file_range:
// the bytes do not pass through bcfs), calling progress after each piece.
// The copied bytes count as what OpenBase checked only if base is still the
// file it checked (same inode, size and mtime) after the copy; otherwise,
// or if base does not match its checksum, the copy fails and so the fill.
// The checksum of the copied bytes is base's own when n is its size, and
// read from base otherwise.
func (w *FillWriter) CopyBase(base *os.File, size, n int64, progress func(int)) error {
	if w.n != 0 {
		return errors.New("view cache: CopyBase after other writes")
	}
	if n < 0 || n > size {
		return fmt.Errorf("view cache: copy of %d bytes of a %d-byte file", n, size)
	}
	id, err := identify(base)
	if err != nil || id.size != size || !checked(base, id) {
		return fmt.Errorf("view cache: %s is not the file that was checked", base.Name())
	}
	want := make([]byte, 4)
	if k, err := unix.Fgetxattr(int(base.Fd()), crcAttr, want); err != nil || k != 4 {
		return fmt.Errorf("view cache: %s: no checksum: %v", base.Name(), err)
	}
	crc := binary.BigEndian.Uint32(want)
	if n < size {
		// The checksum of the first n bytes: read, and the whole file
		// checked against its checksum on the way.
		h := crc32.New(castagnoli)
		buf := make([]byte, 1<<20)
		k, err := io.CopyBuffer(h, io.NewSectionReader(base, 0, n), buf)
		if err != nil {
			return err
		}
		crc = h.Sum32()
		rest, err := io.CopyBuffer(h, io.NewSectionReader(base, n, size-n+1), buf)
		if err != nil {
			return err
		}
		if k+rest != size || h.Sum32() != binary.BigEndian.Uint32(want) {
			return fmt.Errorf("view cache: %s does not match its checksum", base.Name())
		}
	}
	if err := copyRange(w.ctx, w.tmp, base, n, progress); err != nil {
		return err
	}
	if after, err := identify(base); err != nil || after != id {
		return fmt.Errorf("view cache: %s changed while it was copied", base.Name())
	}
	w.crc, w.n, w.base = crc, n, true
	return nil
}

// copyRange appends the first n bytes of src to dst (at dst's offset) by
// copy_file_range, or by read and write where the kernel or filesystem
// cannot, calling progress after each piece.
func copyRange(ctx context.Context, dst, src *os.File, n int64, progress func(int)) error {
	var off int64
	kernel := true
	buf := []byte(nil)
	for off < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := int(min(copyChunk, n-off))
		if kernel {
			roff := off
			k, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), nil, want, 0)
			switch {
			case err == nil && k > 0:
				off += int64(k)
				progress(k)
				continue
			case err == nil:
				return fmt.Errorf("view cache: %s ends at %d, before %d", src.Name(), off, n)
			case off == 0 && (errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)):
				kernel = false
				buf = make([]byte, 1<<20)
			default:
				return fmt.Errorf("view cache: copying %s: %w", src.Name(), err)
			}
		}
		k, err := src.ReadAt(buf[:min(want, len(buf))], off)
		if k > 0 {
			if _, err := dst.Write(buf[:k]); err != nil {
				return err
			}
			off += int64(k)
			progress(k)
		}
		if err != nil && (err != io.EOF || off < n) {
			return fmt.Errorf("view cache: copying %s: %w", src.Name(), err)
		}
	}
	return nil
}

type cacheFile struct {
	name  string
	size  int64
	atime int64
}

// scan lists the cache's views, oldest use first, and the bytes of all its
// files (temp files of fills in progress included). Temp files of dead
// processes, or older than staleTemp, are removed.
func (c *Views) scan() ([]cacheFile, int64) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, 0
	}
	var views []cacheFile
	var used int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		st, _ := info.Sys().(*syscall.Stat_t)
		switch {
		case strings.HasPrefix(e.Name(), tmpPrefix):
			if staleTempFile(e.Name(), info.ModTime()) {
				os.Remove(filepath.Join(c.dir, e.Name()))
				continue
			}
		case strings.HasSuffix(e.Name(), viewExt) && st != nil:
			views = append(views, cacheFile{name: e.Name(), size: info.Size(), atime: st.Atim.Nano()})
		}
		used += info.Size()
	}
	sort.Slice(views, func(i, j int) bool { return views[i].atime < views[j].atime })
	return views, used
}

// staleTempFile tells whether a temp file's writer is surely gone.
func staleTempFile(name string, mod time.Time) bool {
	if time.Since(mod) > staleTemp {
		return true
	}
	rest := strings.TrimPrefix(name, tmpPrefix)
	pid, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
	if err != nil || pid <= 0 {
		return true
	}
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

// evict removes views, least recently used first, until the folder holds
// at most limit bytes; it never removes keep. An open file stays readable
// after its removal.
func (c *Views) evict(limit int64, keep string) {
	views, used := c.scan()
	for _, v := range views {
		if used <= limit {
			return
		}
		if v.name == keep {
			continue
		}
		if err := os.Remove(filepath.Join(c.dir, v.name)); err == nil {
			c.evictions.Add(1)
		}
		used -= v.size
	}
}

// Stats returns the counters and what the folder holds now.
func (c *Views) Stats() ViewStats {
	views, used := c.scan()
	return ViewStats{Dir: c.dir, MaxBytes: c.max, UsedBytes: used, Files: len(views),
		Hits: c.hits.Load(), Misses: c.misses.Load(), Fills: c.fills.Load(), IncrementalFills: c.incremental.Load(),
		Evictions: c.evictions.Load(), Damaged: c.damaged.Load()}
}
