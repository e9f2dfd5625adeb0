// Command versionsbench builds the store scripts/bench_versions.sh measures:
// one dataset of 1-minute bars ending now, committed in VERSIONS ingests of
// ROWS/VERSIONS rows each, in time order (each ingest merges into the
// newest month partition), so the store holds VERSIONS versions and ROWS
// rows at its head.
//
//	go run ./scripts/versionsbench -store DIR [-versions 1000] [-rows 12000000]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"bcfs/store"
)

func main() {
	dir := flag.String("store", "", "store `DIR` to create")
	versions := flag.Int("versions", 1000, "number of ingests (versions)")
	rows := flag.Int("rows", 12_000_000, "rows at the head")
	name := flag.String("dataset", "ES_1min", "dataset name")
	flag.Parse()
	if *dir == "" {
		log.Fatal("versionsbench: -store DIR is required")
	}
	st, err := store.Open(*dir, store.Options{CacheBytes: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	tmp, err := os.MkdirTemp("", "versionsbench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	end := time.Now().UTC().Truncate(time.Minute)
	t0 := end.Add(-time.Duration(*rows) * time.Minute)
	per := *rows / *versions
	start := time.Now()
	for v := 0; v < *versions; v++ {
		n := per
		if v == *versions-1 {
			n = *rows - per*(*versions-1)
		}
		p := filepath.Join(tmp, "in.csv")
		if err := writeBars(p, t0.Add(time.Duration(v*per)*time.Minute), n); err != nil {
			log.Fatal(err)
		}
		if _, err := st.Ingest(context.Background(), *name, p, store.IngestOptions{Source: fmt.Sprintf("part%04d.csv", v)}); err != nil {
			log.Fatal(err)
		}
		if v%100 == 99 {
			log.Printf("%d versions, %v", v+1, time.Since(start).Round(time.Second))
		}
	}
	e, err := st.Stat(*name)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: version %d, %d rows, CSV %d bytes, built in %v", *name, e.Version, e.Rows, e.CSVSize, time.Since(start).Round(time.Second))
}

func writeBars(path string, t0 time.Time, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("timestamp,open,high,low,close,volume,symbol,provider\n")
	var b []byte
	for i := 0; i < n; i++ {
		p := 4000 + float64(i%97)*0.25
		b = t0.Add(time.Duration(i)*time.Minute).AppendFormat(b[:0], "2006-01-02 15:04:05")
		for _, x := range []float64{p, p + 1, p - 1, p + 0.5} {
			b = append(b, ',')
			b = strconv.AppendFloat(b, x, 'f', -1, 64)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(100+i%50), 10)
		b = append(b, ",ES,ibkr\n"...)
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
