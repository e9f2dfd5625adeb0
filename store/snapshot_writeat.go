package store

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"bcfs/formats"
)

// WriteViewAt writes all of view v into w at offsets off to off+Size(v),
// the way WriteTo writes it to a stream, and returns how many bytes it
// wrote. For a file it is the faster way: the CSV view is rendered on
// every core, each row group in pieces of about csvPiece bytes that are
// written at their place in the view as soon as they are rendered, while
// they are still in the core's cache, with no writer goroutine copying
// them in order. Memory is one piece and one decoded row group per core.
// The bytes land out of order: a reader of w sees the whole view only once
// WriteViewAt has returned without error.
func (sn *Snapshot) WriteViewAt(v View, w io.WriterAt, off int64) (int64, error) {
	if sn.released.Load() {
		return 0, errReleased
	}
	if v != ViewCSV {
		return sn.WriteTo(v, io.NewOffsetWriter(w, off))
	}
	n, err := sn.writeCSVAt(w, off)
	return n, sn.failed(err)
}

// csvPiece is about how many bytes of a row group's CSV rendering
// writeCSVAt renders before writing them: small enough to stay in a core's
// L2 cache between rendering and the write's copy into the page cache, big
// enough that the system calls cost little.
const csvPiece = 128 << 10

func (sn *Snapshot) writeCSVAt(w io.WriterAt, off int64) (int64, error) {
	var written atomic.Int64
	n, err := w.WriteAt(sn.header, off)
	written.Add(int64(n))
	if err != nil {
		return written.Load(), err
	}
	var (
		next    atomic.Int64 // the next row group to render
		errOnce sync.Once
		first   error
		failed  atomic.Bool
		wg      sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc renderScratch
			for !failed.Load() {
				k := int(next.Add(1) - 1)
				if k >= len(sn.chunks) {
					return
				}
				if err := sn.writeChunkAt(&sc, k, w, off, &written); err != nil {
					errOnce.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return written.Load(), first
}

// writeChunkAt renders row group k of the view in pieces of about
// csvPiece bytes and writes each at its place in w (the view starts at
// off). A row group whose rendering is not the length its manifest
// records is refused before any byte of it lands outside its place.
func (sn *Snapshot) writeChunkAt(sc *renderScratch, k int, w io.WriterAt, off int64, written *atomic.Int64) error {
	c := sn.chunks[k]
	b, err := sn.decode(sc, c)
	if err != nil {
		return err
	}
	rows := b.Len()
	step := rows
	if c.csvLen > csvPiece {
		step = max(1, int(int64(rows)*csvPiece/c.csvLen))
	}
	at, end := off+sn.starts[k], off+sn.starts[k]+c.csvLen
	for i := 0; i < rows; i += step {
		sc.buf = formats.AppendCSVRowsZone(sc.buf[:0], b.Slice(i, min(i+step, rows)), sn.loc)
		if at+int64(len(sc.buf)) > end {
			break
		}
		n, err := w.WriteAt(sc.buf, at)
		written.Add(int64(n))
		if err != nil {
			return err
		}
		at += int64(n)
	}
	if at != end {
		return fmt.Errorf("%w: %s row group %d renders other than the %d CSV bytes the manifest says",
			ErrCorrupt, sn.abs[c.part], c.rg, c.csvLen)
	}
	return nil
}
