package formats

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// sniffBytes is how much of an input Open looks at to recognize it, and
// footerBytes how much of its end it looks at for a vendor footer.
const (
	sniffBytes  = 512
	footerBytes = 512
)

var (
	magicParquet = []byte("PAR1")
	magicGzip    = []byte{0x1f, 0x8b}
	magicZstd    = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicArrow   = []byte("ARROW1")
)

// Open sniffs the input and returns the right decoder: Parquet by its PAR1
// magic, gzip or zstd streams decompressed and decoded as CSV, anything else
// as CSV. Arrow/Feather, JSON and empty inputs are refused with an error
// wrapping ErrNotBars that says what was recognized.
func Open(r io.ReaderAt, size int64, opt Options) (Decoder, error) {
	head := make([]byte, min(size, sniffBytes))
	if n, err := r.ReadAt(head, 0); n < len(head) {
		return nil, fmt.Errorf("%s: reading: %w", fileName(opt), err)
	}
	if bytes.HasPrefix(head, magicParquet) {
		return OpenParquet(r, size, opt)
	}
	if size > sniffBytes {
		tail := make([]byte, min(size, footerBytes))
		if _, err := r.ReadAt(tail, size-int64(len(tail))); err == nil || err == io.EOF {
			opt.barchartTail = bytes.Contains(tail, []byte("Downloaded from Barchart"))
		}
	}
	return openStream(io.NewSectionReader(r, 0, size), head, opt, "")
}

func fileName(opt Options) string {
	if opt.File == "" {
		return "input"
	}
	return opt.File
}

// openStream decodes a byte stream whose first bytes are head; inside names
// the compression already removed, for messages.
func openStream(r io.Reader, head []byte, opt Options, inside string) (Decoder, error) {
	refuse := func(what string) error {
		return fmt.Errorf("%s: %w: %s%s; convert it to CSV or Parquet with timestamp, open, high, low, close, volume columns", fileName(opt), ErrNotBars, what, inside)
	}
	switch {
	case len(head) == 0:
		return nil, refuse("empty input (0 bytes)")
	case bytes.HasPrefix(head, magicGzip) && inside == "":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", fileName(opt), err)
		}
		return openDecompressed(zr, zr, opt, " (inside gzip)")
	case bytes.HasPrefix(head, magicZstd) && inside == "":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", fileName(opt), err)
		}
		return openDecompressed(zr, closerFunc(func() error { zr.Close(); return nil }), opt, " (inside zstd)")
	case bytes.HasPrefix(head, magicParquet):
		return nil, refuse("Parquet data inside a compressed stream (compress Parquet pages, not the file)")
	case bytes.HasPrefix(head, magicArrow):
		return nil, refuse("Arrow IPC / Feather file (ARROW1 magic)")
	case bytes.HasPrefix(head, magicGzip) || bytes.HasPrefix(head, magicZstd):
		return nil, refuse("doubly compressed data")
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\ufeff")), " \t\r\n")
	if len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		return nil, refuse("JSON document (starts with '" + string(t[0]) + "')")
	}
	if len(t) == 0 && len(head) < sniffBytes {
		return nil, refuse("blank input (only white space)")
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return nil, refuse("binary data (NUL bytes), not CSV text")
	}
	return OpenCSV(r, opt)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// openDecompressed sniffs the decompressed stream again (JSON and Feather
// are refused inside gzip too) and closes the decompressor with the decoder.
func openDecompressed(r io.Reader, c io.Closer, opt Options, inside string) (Decoder, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(sniffBytes)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		c.Close()
		return nil, fmt.Errorf("%s: decompressing: %w", fileName(opt), err)
	}
	head = append([]byte(nil), head...)
	d, err := openStream(br, head, opt, inside)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &closingDecoder{Decoder: d, c: c}, nil
}

// closingDecoder closes a decompressor along with the decoder reading it.
type closingDecoder struct {
	Decoder
	c io.Closer
}

func (d *closingDecoder) Close() error {
	err := d.Decoder.Close()
	if cerr := d.c.Close(); err == nil {
		err = cerr
	}
	return err
}
