// Package faulty wraps a backend.Backend to inject failures in tests: a
// hook sees every operation before it runs and may fail it, for instance
// the Nth Put (a crash after N uploads) or the first tries of a request (a
// transient error that Retry must absorb). Only tests import it.
package faulty

import (
	"context"
	"errors"
	"sync"
	"time"

	"bcfs/backend"
)

// Op names an operation for the hook.
type Op string

const (
	OpOpen        Op = "open"
	OpPut         Op = "put"
	OpPutIfAbsent Op = "put-if-absent"
	OpList        Op = "list"
	OpStat        Op = "stat"
	OpDelete      Op = "delete"
)

// ErrInjected is what the helpers below inject.
var ErrInjected = errors.New("injected fault")

// Hook decides the fate of one operation: nil lets it run. n counts the
// operations of that kind so far, from 1.
type Hook func(op Op, name string, n int) error

// Backend is a backend.Backend whose operations pass through a Hook.
type Backend struct {
	backend.Backend
	hook Hook

	mu     sync.Mutex // protects counts
	counts map[Op]int
}

// New wraps b.
func New(b backend.Backend, hook Hook) *Backend {
	return &Backend{Backend: b, hook: hook, counts: map[Op]int{}}
}

// Count returns how many operations of kind op were attempted.
func (f *Backend) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

func (f *Backend) check(op Op, name string) error {
	f.mu.Lock()
	f.counts[op]++
	n := f.counts[op]
	f.mu.Unlock()
	if f.hook == nil {
		return nil
	}
	return f.hook(op, name, n)
}

func (f *Backend) Open(ctx context.Context, name string) (backend.Object, error) {
	if err := f.check(OpOpen, name); err != nil {
		return nil, err
	}
	return f.Backend.Open(ctx, name)
}

func (f *Backend) Put(ctx context.Context, name string, b backend.Blob) error {
	if err := f.check(OpPut, name); err != nil {
		return err
	}
	return f.Backend.Put(ctx, name, b)
}

func (f *Backend) PutIfAbsent(ctx context.Context, name string, b backend.Blob) error {
	if err := f.check(OpPutIfAbsent, name); err != nil {
		return err
	}
	return f.Backend.PutIfAbsent(ctx, name, b)
}

func (f *Backend) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	if err := f.check(OpList, prefix); err != nil {
		return err
	}
	return f.Backend.List(ctx, prefix, fn)
}

func (f *Backend) Stat(ctx context.Context, name string) (backend.Info, error) {
	if err := f.check(OpStat, name); err != nil {
		return backend.Info{}, err
	}
	return f.Backend.Stat(ctx, name)
}

func (f *Backend) Delete(ctx context.Context, name string) error {
	if err := f.check(OpDelete, name); err != nil {
		return err
	}
	return f.Backend.Delete(ctx, name)
}

// FailFrom fails every operation of kind op from the nth on: a process
// that dies after n-1 of them.
func FailFrom(op Op, n int) Hook {
	return func(o Op, _ string, k int) error {
		if o == op && k >= n {
			return ErrInjected
		}
		return nil
	}
}

// TransientError is an injected error that Retry retries.
type TransientError struct{ Op Op }

func (e TransientError) Error() string { return "injected transient fault in " + string(e.Op) }

// Flaky fails the first `times` operations of every kind with a
// TransientError.
func Flaky(times int) Hook {
	return func(op Op, _ string, n int) error {
		if n <= times {
			return TransientError{Op: op}
		}
		return nil
	}
}

// Retry wraps b so that operations failing with a TransientError are tried
// again, up to attempts times, waiting backoff, doubled each time: the
// policy the S3 backend's SDK retryer applies to timeouts and 5xx.
func Retry(b backend.Backend, attempts int, backoff time.Duration) backend.Backend {
	return &retrying{Backend: b, attempts: attempts, backoff: backoff}
}

type retrying struct {
	backend.Backend
	attempts int
	backoff  time.Duration
}

func (r *retrying) do(ctx context.Context, fn func() error) error {
	wait := r.backoff
	var err error
	for i := 0; i < r.attempts; i++ {
		if err = fn(); !errors.As(err, new(TransientError)) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	return err
}

func (r *retrying) Open(ctx context.Context, name string) (o backend.Object, err error) {
	err = r.do(ctx, func() (e error) { o, e = r.Backend.Open(ctx, name); return e })
	return o, err
}

func (r *retrying) Put(ctx context.Context, name string, b backend.Blob) error {
	return r.do(ctx, func() error { return r.Backend.Put(ctx, name, b) })
}

func (r *retrying) PutIfAbsent(ctx context.Context, name string, b backend.Blob) error {
	return r.do(ctx, func() error { return r.Backend.PutIfAbsent(ctx, name, b) })
}

func (r *retrying) List(ctx context.Context, prefix string, fn func(backend.Info) error) error {
	return r.do(ctx, func() error { return r.Backend.List(ctx, prefix, fn) })
}

func (r *retrying) Stat(ctx context.Context, name string) (i backend.Info, err error) {
	err = r.do(ctx, func() (e error) { i, e = r.Backend.Stat(ctx, name); return e })
	return i, err
}

func (r *retrying) Delete(ctx context.Context, name string) error {
	return r.do(ctx, func() error { return r.Backend.Delete(ctx, name) })
}
