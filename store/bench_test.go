package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeBars writes n rows of 1-minute bars for 10 symbols.
func writeBars(b testing.TB, path string, n int, provider string, start time.Time) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "timestamp,open,high,low,close,volume,symbol,provider")
	for i := 0; i < n; i++ {
		ts := start.Add(time.Duration(i/10) * time.Minute).Format(time.DateTime)
		p := 100 + float64(i%1000)/100
		fmt.Fprintf(w, "%s,%.2f,%.2f,%.2f,%.2f,%d,S%d,%s\n", ts, p, p+1, p-1, p+0.5, 1000+i%97, i%10, provider)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	info, _ := f.Stat()
	f.Close()
	return info.Size()
}

func BenchmarkIngestCSV(b *testing.B) {
	src := filepath.Join(b.TempDir(), "bars.csv")
	size := writeBars(b, src, 1_000_000, "yahoo", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := st.Ingest(context.Background(), "bars", src, IngestOptions{}); err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
}

func BenchmarkExportCSV(b *testing.B) {
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
	e, _ := st.Stat("bars")
	b.SetBytes(e.CSVSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sn, err := st.Pin("bars", 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sn.WriteTo(ViewCSV, discard{}); err != nil {
			b.Fatal(err)
		}
		sn.Release()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
