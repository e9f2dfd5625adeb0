package metastore

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// DiskCache keeps blocks of immutable objects (partition files) in a local
// folder, bounded in bytes, evicting the least recently used block. A block
// is CacheBlock bytes of one object (the last one shorter), fetched with
// one ranged GET on a miss and stored as <folder>/<2 hex>/<sha256 of the
// key>-<block>; a restart finds the blocks again (oldest first by mtime).
//
// The bound holds for the blocks one process keeps; two processes sharing a
// folder would each count only their own, so every mount needs its own
// --cache-dir (the default is per work folder).
type DiskCache struct {
	dir string
	max int64

	mu       sync.Mutex // protects lru, idx, used and inflight
	lru      *list.List // of *cacheBlock, most recent first
	idx      map[string]*list.Element
	used     int64
	inflight map[string]*fetchCall

	hits, misses atomic.Int64
}

// CacheBlock is the unit of the disk cache.
const CacheBlock = 4 << 20

type cacheBlock struct {
	file string // base name
	size int64
}

type fetchCall struct {
	done chan struct{}
	data []byte
	err  error
}

// OpenDiskCache opens (creating) a cache folder bounded to max bytes
// (at least one block).
func OpenDiskCache(dir string, limit int64) (*DiskCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk cache: %w", err)
	}
	c := &DiskCache{dir: dir, max: max(limit, CacheBlock), lru: list.New(), idx: map[string]*list.Element{}, inflight: map[string]*fetchCall{}}
	type found struct {
		file string
		size int64
		mod  int64
	}
	var all []found
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".tmp") {
			_ = os.Remove(p)
			return nil
		}
		if info, err := d.Info(); err == nil {
			all = append(all, found{d.Name(), info.Size(), info.ModTime().UnixNano()})
		}
		return nil
	})
	sort.Slice(all, func(i, j int) bool { return all[i].mod > all[j].mod })
	for _, f := range all {
		c.idx[f.file] = c.lru.PushBack(&cacheBlock{file: f.file, size: f.size})
		c.used += f.size
	}
	c.mu.Lock()
	c.evict()
	c.mu.Unlock()
	return c, nil
}

// Used is the bytes of blocks the cache holds; Hits and Misses count block
// lookups.
func (c *DiskCache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
func (c *DiskCache) Hits() int64   { return c.hits.Load() }
func (c *DiskCache) Misses() int64 { return c.misses.Load() }
func (c *DiskCache) Max() int64    { return c.max }
func (c *DiskCache) Dir() string   { return c.dir }

func (c *DiskCache) path(file string) string { return filepath.Join(c.dir, file[:2], file) }

// ReadAt reads p at off of the object key of the given size, block by
// block, fetching a missing block with fetch (a ranged read of the object).
func (c *DiskCache) ReadAt(key string, size int64, p []byte, off int64, fetch func(p []byte, off int64) (int, error)) (int, error) {
	if off >= size {
		return 0, io.EOF
	}
	sum := sha256.Sum256([]byte(key))
	id := hex.EncodeToString(sum[:16])
	want := min(int64(len(p)), size-off)
	var n int64
	for n < want {
		at := off + n
		b := at / CacheBlock
		blockLen := min(int64(CacheBlock), size-b*CacheBlock)
		inBlock := at - b*CacheBlock
		k, err := c.block(id+"-"+strconv.FormatInt(b, 10), p[n:want], inBlock, blockLen, func(q []byte) (int, error) {
			return fetch(q, b*CacheBlock)
		})
		n += int64(k)
		if err != nil {
			return int(n), err
		}
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// block copies what p can take of one block from inBlock on.
func (c *DiskCache) block(file string, p []byte, inBlock, blockLen int64, fetch func([]byte) (int, error)) (int, error) {
	c.mu.Lock()
	if e, ok := c.idx[file]; ok {
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		if f, err := os.Open(c.path(file)); err == nil {
			n, err := f.ReadAt(p[:min(int64(len(p)), blockLen-inBlock)], inBlock)
			f.Close()
			if err == nil || (errors.Is(err, io.EOF) && int64(n) == blockLen-inBlock) {
				c.hits.Add(1)
				return n, nil
			}
		}
		c.mu.Lock()
		c.drop(file)
	}
	call, busy := c.inflight[file]
	if !busy {
		call = &fetchCall{done: make(chan struct{})}
		c.inflight[file] = call
	}
	c.mu.Unlock()
	if !busy {
		c.misses.Add(1)
		call.data = make([]byte, blockLen)
		var n int
		n, call.err = fetch(call.data)
		if call.err == nil && int64(n) != blockLen {
			call.err = fmt.Errorf("short read: %d of %d bytes: %w", n, blockLen, io.ErrUnexpectedEOF)
		}
		if call.err == nil {
			c.store(file, call.data)
		}
		c.mu.Lock()
		delete(c.inflight, file)
		c.mu.Unlock()
		close(call.done)
	} else {
		<-call.done
	}
	if call.err != nil {
		return 0, call.err
	}
	return copy(p, call.data[inBlock:]), nil
}

// store writes a fetched block (best effort: a full disk only costs hits).
func (c *DiskCache) store(file string, data []byte) {
	final := c.path(file)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), ".tmp-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.idx[file]; !ok {
		c.idx[file] = c.lru.PushFront(&cacheBlock{file: file, size: int64(len(data))})
		c.used += int64(len(data))
	}
	c.evict()
}

// evict removes least recently used blocks until the bound holds. c.mu held.
func (c *DiskCache) evict() {
	for c.used > c.max && c.lru.Len() > 0 {
		b := c.lru.Back().Value.(*cacheBlock)
		c.drop(b.file)
	}
}

// drop forgets and deletes one block. c.mu held.
func (c *DiskCache) drop(file string) {
	e, ok := c.idx[file]
	if !ok {
		return
	}
	b := e.Value.(*cacheBlock)
	c.lru.Remove(e)
	delete(c.idx, file)
	c.used -= b.size
	_ = os.Remove(c.path(file))
}
