package metastore

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"bcfs/backend"
)

// A mount looks a dataset's head up on every lookup once the kernel's
// one-second cache expires: a stat of the next version's manifest and of
// the current one, and the manifest itself when the head moved; a folder
// listing stats and lists every dataset folder in it. On S3 that is a HEAD,
// LIST or GET each, per name, per second. A process that watches the
// journal (PollJournal) learns of every commit anyway, so it keeps the
// listings of dataset folders and their _log folders and the manifests it
// read, and answers those stats, listings and reads from them until the
// journal names the dataset (or this process changes anything). Entries also expire after logCacheTTL, which bounds
// staleness when a journal entry was lost (a writer that crashed between
// its commit and its journal write). Processes that do not watch (the CLI)
// never cache.

// logCacheTTL bounds how long a cached _log listing is trusted.
const logCacheTTL = time.Minute

// logCacheMaxBytes bounds the manifests kept in memory.
const logCacheMaxBytes = 64 << 20

type logCache struct {
	mu       sync.Mutex // protects every field
	watching bool
	dirs     map[string]*logListing // by _log key
	bytes    int64
	// gen counts forgets, so that a listing taken while one happened is
	// not kept (it may predate the change).
	gen uint64
}

type logListing struct {
	at        time.Time
	files     map[string]backend.Info // base name -> info
	dirs      []string
	manifests map[string][]byte // base name -> content read
}

// logDirOf returns the _log key a key is or lies in, or "".
func logDirOf(key string) string {
	if !strings.HasPrefix(key, DatasetsDir+"/") {
		return ""
	}
	if path.Base(key) == LogDir {
		return key
	}
	if d := path.Dir(key); path.Base(d) == LogDir {
		return d
	}
	return ""
}

// cachedFolder reports a key whose listing is cached: a _log folder, or a
// folder under datasets/ with a dataset's name.
func cachedFolder(key string) bool {
	if logDirOf(key) == key && key != "" {
		return true
	}
	rest, ok := strings.CutPrefix(key, DatasetsDir+"/")
	return ok && CheckName(rest) == nil
}

func (o *ObjFS) startWatching() {
	o.lc.mu.Lock()
	o.lc.watching = true
	o.lc.mu.Unlock()
}

// listing returns the cached listing of a _log folder, listing it if
// needed; ok is false when the process does not watch the journal.
func (o *ObjFS) listing(logDir string) (l *logListing, ok bool, err error) {
	o.lc.mu.Lock()
	if !o.lc.watching {
		o.lc.mu.Unlock()
		return nil, false, nil
	}
	if l := o.lc.dirs[logDir]; l != nil && time.Since(l.at) < logCacheTTL {
		o.lc.mu.Unlock()
		return l, true, nil
	}
	gen := o.lc.gen
	o.lc.mu.Unlock()
	start := time.Now()
	files, dirs, err := o.b.ListDir(o.ctx, logDir)
	if err != nil {
		return nil, true, err
	}
	l = &logListing{at: start, files: map[string]backend.Info{}, dirs: dirs, manifests: map[string][]byte{}}
	for _, f := range files {
		l.files[path.Base(f.Name)] = f
	}
	o.lc.mu.Lock()
	defer o.lc.mu.Unlock()
	if o.lc.gen != gen {
		return l, true, nil
	}
	if o.lc.dirs == nil {
		o.lc.dirs = map[string]*logListing{}
	}
	o.lc.drop(logDir)
	o.lc.dirs[logDir] = l
	return l, true, nil
}

// forget drops every cached listing (this process changed something).
func (o *ObjFS) forget() {
	o.lc.mu.Lock()
	defer o.lc.mu.Unlock()
	o.lc.gen++
	o.lc.dirs, o.lc.bytes = nil, 0
}

// forgetDataset drops what is cached about a dataset that the journal
// says changed: its _log folder, its folder and the folders above it (a
// new dataset is a new entry there). A move forgets everything.
func (o *ObjFS) forgetDataset(name string, op string) {
	if op != "commit" {
		o.forget()
		return
	}
	o.lc.mu.Lock()
	defer o.lc.mu.Unlock()
	o.lc.gen++
	o.lc.drop(DatasetsDir + "/" + name + "/" + LogDir)
	for d := name; d != "." && d != "/" && d != ""; d = path.Dir(d) {
		o.lc.drop(DatasetsDir + "/" + d)
	}
}

// drop removes one listing. lc.mu held.
func (c *logCache) drop(logDir string) {
	if l := c.dirs[logDir]; l != nil {
		for _, b := range l.manifests {
			c.bytes -= int64(len(b))
		}
		delete(c.dirs, logDir)
	}
}

// cachedStat answers a stat of a cached folder or of a file in a _log
// folder.
func (o *ObjFS) cachedStat(key string) (os.FileInfo, bool, error) {
	if cachedFolder(key) {
		l, ok, err := o.listing(key)
		if !ok || err != nil {
			return nil, ok, err
		}
		if len(l.files) == 0 && len(l.dirs) == 0 {
			return nil, true, pathErr("stat", key, fs.ErrNotExist)
		}
		return objInfo{name: path.Base(key), dir: true}, true, nil
	}
	d := logDirOf(key)
	if d == "" {
		return nil, false, nil
	}
	l, ok, err := o.listing(d)
	if !ok || err != nil {
		return nil, ok, err
	}
	f, found := l.files[path.Base(key)]
	if !found {
		return nil, true, pathErr("stat", key, fs.ErrNotExist)
	}
	return objInfo{name: path.Base(key), size: f.Size, mod: f.ModTime}, true, nil
}

// cachedReadDir answers a listing of a cached folder.
func (o *ObjFS) cachedReadDir(key string) ([]os.DirEntry, bool, error) {
	if !cachedFolder(key) {
		return nil, false, nil
	}
	l, ok, err := o.listing(key)
	if !ok || err != nil {
		return nil, ok, err
	}
	if len(l.files) == 0 && len(l.dirs) == 0 {
		return nil, true, pathErr("readdir", key, fs.ErrNotExist)
	}
	out := make([]os.DirEntry, 0, len(l.files)+len(l.dirs))
	for b, f := range l.files {
		if b != FolderMarker {
			out = append(out, objInfo{name: b, size: f.Size, mod: f.ModTime})
		}
	}
	for _, d := range l.dirs {
		out = append(out, objInfo{name: d, dir: true})
	}
	sortEntries(out)
	return out, true, nil
}

// cachedManifest returns a manifest read before (or reads and keeps it).
func (o *ObjFS) cachedManifest(name, key string) (File, bool, error) {
	d := logDirOf(key)
	if d == "" || d == key {
		return nil, false, nil
	}
	if _, ok := parseManifestBase(path.Base(key)); !ok {
		return nil, false, nil
	}
	l, ok, err := o.listing(d)
	if !ok || err != nil {
		return nil, ok, err
	}
	base := path.Base(key)
	info, found := l.files[base]
	if !found {
		return nil, true, pathErr("open", name, fs.ErrNotExist)
	}
	o.lc.mu.Lock()
	data, have := l.manifests[base]
	o.lc.mu.Unlock()
	if !have {
		var err error
		data, info, err = o.b.Get(o.ctx, key, maxMetaFile)
		if err != nil {
			return nil, true, err
		}
		o.lc.mu.Lock()
		if o.lc.dirs[d] == l && o.lc.bytes+int64(len(data)) <= logCacheMaxBytes {
			l.manifests[base] = data
			o.lc.bytes += int64(len(data))
		}
		o.lc.mu.Unlock()
	}
	return &objMem{name: name, info: info, Reader: strings.NewReader(string(data))}, true, nil
}
