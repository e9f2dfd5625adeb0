package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	cfg, out, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(2)
	}
	if err := writeFile(cfg, out); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, string, error) {
	fs := flag.NewFlagSet("gendata", flag.ContinueOnError)
	var (
		cfg   config
		out   string
		start string
	)
	fs.Int64Var(&cfg.rows, "rows", 12_000_000, "rows to write")
	fs.IntVar(&cfg.symbols, "symbols", 10, "symbols per timestamp")
	fs.StringVar(&out, "out", "-", "output file, - for stdout")
	fs.StringVar(&cfg.provider, "provider", "yahoo", "value of the provider column")
	fs.StringVar(&start, "start", "2020-01-01", "first bar date (UTC, YYYY-MM-DD); weekends are skipped")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the price walk; keep it equal between a big file and its merge input")
	fs.Int64Var(&cfg.overlapFrom, "overlap-from", 0, "first row index to write (rows before it are simulated, not written)")
	fs.IntVar(&cfg.jitter, "jitter", 0, "move prices by up to this many ticks (close always moves); 0 = exact walk")
	if err := fs.Parse(args); err != nil {
		return config{}, "", err
	}
	if fs.NArg() > 0 {
		return config{}, "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	t, err := time.Parse(time.DateOnly, start)
	if err != nil {
		return config{}, "", fmt.Errorf("-start: %w", err)
	}
	cfg.start = t
	return cfg, out, cfg.validate()
}

func writeFile(cfg config, out string) (err error) {
	var w io.Writer = os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := generate(cfg, bw); err != nil {
		return err
	}
	return bw.Flush()
}
