// Package faultfs wraps a metastore.FS to fail or "crash" chosen
// operations, like pebble's vfs/errorfs. Only tests import it: it never
// ships in the bcfs binary.
package faultfs

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync"

	"bcfs/metastore"
)

// Op is a kind of filesystem operation counted by an FS. Kinds are bits so
// that one fault can target several kinds (OpLink|OpRename).
type Op uint16

const (
	OpCreate  Op = 1 << iota // Create, and OpenFile with a write flag
	OpOpen                   // Open, and read-only OpenFile
	OpRead                   // File.Read, File.ReadAt
	OpWrite                  // File.Write
	OpSync                   // File.Sync
	OpClose                  // File.Close
	OpLink                   // Link
	OpRename                 // Rename
	OpRemove                 // Remove, RemoveAll
	OpMkdir                  // MkdirAll
	OpList                   // ReadDir, Stat, File.Stat
	OpSyncDir                // SyncDir

	OpAll Op = 1<<iota - 1
)

var opNames = [...]string{"create", "open", "read", "write", "sync", "close", "link", "rename", "remove", "mkdir", "list", "syncdir"}

func (o Op) String() string {
	s := ""
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// ErrInjected is the default error returned by an injected fault.
var ErrInjected = errors.New("injected fault")

// ErrCrashed is returned by every operation after a simulated crash.
var ErrCrashed = errors.New("filesystem crashed")

// FS wraps a metastore.FS and fails the nth operation (0-based) of chosen kinds,
// like pebble's vfs/errorfs. A test first runs a scenario with no fault to
// Count the operations, then re-runs it injecting at each index in turn.
//
// In crash mode the chosen operation and every later one fail with
// ErrCrashed; a crashing Write first writes half its bytes (a torn write).
// The test then reopens the directory with OS to check recovery. Data that
// was written but not fsynced survives such a "crash", so FS checks
// ordering and error handling, not the kernel's durability.
type FS struct {
	fs metastore.FS

	mu      sync.Mutex // protects the fields below
	counts  [len(opNames)]int
	mask    Op    // kinds the pending fault targets; 0 = none
	at      int   // fault fires when this many mask ops have already run
	seen    int   // mask ops so far since the fault was armed
	err     error // error returned by the fault
	crash   bool  // the fault is a crash
	crashed bool
}

var _ metastore.FS = (*FS)(nil)

// New wraps fs with no fault armed.
func New(fs metastore.FS) *FS { return &FS{fs: fs} }

// FailAt arms a fault: the nth (0-based) operation whose kind is in mask
// fails with err (ErrInjected when nil). Later operations succeed.
func (f *FS) FailAt(mask Op, n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	f.arm(mask, n, err, false)
}

// CrashAt arms a crash at the nth (0-based) operation whose kind is in mask.
func (f *FS) CrashAt(mask Op, n int) { f.arm(mask, n, ErrCrashed, true) }

func (f *FS) arm(mask Op, n int, err error, crash bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mask, f.at, f.seen, f.err, f.crash = mask, n, 0, err, crash
}

// Count returns how many operations of the kinds in mask ran (including
// failed ones) since the FS was made or Reset.
func (f *FS) Count(mask Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, c := range f.counts {
		if mask&(1<<i) != 0 {
			n += c
		}
	}
	return n
}

// Crashed reports whether a crash fault has fired.
func (f *FS) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// Reset clears counts, the armed fault and the crashed state.
func (f *FS) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = [len(opNames)]int{}
	f.mask, f.at, f.seen, f.err, f.crash, f.crashed = 0, 0, 0, nil, false, false
}

// check counts one operation of kind op and returns whether it is the
// operation that crashes and the error it must fail with, if any.
func (f *FS) check(op Op, name string) (crashNow bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[bits.TrailingZeros16(uint16(op))]++
	if f.crashed {
		return false, fmt.Errorf("%s %s: %w", op, name, ErrCrashed)
	}
	if f.mask&op == 0 {
		return false, nil
	}
	f.seen++
	if f.seen-1 != f.at {
		return false, nil
	}
	if f.crash {
		f.crashed = true
	}
	return f.crash, fmt.Errorf("%s %s: %w", op, name, f.err)
}

func (f *FS) Create(name string) (metastore.File, error) {
	if _, err := f.check(OpCreate, name); err != nil {
		return nil, err
	}
	return f.wrap(f.fs.Create(name))
}

func (f *FS) Open(name string) (metastore.File, error) {
	if _, err := f.check(OpOpen, name); err != nil {
		return nil, err
	}
	return f.wrap(f.fs.Open(name))
}

func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (metastore.File, error) {
	op := OpOpen
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		op = OpCreate
	}
	if _, err := f.check(op, name); err != nil {
		return nil, err
	}
	return f.wrap(f.fs.OpenFile(name, flag, perm))
}

func (f *FS) wrap(file metastore.File, err error) (metastore.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *FS) Link(oldname, newname string) error {
	if _, err := f.check(OpLink, newname); err != nil {
		return err
	}
	return f.fs.Link(oldname, newname)
}

func (f *FS) Rename(oldname, newname string) error {
	if _, err := f.check(OpRename, newname); err != nil {
		return err
	}
	return f.fs.Rename(oldname, newname)
}

func (f *FS) Remove(name string) error {
	if _, err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.fs.Remove(name)
}

func (f *FS) RemoveAll(name string) error {
	if _, err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.fs.RemoveAll(name)
}

func (f *FS) MkdirAll(name string, perm os.FileMode) error {
	if _, err := f.check(OpMkdir, name); err != nil {
		return err
	}
	return f.fs.MkdirAll(name, perm)
}

func (f *FS) ReadDir(name string) ([]os.DirEntry, error) {
	if _, err := f.check(OpList, name); err != nil {
		return nil, err
	}
	return f.fs.ReadDir(name)
}

func (f *FS) Stat(name string) (os.FileInfo, error) {
	if _, err := f.check(OpList, name); err != nil {
		return nil, err
	}
	return f.fs.Stat(name)
}

func (f *FS) SyncDir(name string) error {
	if _, err := f.check(OpSyncDir, name); err != nil {
		return err
	}
	return f.fs.SyncDir(name)
}

type faultFile struct {
	metastore.File
	fs *FS
}

func (f *faultFile) Read(p []byte) (int, error) {
	if _, err := f.fs.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) Write(p []byte) (int, error) {
	crashNow, err := f.fs.check(OpWrite, f.Name())
	if err == nil {
		return f.File.Write(p)
	}
	if crashNow {
		// A torn write: the power went out halfway through.
		n, _ := f.File.Write(p[:len(p)/2])
		return n, err
	}
	return 0, err
}

func (f *faultFile) Sync() error {
	if _, err := f.fs.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Stat() (os.FileInfo, error) {
	if _, err := f.fs.check(OpList, f.Name()); err != nil {
		return nil, err
	}
	return f.File.Stat()
}

// Close always releases the underlying file so tests do not leak
// descriptors, even when it reports an injected error.
func (f *faultFile) Close() error {
	_, err := f.fs.check(OpClose, f.Name())
	cerr := f.File.Close()
	if err != nil {
		return err
	}
	return cerr
}
