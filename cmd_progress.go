package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/term"
)

// Progress lines appear only for runs longer than progressDelay and are
// redrawn every progressEvery.
const (
	progressDelay = 500 * time.Millisecond
	progressEvery = 200 * time.Millisecond
)

// progress draws "LABEL 12 MB of 780 MB (1%), 52 MB/s" on one terminal line
// while a long ingest or export runs, and erases it when stopped.
type progress struct {
	w     io.Writer
	label string
	total int64         // bytes in all; 0 when unknown
	done  *atomic.Int64 // bytes so far
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startProgress shows the progress of done against total on w if w is a
// terminal, else nothing. Call the returned function when the work ends.
func startProgress(w io.Writer, label string, total int64, done *atomic.Int64) func() {
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	return runProgress(w, label, total, done, progressDelay, progressEvery)
}

func runProgress(w io.Writer, label string, total int64, done *atomic.Int64, delay, every time.Duration) func() {
	p := &progress{w: w, label: label, total: total, done: done, start: time.Now(), stop: make(chan struct{})}
	p.wg.Add(1)
	go p.run(delay, every)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(p.stop)
			p.wg.Wait()
		})
	}
}

func (p *progress) run(delay, every time.Duration) {
	defer p.wg.Done()
	select {
	case <-p.stop:
		return
	case <-time.After(delay):
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p.draw()
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		case <-t.C:
		}
	}
}

func (p *progress) draw() {
	n := p.done.Load()
	if p.total > 0 && n > p.total {
		n = p.total
	}
	line := p.label + " " + humanize.Bytes(uint64(n))
	if p.total > 0 {
		line += fmt.Sprintf(" of %s (%d%%)", humanize.Bytes(uint64(p.total)), n*100/p.total)
	}
	if secs := time.Since(p.start).Seconds(); secs > 0 {
		line += fmt.Sprintf(", %s/s", humanize.Bytes(uint64(float64(n)/secs)))
	}
	fmt.Fprint(p.w, "\r\x1b[K"+line)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	k, err := c.w.Write(b)
	c.n.Add(int64(k))
	return k, err
}
