package cache

import (
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Chunks is a byte-bounded cache of rendered chunks. The zero value is not
// usable; call New.
type Chunks struct {
	c      *ristretto.Cache[string, []byte]
	group  singleflight.Group
	hits   atomic.Int64
	misses atomic.Int64
	max    int64
}

// Stats are the counters shown in .metadata/cache.json.
type Stats struct {
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Bytes     int64 `json:"bytes"`
	Entries   int64 `json:"entries"`
	MaxBytes  int64 `json:"max_bytes"`
	Evictions int64 `json:"evictions"`
}

// New returns a cache holding at most maxBytes of chunk bytes.
func New(maxBytes int64) (*Chunks, error) {
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	// Chunks are ~1-10 MB, so few entries: ten counters per expected entry,
	// with a floor so small caches still admit.
	counters := maxBytes / (64 << 10) * 10
	if counters < 1000 {
		counters = 1000
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		BufferItems: 64,
		Metrics:     true,
		// Cost is the chunk length only, so --cache-mb means bytes of chunks.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &Chunks{c: c, max: maxBytes}, nil
}

// Get returns the chunk for key, calling render on a miss. Concurrent misses
// on one key share one render. The returned slice must not be modified.
func (ch *Chunks) Get(key string, render func() ([]byte, error)) ([]byte, error) {
	if b, ok := ch.c.Get(key); ok {
		ch.hits.Add(1)
		return b, nil
	}
	ch.misses.Add(1)
	v, err, _ := ch.group.Do(key, func() (any, error) {
		b, err := render()
		if err != nil {
			return nil, err
		}
		ch.c.Set(key, b, int64(len(b)))
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// Stats returns the current counters.
func (ch *Chunks) Stats() Stats {
	m := ch.c.Metrics
	s := Stats{Hits: ch.hits.Load(), Misses: ch.misses.Load(), MaxBytes: ch.max}
	if m != nil {
		s.Bytes = int64(m.CostAdded() - m.CostEvicted())
		s.Entries = int64(m.KeysAdded() - m.KeysEvicted())
		s.Evictions = int64(m.KeysEvicted())
	}
	return s
}

// Wait blocks until pending sets are applied (ristretto admits
// asynchronously); tests use it to observe a deterministic state.
func (ch *Chunks) Wait() { ch.c.Wait() }

// Close releases the cache's goroutines.
func (ch *Chunks) Close() { ch.c.Close() }
