package store

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"bcfs/metastore"
)

// BenchmarkViewChecksums measures what the row-group checksums cost: a
// 1M-row dataset's CSV view rendered whole (as bcfs export does; the chunk
// cache is too small to help) and its Parquet view read in 128 KiB reads
// (as through the mount), each from a fresh snapshot, with the manifest's
// CRC32C checks (on) and with the checksums stripped so the bytes are read
// unchecked as before checksums existed (off). The two alternate within
// each iteration so that changing machine load hits both alike. "cold"
// first drops the partition files from the page cache (fadvise DONTNEED),
// "warm" reads them from memory. Reported: MB/s on and off (medians of the
// iterations) and their ratio. The Parquet view verifies a row group once
// per file identity (rowcheck.go), so warm iterations after the first
// measure reads of verified row groups, and cold ones the check of every
// row group read back from the disk.
//
//	scripts/bench_checksums.sh
func BenchmarkViewChecksums(b *testing.B) {
	src := filepath.Join(b.TempDir(), "bars.csv")
	writeBars(b, src, 1_000_000, "yahoo", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	st, err := Open(b.TempDir(), Options{CacheBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Ingest(context.Background(), "bars", src, IngestOptions{}); err != nil {
		b.Fatal(err)
	}
	on, err := st.head("bars")
	if err != nil {
		b.Fatal(err)
	}
	off := *on
	off.Partitions = make([]metastore.Partition, len(on.Partitions))
	for i, p := range on.Partitions {
		p.FooterCRC32C = nil
		p.RowGroups = slices.Clone(p.RowGroups)
		for j := range p.RowGroups {
			p.RowGroups[j].CRC32C = nil
		}
		off.Partitions[i] = p
	}
	dropCache := func() {
		for _, p := range on.Partitions {
			f, err := os.Open(filepath.Join(st.datasetDir("bars"), filepath.FromSlash(p.Path)))
			if err != nil {
				b.Fatal(err)
			}
			if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	buf := make([]byte, 128<<10)
	read := func(b *testing.B, m *metastore.Manifest, v View) time.Duration {
		start := time.Now()
		sn, err := st.pinManifest("bars", m)
		if err != nil {
			b.Fatal(err)
		}
		defer sn.Release()
		if v == ViewCSV {
			if _, err := sn.WriteTo(v, discard{}); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		for pos := int64(0); ; pos += int64(len(buf)) {
			n, err := sn.ReadAt(v, buf, pos)
			if err == io.EOF {
				break
			}
			if err != nil || n != len(buf) {
				b.Fatal(n, err)
			}
		}
		return time.Since(start)
	}
	for _, v := range []View{ViewCSV, ViewParquet} {
		for _, cold := range []bool{false, true} {
			name := v.Ext()[1:] + "/warm"
			if cold {
				name = v.Ext()[1:] + "/cold"
			}
			b.Run(name, func(b *testing.B) {
				size := float64(on.CSVSize)
				if v == ViewParquet {
					size = float64(on.ParquetSize)
				}
				var tOn, tOff []float64
				for i := 0; b.Loop(); i++ {
					// Alternate which goes first, too.
					for k := 0; k < 2; k++ {
						checked := (i+k)%2 == 0
						if cold {
							dropCache()
						}
						m := &off
						if checked {
							m = on
						}
						d := read(b, m, v).Seconds()
						if checked {
							tOn = append(tOn, d)
						} else {
							tOff = append(tOff, d)
						}
					}
				}
				on, off := median(tOn), median(tOff)
				b.ReportMetric(size/on/1e6, "MB/s-on")
				b.ReportMetric(size/off/1e6, "MB/s-off")
				b.ReportMetric(off/on, "ratio-on/off")
			})
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
