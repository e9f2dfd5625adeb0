package formats

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// The deep page check of input files (checkPageHeaders with deep set).
// parquet-go trusts two things in a page that a hostile file controls: its
// decompressors write until the compressed stream ends, whatever size the
// header declares, and its run-length decoder (definition levels and
// dictionary indexes) allocates every run a page's data declares, up to
// 2^31 values a run. A 7 KB file can so ask for gigabytes. Before
// parquet-go reads a data page of an input file, checkPage decompresses it
// into at most its declared size and counts the values its runs declare,
// which may not exceed the page's value count.

// checkPage checks one page whose compressed bytes are raw.
func checkPage(codec format.CompressionCodec, h *format.PageHeader, raw []byte, optional bool) error {
	switch h.Type {
	case format.DictionaryPage:
		_, err := decompressPage(codec, raw, int(h.UncompressedPageSize))
		return err
	case format.DataPage:
		dp, ok := h.DataPageHeader.Get()
		if !ok {
			return errors.New("data page without its header")
		}
		data, err := decompressPage(codec, raw, int(h.UncompressedPageSize))
		if err != nil {
			return err
		}
		n := int64(dp.NumValues)
		if optional && dp.DefinitionLevelEncoding == format.RLE {
			if len(data) < 4 {
				return io.ErrUnexpectedEOF
			}
			l := int64(binary.LittleEndian.Uint32(data))
			if l > int64(len(data)-4) {
				return fmt.Errorf("definition levels of %d bytes in a %d-byte page", l, len(data))
			}
			if err := checkRuns(data[4:4+l], 1, n); err != nil {
				return fmt.Errorf("definition levels: %w", err)
			}
			data = data[4+l:]
		}
		return checkIndexes(dp.Encoding, data, n)
	case format.DataPageV2:
		dp, ok := h.DataPageHeaderV2.Get()
		if !ok {
			return errors.New("data page without its header")
		}
		rl, dl := int64(dp.RepetitionLevelsByteLength), int64(dp.DefinitionLevelsByteLength)
		if rl < 0 || dl < 0 || rl+dl > int64(len(raw)) {
			return fmt.Errorf("levels of %d+%d bytes in a %d-byte page", rl, dl, len(raw))
		}
		n := int64(dp.NumValues)
		if optional {
			if err := checkRuns(raw[rl:rl+dl], 1, n); err != nil {
				return fmt.Errorf("definition levels: %w", err)
			}
		}
		data := raw[rl+dl:]
		if !dp.IsCompressed.Valid || dp.IsCompressed.V {
			var err error
			if data, err = decompressPage(codec, data, int(int64(h.UncompressedPageSize)-rl-dl)); err != nil {
				return err
			}
		}
		return checkIndexes(dp.Encoding, data, n)
	}
	return nil
}

// checkIndexes counts the dictionary indexes of a page's values.
func checkIndexes(enc format.Encoding, data []byte, n int64) error {
	if enc != format.PlainDictionary && enc != format.RLEDictionary || len(data) == 0 {
		return nil
	}
	if err := checkRuns(data[1:], int(data[0]), n); err != nil {
		return fmt.Errorf("dictionary indexes: %w", err)
	}
	return nil
}

// checkRuns counts the values of an RLE / bit-packed hybrid stream of
// bitWidth-bit values: at most n, or n rounded up to 8 for the padding of a
// bit-packed run.
func checkRuns(src []byte, bitWidth int, n int64) error {
	if bitWidth > 32 {
		return fmt.Errorf("bit width %d", bitWidth)
	}
	limit := (n + 7) &^ 7
	var count int64
	for i := 0; i < len(src); {
		u, k := binary.Uvarint(src[i:])
		if k <= 0 {
			return nil // parquet-go reports the broken header
		}
		i += k
		if u&1 == 1 {
			groups := int64(u >> 1)
			count += groups * 8
			i += int(min(groups*int64(bitWidth), int64(len(src))))
		} else {
			count += int64(u >> 1)
			i += (bitWidth + 7) / 8
		}
		if count > limit || count < 0 {
			return fmt.Errorf("runs declare more than the page's %d values", n)
		}
	}
	return nil
}

// zstdPages decodes zstd pages; DecodeAll is safe for concurrent use.
var zstdPages = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxPageBytes))
})

// decompressPage decompresses src into at most want bytes, refusing a page
// that decompresses to more.
func decompressPage(codec format.CompressionCodec, src []byte, want int) ([]byte, error) {
	if want < 0 || want > maxPageBytes {
		return nil, fmt.Errorf("page declares %d uncompressed bytes", want)
	}
	tooBig := fmt.Errorf("page decompresses to more than the %d bytes it declares", want)
	var stream io.Reader
	switch codec {
	case format.Uncompressed:
		return src, nil
	case format.Snappy:
		if n, err := s2.DecodedLen(src); err != nil || n > want {
			return nil, tooBig
		}
		return s2.Decode(nil, src)
	case format.Lz4Raw:
		dst := make([]byte, want)
		n, err := lz4.UncompressBlock(src, dst)
		if err != nil {
			return nil, fmt.Errorf("LZ4 block does not decode to %d bytes: %v", want, err)
		}
		return dst[:n], nil
	case format.Zstd:
		dec, err := zstdPages()
		if err != nil {
			return nil, err
		}
		out, err := dec.DecodeAll(src, make([]byte, 0, want))
		if err != nil {
			return nil, err
		}
		if len(out) > want {
			return nil, tooBig
		}
		return out, nil
	case format.Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		stream = zr
	case format.Brotli:
		stream = brotli.NewReader(bytes.NewReader(src))
	default:
		return nil, nil // parquet-go refuses what it cannot decode
	}
	out, err := io.ReadAll(io.LimitReader(stream, int64(want)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > want {
		return nil, tooBig
	}
	return out, nil
}
