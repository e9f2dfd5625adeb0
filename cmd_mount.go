package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"bcfs/fusefs"
	"bcfs/store"
)

// mountOptions are the flags of `bcfs mount`.
type mountOptions struct {
	Mountpoint string
	ReadOnly   bool
	AllowOther bool
	CacheMB    int64
	Demo       bool
	Debug      bool
}

// drainTimeout bounds how long a stop waits for ingests in flight.
const drainTimeout = 30 * time.Second

func newMountCommand(g *globalOptions) *cli.Command {
	var o mountOptions
	return &cli.Command{
		Name:      "mount",
		Usage:     "mount the store (foreground; Ctrl-C unmounts, a second Ctrl-C detaches at once)",
		ArgsUsage: "MOUNTPOINT",
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.BoolFlag{Name: "read-only", Usage: "refuse every write with EROFS", Destination: &o.ReadOnly},
			&cli.BoolFlag{Name: "allow-other", Usage: "let other users in (mode bits apply)", Destination: &o.AllowOther},
			&cli.Int64Flag{Name: "cache-mb", Value: 512, Usage: "rendered-view cache size in `MB`", Destination: &o.CacheMB},
			&cli.BoolFlag{Name: "demo", Usage: "fill an empty store with demo datasets first", Destination: &o.Demo},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request", Destination: &o.Debug},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("mount needs exactly one MOUNTPOINT")}
			}
			if o.CacheMB < 0 {
				return usageError{errors.New("--cache-mb must be >= 0")}
			}
			o.Mountpoint = c.Args().First()
			return runMount(c.Context, g, o)
		},
	}
}

func runMount(ctx context.Context, g *globalOptions, o mountOptions) error {
	// A foreground mount always logs: a rejected cp is explained here.
	level := slog.LevelInfo
	if o.Debug || g.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if os.Getenv("GOMEMLIMIT") == "" {
		// Cached chunks are long-lived, so with the default GOGC the heap
		// would grow to twice the cache; a soft limit a little above the
		// cache keeps the process near what --cache-mb promises.
		debug.SetMemoryLimit((o.CacheMB + 256) << 20)
	}
	st, err := openStore(g, store.Options{CacheBytes: o.CacheMB << 20, Logger: log, ReadOnly: o.ReadOnly})
	if err != nil {
		return err
	}
	defer st.Close()
	if o.Demo {
		list, err := st.List()
		if err != nil {
			return err
		}
		if len(list) == 0 {
			if err := fillDemo(ctx, st); err != nil {
				return fmt.Errorf("demo data: %w", err)
			}
		}
	}
	fsys, err := fusefs.NewFS(st, fusefs.Options{ReadOnly: o.ReadOnly, AllowOther: o.AllowOther, Debug: o.Debug, Logger: log})
	if err != nil {
		return err
	}
	defer fsys.Close()
	srv, err := fsys.Mount(o.Mountpoint)
	if err != nil {
		return err
	}
	log.Info("mounted", "store", st.Dir(), "mountpoint", o.Mountpoint, "read_only", o.ReadOnly)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan struct{})
	go func() {
		srv.Wait()
		close(served)
	}()

	select {
	case <-served:
		log.Info("unmounted from outside")
		return nil
	case sig := <-sigs:
		log.Info("stopping: no new writes, waiting for ingests in flight", "signal", sig.String())
	}

	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	drained := make(chan error, 1)
	go func() { drained <- fsys.Drain(drainCtx) }()
	select {
	case err := <-drained:
		if err != nil {
			log.Warn("ingests still running at unmount", "err", err)
		}
	case <-sigs:
		log.Warn("second signal: lazy unmount")
	}
	cancel()

	if err := srv.Unmount(); err != nil {
		log.Warn("unmount failed (files open?); press Ctrl-C again to detach", "err", err)
		select {
		case <-served:
			return nil
		case <-sigs:
		}
		if err := lazyUnmount(o.Mountpoint); err != nil {
			return fmt.Errorf("lazy unmount of %s: %w", o.Mountpoint, err)
		}
		log.Info("detached; the kernel finishes the unmount when the last file closes")
		return nil
	}
	<-served
	log.Info("unmounted")
	return nil
}

// lazyUnmount detaches the mount even if files are open (umount -l).
func lazyUnmount(mountpoint string) error {
	if os.Geteuid() == 0 {
		return syscall.Unmount(mountpoint, syscall.MNT_DETACH)
	}
	out, err := exec.Command("fusermount3", "-u", "-z", mountpoint).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u -z: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// demoDataset is one generated demo input.
type demoDataset struct {
	name     string // dataset name
	file     string // file name shown as the ingest source
	provider string
	header   string
	rows     func(w *strings.Builder)
}

// fillDemo ingests a few realistic datasets: ES 1-minute bars from two
// overlapping providers (the overlap exercises provider preference), Yahoo
// daily bars for AAPL and MSFT in Yahoo's own column names, and hourly
// BTCUSD bars with fractional volume.
func fillDemo(ctx context.Context, st *store.Store) error {
	dir, err := os.MkdirTemp("", "bcfs-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	start := time.Date(2024, 3, 4, 14, 30, 0, 0, time.UTC)
	day := time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC)
	sets := []demoDataset{
		{name: "ES_1min", file: "ES_1min_ibkr.csv", provider: "ibkr",
			header: "timestamp,open,high,low,close,volume,symbol,provider",
			rows:   barRows(1, start, time.Minute, 900, 5100, 0.25, false, "ES", "ibkr", false)},
		{name: "ES_1min", file: "ES_1min_barchart.csv", provider: "barchart",
			header: "timestamp,open,high,low,close,volume,symbol,provider",
			rows:   barRows(2, start.Add(600*time.Minute), time.Minute, 900, 5120, 0.25, false, "ES", "barchart", false)},
		{name: "yahoo/AAPL", file: "AAPL.csv", provider: "yahoo",
			header: "Date,Open,High,Low,Close,Adj Close,Volume,Symbol",
			rows:   barRows(3, day, 24*time.Hour, 500, 130, 0.01, false, "AAPL", "", true)},
		{name: "yahoo/MSFT", file: "MSFT.csv", provider: "yahoo",
			header: "Date,Open,High,Low,Close,Adj Close,Volume,Symbol",
			rows:   barRows(4, day, 24*time.Hour, 500, 240, 0.01, false, "MSFT", "", true)},
		{name: "crypto/BTCUSD", file: "BTCUSD_1h.csv", provider: "coinbase",
			header: "timestamp,open,high,low,close,volume,symbol,provider",
			rows:   barRows(5, start, time.Hour, 2000, 62000, 0.01, true, "BTCUSD", "coinbase", false)},
	}
	for _, ds := range sets {
		var b strings.Builder
		b.WriteString(ds.header)
		b.WriteByte('\n')
		ds.rows(&b)
		p := filepath.Join(dir, ds.file)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return err
		}
		if _, err := st.Ingest(ctx, ds.name, p, store.IngestOptions{Source: ds.file, Provider: ds.provider}); err != nil {
			return fmt.Errorf("%s: %w", ds.file, err)
		}
	}
	return nil
}

// barRows returns a generator of n bars of a seeded random walk starting at
// price p0, rounded to tick. yahoo rows have Adj Close and no provider column
// and daily rows skip weekends.
func barRows(seed uint64, t0 time.Time, step time.Duration, n int, p0, tick float64,
	fracVolume bool, symbol, provider string, yahoo bool) func(*strings.Builder) {
	return func(b *strings.Builder) {
		r := rand.New(rand.NewPCG(seed, 0x6263))
		round := func(x float64) float64 { return math.Round(x/tick) * tick }
		price := p0
		t := t0
		for i := 0; i < n; i++ {
			if step >= 24*time.Hour {
				for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
					t = t.Add(step)
				}
			}
			open := round(price)
			closeP := round(price * (1 + r.NormFloat64()*0.002))
			high := round(math.Max(open, closeP) * (1 + r.Float64()*0.001))
			low := round(math.Min(open, closeP) * (1 - r.Float64()*0.001))
			price = closeP
			var vol string
			if fracVolume {
				vol = fmt.Sprintf("%.4f", r.Float64()*50)
			} else {
				vol = fmt.Sprintf("%d", 100+r.IntN(5000))
			}
			if yahoo {
				fmt.Fprintf(b, "%s,%.2f,%.2f,%.2f,%.2f,%.2f,%s,%s\n", t.Format("2006-01-02"),
					open, high, low, closeP, closeP*0.98, vol, symbol)
			} else {
				fmt.Fprintf(b, "%s,%.2f,%.2f,%.2f,%.2f,%s,%s,%s\n", t.Format("2006-01-02 15:04:05"),
					open, high, low, closeP, vol, symbol, provider)
			}
			t = t.Add(step)
		}
	}
}
