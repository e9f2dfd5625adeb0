package store

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"bcfs/metastore"
)

// BenchmarkViewChecksums reads the CSV view (as export does) and the Parquet
// view (in 128 KiB reads, as through the mount) of a 1M-row dataset from a
// fresh snapshot each time, with the row-group checksums of its manifest
// (crc=on) and with them stripped, which reads the bytes unchecked as bcfs
// did before checksums (crc=off). The chunk cache is too small to hold a
// chunk, so every CSV read renders.
//
//	go test -run '^$' -bench ViewChecksums -count 6 ./store/ | benchstat -col /crc -
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
		p.RowGroups = append([]metastore.RowGroup(nil), p.RowGroups...)
		for j := range p.RowGroups {
			p.RowGroups[j].CRC32C = nil
		}
		off.Partitions[i] = p
	}
	for _, v := range []View{ViewCSV, ViewParquet} {
		for _, crc := range []string{"on", "off"} {
			m := on
			if crc == "off" {
				m = &off
			}
			b.Run(fmt.Sprintf("view=%s/crc=%s", v.Ext()[1:], crc), func(b *testing.B) {
				b.SetBytes(st.must(b, m).Size(v))
				b.ReportAllocs()
				buf := make([]byte, 128<<10)
				for b.Loop() {
					sn := st.must(b, m)
					if v == ViewCSV {
						if _, err := sn.WriteTo(v, discard{}); err != nil {
							b.Fatal(err)
						}
					} else {
						for pos := int64(0); ; pos += int64(len(buf)) {
							n, err := sn.ReadAt(v, buf, pos)
							if err == io.EOF {
								break
							}
							if err != nil || n != len(buf) {
								b.Fatal(n, err)
							}
						}
					}
					sn.Release()
				}
			})
		}
	}
}

func (s *Store) must(b *testing.B, m *metastore.Manifest) *Snapshot {
	sn, err := s.pinManifest("bars", m)
	if err != nil {
		b.Fatal(err)
	}
	return sn
}
