package cache

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestChunksHitMissAndSingleRender(t *testing.T) {
	ch, err := New(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var renders atomic.Int64
	render := func() ([]byte, error) {
		renders.Add(1)
		return []byte("hello"), nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := ch.Get("k", render)
			if err != nil || !bytes.Equal(b, []byte("hello")) {
				t.Errorf("Get = %q, %v", b, err)
			}
		}()
	}
	wg.Wait()
	ch.Wait()
	if _, err := ch.Get("k", render); err != nil {
		t.Fatal(err)
	}
	s := ch.Stats()
	if s.Hits < 1 {
		t.Errorf("hits = %d, want >= 1 after the key was cached", s.Hits)
	}
	if s.Hits+s.Misses != 9 {
		t.Errorf("hits+misses = %d, want 9", s.Hits+s.Misses)
	}
	if renders.Load() > s.Misses {
		t.Errorf("renders %d > misses %d", renders.Load(), s.Misses)
	}
	if s.Bytes != 5 {
		t.Errorf("bytes = %d, want 5", s.Bytes)
	}
}

func TestChunksErrorNotCached(t *testing.T) {
	ch, err := New(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	boom := errors.New("boom")
	if _, err := ch.Get("k", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	b, err := ch.Get("k", func() ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(b) != "ok" {
		t.Fatalf("after error: %q, %v", b, err)
	}
}

func TestChunksBoundedBytes(t *testing.T) {
	const max = 64 << 10
	ch, err := New(max)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	for i := 0; i < 200; i++ {
		if _, err := ch.Get(fmt.Sprint(i), func() ([]byte, error) { return make([]byte, 4<<10), nil }); err != nil {
			t.Fatal(err)
		}
		ch.Wait()
	}
	if s := ch.Stats(); s.Bytes > max {
		t.Errorf("cached bytes %d exceed bound %d", s.Bytes, max)
	}
}
