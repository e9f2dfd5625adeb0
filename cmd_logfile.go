package main

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// logFile is where a mount logs: stderr, or a file that SIGHUP reopens (so
// that logrotate can move it away).
type logFile struct {
	path string
	mu   sync.Mutex // protects w and f
	w    io.Writer
	f    *os.File // nil when logging to stderr or nowhere
}

func newLogFile(path string) (*logFile, error) {
	l := &logFile{path: path, w: os.Stderr}
	if path == "" {
		return l, nil
	}
	return l, l.Reopen()
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Reopen opens the log file again by name; with no file it does nothing.
func (l *logFile) Reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f, l.w = f, f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// detachStderr stops writing to stderr once a daemon serves: its stderr is
// a file that only the starting process read. Logs without --log-file then
// go nowhere, and stray writes (a panic) to /dev/null.
func (l *logFile) detachStderr() {
	l.mu.Lock()
	if l.f == nil {
		l.w = io.Discard
	}
	l.mu.Unlock()
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		unix.Dup2(int(null.Fd()), 2)
		null.Close()
	}
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f, l.w = nil, io.Discard
	return err
}
