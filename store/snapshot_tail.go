package store

import (
	"fmt"
	"io"
	"slices"

	"bcfs/metastore"
)

// A CSV view is its header and the CSV rendering of every row group of
// every partition file, in manifest order; a Parquet view is the magic,
// the row groups of every file in manifest order, byte for byte, and a
// footer (formats.BuildViewLayout). An append that adds files after all of
// the older version's files therefore leaves the older view, but for a
// Parquet view's footer, as the start of the newer one: a copy of it (a
// view cache file) and the rest written by WriteFrom make the newer view.

// Parent is the version the snapshot's version was committed on top of (0
// for the first).
func (sn *Snapshot) Parent() int64 { return sn.m.Parent }

// parquetMagic starts a Parquet file and so the Parquet view.
const parquetMagic = "PAR1"

// Extends tells whether the first prefix bytes of view v of older, another
// version of the snapshot's dataset, are the first prefix bytes of the
// snapshot's view v: older's partition files are the first files of the
// snapshot's manifest with the same paths, sizes, hashes and row groups
// (offsets, lengths, CRCs, CSV lengths), with the same schema and, for
// CSV, the same zone rendering. prefix is then older's CSV size, or the
// length of older's Parquet view without its footer; WriteFrom(v, w,
// prefix) writes the rest.
func (sn *Snapshot) Extends(v View, older *metastore.Manifest) (prefix int64, ok bool) {
	m := sn.m
	if older == nil || older.Dataset != m.Dataset || len(older.Partitions) > len(m.Partitions) ||
		!slices.Equal(older.Schema, m.Schema) {
		return 0, false
	}
	k := 0
	prefix = int64(len(parquetMagic))
	for i := range older.Partitions {
		if !samePartitionFile(&older.Partitions[i], &m.Partitions[i]) {
			return 0, false
		}
		k += len(older.Partitions[i].RowGroups)
		for _, rg := range older.Partitions[i].RowGroups {
			prefix += rg.Length
		}
	}
	if v == ViewParquet {
		// Both views end with a footer of at least its length and magic.
		if prefix+8 > older.ParquetSize || prefix+8 > m.ParquetSize {
			return 0, false
		}
		return prefix, true
	}
	// The zone older's view renders in, as pinManifest decides it.
	var zone string
	if loc := datasetZone(older); loc != nil && csvViewSize(older) == older.CSVSize {
		zone = loc.String()
	}
	if sn.loc == nil && zone != "" || sn.loc != nil && sn.loc.String() != zone {
		return 0, false
	}
	if sn.starts[k] != older.CSVSize {
		return 0, false
	}
	return older.CSVSize, true
}

// samePartitionFile tells whether a and b describe the same file with the
// same row groups.
func samePartitionFile(a, b *metastore.Partition) bool {
	if a.Path != b.Path || a.Size != b.Size || a.SHA256 != b.SHA256 || a.Rows != b.Rows ||
		len(a.RowGroups) != len(b.RowGroups) || !sameCRC(a.FooterCRC32C, b.FooterCRC32C) {
		return false
	}
	for j, ra := range a.RowGroups {
		rb := b.RowGroups[j]
		if ra.Offset != rb.Offset || ra.Length != rb.Length || ra.Rows != rb.Rows ||
			ra.CSVLength != rb.CSVLength || !sameCRC(ra.CRC32C, rb.CRC32C) {
			return false
		}
	}
	return true
}

func sameCRC(a, b *uint32) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// WriteFrom writes view v from byte off on to w. For CSV, off is 0 or the
// start of a row group in the view (a prefix Extends returned, or the
// view's size), and row groups are rendered one after another: it is meant
// for the few rows an append adds. For Parquet, any off up to the size.
func (sn *Snapshot) WriteFrom(v View, w io.Writer, off int64) (int64, error) {
	if sn.released.Load() {
		return 0, errReleased
	}
	if off < 0 || off > sn.Size(v) {
		return 0, fmt.Errorf("%s version %d: offset %d outside the %d-byte %s view", sn.name, sn.m.Version, off, sn.Size(v), v.Ext())
	}
	if off == 0 {
		return sn.WriteTo(v, w)
	}
	if v == ViewParquet {
		r := io.NewSectionReader(viewReader{sn, v}, off, sn.Size(v)-off)
		return io.CopyBuffer(w, r, make([]byte, 1<<20))
	}
	k, found := slices.BinarySearch(sn.starts, off)
	if !found {
		return 0, fmt.Errorf("%s version %d: CSV view offset %d is not the start of a row group", sn.name, sn.m.Version, off)
	}
	var total int64
	var sc renderScratch
	for ; k < len(sn.chunks); k++ {
		data, err := sn.renderInto(&sc, sn.chunks[k])
		if err != nil {
			return total, sn.failed(err)
		}
		sc.buf = data
		n, err := w.Write(data)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
