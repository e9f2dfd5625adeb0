package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkAppendDay commits one day of 1-minute bars (10 symbols, 14,400
// rows) into a dataset of BCFS_BENCH_ROWS rows (default 2,000,000) in
// month partitions, day after day: "append" writes the day as one more
// file of its month, "rewrite" (the peer, appends off) rewrites the month.
// written-B/op is what each commit wrote in partition files.
func BenchmarkAppendDay(b *testing.B) {
	rows := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("BCFS_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	src := b.TempDir()
	base := filepath.Join(src, "base.csv")
	writeBars(b, base, rows, "yahoo", t0)
	next := t0.Add(time.Duration(rows/10)*time.Minute).Truncate(24*time.Hour).AddDate(0, 0, 1)
	for _, mode := range []string{"append", "rewrite"} {
		b.Run(mode, func(b *testing.B) {
			appendDisabled = mode == "rewrite"
			defer func() { appendDisabled = false }()
			ctx := context.Background()
			st, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if _, _, err := st.UpdateSettings(ctx, "bars", SettingsChange{Partition: granMonth}); err != nil {
				b.Fatal(err)
			}
			if _, err := st.Ingest(ctx, "bars", base, IngestOptions{}); err != nil {
				b.Fatal(err)
			}
			days := make([]string, b.N)
			for i := range days {
				days[i] = filepath.Join(src, fmt.Sprintf("day-%s-%d.csv", mode, i))
				writeBars(b, days[i], 14_400, "yahoo", next.AddDate(0, 0, i))
			}
			prev, err := st.head("bars")
			if err != nil {
				b.Fatal(err)
			}
			var written int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := st.Ingest(ctx, "bars", days[i], IngestOptions{})
				if err != nil || res.Report.RowsAdded != 14_400 {
					b.Fatalf("day %d: %+v %v", i, res, err)
				}
				b.StopTimer()
				m, err := st.head("bars")
				if err != nil {
					b.Fatal(err)
				}
				old := map[string]bool{}
				for _, pt := range prev.Partitions {
					old[pt.Path] = true
				}
				for _, pt := range m.Partitions {
					if !old[pt.Path] {
						written += pt.Size
					}
				}
				prev = m
				b.StartTimer()
			}
			b.ReportMetric(float64(written)/float64(b.N), "written-B/op")
		})
	}
}
