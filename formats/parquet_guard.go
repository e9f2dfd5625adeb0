package formats

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// checkCompressed guards the codecs whose parquet-go decoders trust
// corrupt input with memory: snappy allocates the length its block header
// claims, and LZ4_RAW doubles its buffer until the block decodes, forever on
// garbage. The page's data starts at pos in sec.
func checkCompressed(sec *io.SectionReader, pos int64, codec format.CompressionCodec, h *format.PageHeader) error {
	if codec != format.Snappy && codec != format.Lz4Raw {
		return nil
	}
	skip, want := int64(0), int64(h.UncompressedPageSize)
	if v2, ok := h.DataPageHeaderV2.Get(); ok && h.Type == format.DataPageV2 {
		if v2.IsCompressed.Valid && !v2.IsCompressed.V {
			return nil
		}
		skip = int64(v2.RepetitionLevelsByteLength) + int64(v2.DefinitionLevelsByteLength)
		want -= skip
	}
	n := int64(h.CompressedPageSize) - skip
	if skip < 0 || n < 0 || want < 0 {
		return errors.New("inconsistent page sizes")
	}
	if n == 0 {
		return nil
	}
	if codec == format.Snappy {
		var head [10]byte
		m, _ := sec.ReadAt(head[:min(n, 10)], pos+skip)
		dl, err := s2.DecodedLen(head[:m])
		if err != nil || int64(dl) > want {
			return fmt.Errorf("snappy block claims %d bytes, page %d", dl, want)
		}
		return nil
	}
	src := make([]byte, n)
	if _, err := sec.ReadAt(src, pos+skip); err != nil {
		return err
	}
	if _, err := lz4.UncompressBlock(src, make([]byte, want)); err != nil {
		return fmt.Errorf("LZ4_RAW block does not decode to %d bytes: %v", want, err)
	}
	return nil
}

// maxPageBytes bounds a page's declared sizes (the limit Arrow uses), so a
// corrupt header cannot make parquet-go allocate gigabytes.
const maxPageBytes = 256 << 20

// checkPageHeaders walks the page headers of a column chunk before
// parquet-go reads it: every page must lie inside the chunk and declare a
// sane size. It reads only the headers, and returns how many bytes reading
// the chunk holds at once: its dictionary page and its largest data page,
// each compressed and decompressed. With deep set (input files, not our
// own partitions) it also reads every page and checks it with checkPage.
func checkPageHeaders(f *parquet.File, meta *format.ColumnMetaData, deep, optional bool) (resident int64, err error) {
	// Where parquet-go starts reading the chunk (FilePages.init).
	start := meta.DataPageOffset
	if d := meta.DictionaryPageOffset; d != 0 {
		start = d
	}
	end := start + meta.TotalCompressedSize
	size := f.Size()
	if start < 4 || meta.TotalCompressedSize < 0 || end > size {
		return 0, fmt.Errorf("column chunk bytes [%d,%d) outside the %d-byte file: %w", start, end, size, errCorruptPage)
	}
	sec := io.NewSectionReader(f, start, end-start)
	rbuf := bufio.NewReaderSize(sec, 4096)
	var proto thrift.CompactProtocol
	dec := thrift.NewDecoder(proto.NewReader(rbuf))
	pos := int64(0)
	var dict, page int64
	for pos < end-start {
		var h format.PageHeader
		if err := dec.Decode(&h); err != nil {
			return 0, fmt.Errorf("page header at %d: %v: %w", start+pos, err, errCorruptPage)
		}
		cur, _ := sec.Seek(0, io.SeekCurrent)
		pos = cur - int64(rbuf.Buffered())
		if h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > end-start-pos || h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxPageBytes {
			return 0, fmt.Errorf("page at %d declares %d compressed / %d uncompressed bytes: %w", start+pos, h.CompressedPageSize, h.UncompressedPageSize, errCorruptPage)
		}
		if deep {
			raw := make([]byte, h.CompressedPageSize)
			if _, err := sec.ReadAt(raw, pos); err != nil {
				return 0, fmt.Errorf("page at %d: %v: %w", start+pos, err, errCorruptPage)
			}
			if err := checkPage(meta.Codec, &h, raw, optional); err != nil {
				return 0, fmt.Errorf("page at %d: %v: %w", start+pos, err, errCorruptPage)
			}
		} else if err := checkCompressed(sec, pos, meta.Codec, &h); err != nil {
			return 0, fmt.Errorf("page at %d: %v: %w", start+pos, err, errCorruptPage)
		}
		held := int64(h.CompressedPageSize) + int64(h.UncompressedPageSize)
		if h.Type == format.DictionaryPage {
			dict += held
		} else {
			page = max(page, held)
		}
		pos += int64(h.CompressedPageSize)
		if _, err := sec.Seek(pos, io.SeekStart); err != nil {
			return 0, err
		}
		rbuf.Reset(sec)
	}
	return dict + page, nil
}

var errCorruptPage = errors.New("corrupt column data")

// openParquetFile opens the footer, turning parquet-go panics on malformed
// input into errors. A footer longer than maxFooter bytes (0: no limit) is
// refused before it is read: its statistics can hold whole values.
func openParquetFile(r io.ReaderAt, size int64, name string, maxFooter int) (f *parquet.File, err error) {
	defer recoverParquet(name, &err)
	if size < 12 {
		return nil, fmt.Errorf("%s: %d bytes is too short for a Parquet file: %w", name, size, ErrNotBars)
	}
	var magic [4]byte
	for _, off := range []int64{0, size - 4} {
		if _, err := r.ReadAt(magic[:], off); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if string(magic[:]) == "PARE" {
			return nil, fmt.Errorf("%s: encrypted Parquet (encrypted footer) cannot be read: %w", name, ErrUnsupported)
		}
	}
	// parquet-go allocates the footer length it reads before checking it
	// against the file size; check first so a corrupt length cannot
	// allocate gigabytes.
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if string(tail[4:]) != parquetMagic {
		return nil, fmt.Errorf("%s: not a Parquet file: no PAR1 magic at the end: %w", name, ErrUnsupported)
	}
	if n := int64(binary.LittleEndian.Uint32(tail[:4])); n > size-12 {
		return nil, fmt.Errorf("%s: corrupt Parquet footer: length %d exceeds the file: %w", name, n, ErrUnsupported)
	}
	if n := int(binary.LittleEndian.Uint32(tail[:4])); maxFooter > 0 && n > maxFooter {
		return nil, fmt.Errorf("%s: %w: the Parquet footer of %d bytes is longer than the batch limit of %s (MaxBatchBytes)", name, ErrTooLarge, n, sizeText(maxFooter))
	}
	f, err = parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		if strings.Contains(err.Error(), "signed footer") || strings.Contains(err.Error(), "ecrypt") {
			return nil, fmt.Errorf("%s: encrypted Parquet cannot be read: %v: %w", name, err, ErrUnsupported)
		}
		return nil, fmt.Errorf("%s: corrupt Parquet footer: %v: %w", name, err, ErrUnsupported)
	}
	md := f.Metadata()
	if md.EncryptionAlgorithm.Value != nil {
		return nil, fmt.Errorf("%s: encrypted Parquet cannot be read: %w", name, ErrUnsupported)
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			if cc.CryptoMetadata.Value != nil || len(cc.EncryptedColumnMetadata) > 0 {
				return nil, fmt.Errorf("%s: encrypted Parquet columns cannot be read: %w", name, ErrUnsupported)
			}
		}
	}
	return f, nil
}

// recoverParquet converts a panic inside parquet-go (which trusts some
// lengths and indexes in the input) into an error naming the file.
func recoverParquet(name string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: corrupt Parquet data (reader panic: %v): %w", name, p, ErrUnsupported)
	}
}
