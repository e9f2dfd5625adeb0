package store

import (
	"fmt"
	"io"
	"slices"

	"bcfs/metastore"
)

// A CSV view is its header and the CSV rendering of every row group of
// every partition file, in manifest order. An append that adds files after
// all of the older version's files therefore leaves the older view as the
// start of the newer one: a copy of the older view (a view cache file)
// and the rendering of the new files make the newer view.

// Parent is the version the snapshot's version was committed on top of (0
// for the first).
func (sn *Snapshot) Parent() int64 { return sn.m.Parent }

// CSVExtends tells whether the CSV view of older, another version of the
// snapshot's dataset, is the first prefix bytes of the snapshot's CSV
// view, byte for byte: the same schema and zone rendering, and older's
// partition files are the first files of the snapshot's manifest with the
// same paths, sizes, hashes and row groups (offsets, lengths, CRCs, CSV
// lengths). prefix is then older's CSV size; WriteCSVFrom(w, prefix)
// writes the rest.
func (sn *Snapshot) CSVExtends(older *metastore.Manifest) (prefix int64, ok bool) {
	m := sn.m
	if older == nil || older.Dataset != m.Dataset || len(older.Partitions) > len(m.Partitions) ||
		!slices.Equal(older.Schema, m.Schema) {
		return 0, false
	}
	// The zone older's view renders in, as pinManifest decides it.
	var zone string
	if loc := datasetZone(older); loc != nil && csvViewSize(older) == older.CSVSize {
		zone = loc.String()
	}
	if sn.loc == nil && zone != "" || sn.loc != nil && sn.loc.String() != zone {
		return 0, false
	}
	k := 0
	for i := range older.Partitions {
		if !samePartitionFile(&older.Partitions[i], &m.Partitions[i]) {
			return 0, false
		}
		k += len(older.Partitions[i].RowGroups)
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
		len(a.RowGroups) != len(b.RowGroups) {
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

// WriteCSVFrom writes the CSV view from byte off on to w: off is 0, or the
// start of a row group in the view (a prefix CSVExtends returned, or the
// view's size). Row groups are rendered one after another: it is meant for
// the few rows an append adds.
func (sn *Snapshot) WriteCSVFrom(w io.Writer, off int64) (int64, error) {
	if sn.released.Load() {
		return 0, errReleased
	}
	if off == 0 {
		return sn.WriteTo(ViewCSV, w)
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
