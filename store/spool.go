package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spool files hold writes in flight (a mount's write handles, a merge's
// export). Each is named "<kind>-<pid>-<start>-<random><ext>", where pid
// and start (the process's start time in clock ticks since boot, field 22
// of /proc/PID/stat) name the process that owns it: a file whose owner is
// no longer running, or whose pid now belongs to a process started at
// another time, is a leftover of a crash, and the next Open removes it at
// once. Files of another naming (older bcfs) go after the grace period.
// Limits: the owner must run in the same PID namespace (and boot) as the
// process that cleans up, which holds for mounts and CLI processes on one
// machine; a spool folder shared between machines is not supported.

// selfStart is this process's start time, read once.
var selfStart = sync.OnceValue(func() uint64 {
	st, _ := procStart(os.Getpid())
	return st
})

// errZombie: the process has exited and waits to be reaped.
var errZombie = errors.New("process has exited (zombie)")

// procStart returns the start time of process pid (field 22 of
// /proc/PID/stat), or an error if it does not run: it does not exist or has
// exited (a zombie, which a killed mount's orphan stays until reaped).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// or parentheses: the fields after it follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // fields 3.. follow the name
	if len(f) <= startField {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, errZombie
	}
	return strconv.ParseUint(f[startField], 10, 64)
}

// CreateSpool creates a new spool file owned by this process. kind says
// what it holds ("write", "merge"); the name keeps the extension of source
// (".csv", ".csv.gz", ...) so that format detection by name works on it,
// but not the rest of source, so that a long dataset name never makes the
// spool name too long.
func (s *Store) CreateSpool(kind, source string) (*os.File, error) {
	ext := ""
	if base := filepath.Base(source); strings.Contains(base, ".") {
		ext = base[strings.Index(base, "."):]
		if len(ext) > 32 {
			ext = filepath.Ext(base)
		}
		if len(ext) > 32 {
			ext = ""
		}
	}
	return os.CreateTemp(s.SpoolDir(), fmt.Sprintf("%s-%d-%d-*%s", kind, os.Getpid(), selfStart(), ext))
}

// spoolOwner returns the pid and start time in a spool file's name.
func spoolOwner(name string) (pid int, start uint64, ok bool) {
	parts := strings.SplitN(name, "-", 4)
	if len(parts) != 4 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(parts[1])
	start, err2 := strconv.ParseUint(parts[2], 10, 64)
	return pid, start, err1 == nil && err2 == nil && pid > 0
}

// ownerAlive reports whether the process that made a spool file of that
// owner still runs.
func ownerAlive(pid int, start uint64) bool {
	if pid == os.Getpid() {
		return start == selfStart()
	}
	st, err := procStart(pid)
	return err == nil && st == start
}

// cleanSpool removes the spool files of processes that are gone, and the
// files of an unknown owner older than cutoff.
func (s *Store) cleanSpool(cutoff time.Time) {
	ents, _ := s.fs.ReadDir(s.SpoolDir())
	for _, e := range ents {
		pid, start, ok := spoolOwner(e.Name())
		switch {
		case ok && ownerAlive(pid, start):
			continue
		case !ok:
			if info, err := e.Info(); err != nil || !info.ModTime().Before(cutoff) {
				continue
			}
		}
		if err := s.fs.RemoveAll(filepath.Join(s.SpoolDir(), e.Name())); err == nil {
			s.log.Info("removed the spool file of a process that is gone", "file", e.Name())
		}
	}
}

// scratchUsage tracks the bytes in the scratch folder against
// Options.ScratchBytes.
type scratchUsage struct {
	mu       sync.Mutex // protects used and measured
	used     int64      // bytes on disk at the last walk, plus reservations since
	measured time.Time  // when the scratch folder was last walked
}

// scratchRemeasure is how long a measure of the scratch folder is trusted
// while the bound is not near.
const scratchRemeasure = 2 * time.Second

// ReserveScratch accounts for n more bytes written into the scratch folder,
// and refuses them with ErrScratchFull if the folder would exceed
// Options.ScratchBytes (0: no bound). The folder is measured (its files'
// allocated blocks) at most every few seconds, and again whenever the
// bound seems near, so deletes and truncates give their room back.
func (s *Store) ReserveScratch(n int64) error {
	limit := s.opt.ScratchBytes
	if limit <= 0 || n <= 0 {
		return nil
	}
	u := &s.scratch
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.measured) > scratchRemeasure || u.used+n > limit {
		used, err := diskUsage(s.ScratchDir())
		if err != nil {
			return err
		}
		u.used, u.measured = used, time.Now()
	}
	if u.used+n > limit {
		return fmt.Errorf("%w: %s holds %d bytes; %d more would pass the bound of %d (mount --scratch-mb)",
			ErrScratchFull, s.ScratchDir(), u.used, n, limit)
	}
	u.used += n
	return nil
}

// diskUsage sums the allocated bytes of the files below dir.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			} else {
				total += info.Size()
			}
		}
		return nil
	})
	return total, err
}
