package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"bcfs/dedupmerge"
	"bcfs/formats"
	"bcfs/store"
)

type ingestOptions struct {
	Dataset   string
	Provider  string
	Timezone  string
	OHLCCheck string
	Ambiguous string
	DryRun    bool
	JSON      bool
	Jobs      int
	// FilesPerCommit bounds the files of one dataset merged in one commit
	// (0: store.DefaultBatchFiles, within the memory bound).
	FilesPerCommit int
}

func newIngestCommand(g *globalOptions) *cli.Command {
	var o ingestOptions
	return &cli.Command{
		Name:      "ingest",
		Usage:     "parse, validate, deduplicate and merge files into datasets",
		ArgsUsage: "FILE|DIR...",
		Description: "Each FILE (CSV, Parquet, .csv.gz/.zst) merges into the dataset named by --dataset, " +
			"or by the file's base name without extension (AAPL.csv -> AAPL). A file that fails " +
			"leaves its dataset untouched; the command then exits 1 after trying the others. " +
			"A folder DIR ingests every CSV/Parquet file below it, named after its path " +
			"(DIR/yahoo/AAPL.csv -> yahoo/AAPL); different datasets ingest in parallel (--jobs).\n\n" +
			"Several files of one dataset are each decoded and validated on their own, then the good ones " +
			"merge in one commit (one version; a group of up to --files-per-commit files, or fewer when " +
			"their rows would pass a quarter of --ingest-buffer-mb). The result is what ingesting them one " +
			"after another in the order given would leave: the preferred provider wins, then the later file. " +
			"A bad file is named with its line, column and value, changes nothing, and the others still " +
			"commit; the command then exits 1. Such a commit prints a line per file (its rows read) and " +
			"the commit's report once (rows added and replaced by all its files).\n\n" +
			examples("bcfs ingest ES_1min.csv                        # merges into dataset ES_1min",
				"bcfs ingest --dataset yahoo/AAPL ~/Downloads/AAPL.csv",
				"bcfs ingest ES_today.csv --dry-run --json        # the report, nothing committed",
				"bcfs ingest --provider ibkr --timezone America/New_York bars.csv.gz",
				"bcfs ingest drops/2024-06-*/                    # a folder per day: each dataset's files in one commit"),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.StringFlag{Name: "dataset", Aliases: []string{"d"}, Usage: "dataset `NAME` (a relative path like yahoo/AAPL)", Destination: &o.Dataset},
			&cli.StringFlag{Name: "provider", Usage: "provider of every row (`P`: ibkr, barchart, yahoo, ...)", Destination: &o.Provider},
			&cli.StringFlag{Name: "timezone", Usage: "IANA `TZ` of timestamps without an offset (default: the dataset's, UTC)", Destination: &o.Timezone},
			&cli.StringFlag{Name: "ohlc-check", Usage: "`MODE` for rows with low > min(open,close) or max(open,close) > high: reject (default) or warn", Destination: &o.OHLCCheck},
			&cli.StringFlag{Name: "ambiguous", Usage: "`MODE` for local times repeated when clocks go back: raise (default, refuse the file) or infer (from row order, like pandas)", Destination: &o.Ambiguous},
			&cli.BoolFlag{Name: "dry-run", Usage: "validate and merge, print the report, commit nothing", Destination: &o.DryRun},
			&cli.BoolFlag{Name: "json", Usage: "print reports as JSON", Destination: &o.JSON},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: runtime.NumCPU(), Usage: "decode up to `N` datasets at once; when N > 1, datasets ready to commit commit in groups made durable by one syncfs (a local store)", Destination: &o.Jobs},
			&cli.IntFlag{Name: "files-per-commit", Usage: "merge up to `N` files of one dataset in one commit (0: 1000; 1: a version per file, as one ingest per file would)", Destination: &o.FilesPerCommit},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError{errors.New("ingest: no FILE given")}
			}
			defer tuneIngestGC(g, o.Jobs, c.Args().Slice())()
			return runIngestParallel(c, g, o, c.Args().Slice(), o.Jobs)
		},
	}
}

// ingestGCPercent replaces GOGC=100 during an ingest: decoding allocates a
// batch every 64Ki rows while the router holds up to its buffer bound, so
// the default collects several times per partition for little garbage
// (GOGC=400 cut ingest CPU by about 12% on 12M rows). The memory limit
// keeps the heap within the configured budget however large GOGC lets it
// grow.
const ingestGCPercent = 400

// ingestGCLimit is the heap limit of an ingest running jobs datasets at
// once: per job twice the router's buffer bound (the buffers and the
// partitions being merged from them) plus four decoder batches, the
// budget the memory flags configure (768 MiB per job by default).
func ingestGCLimit(g *globalOptions, jobs int) int64 {
	buf := int64(g.IngestBufferMB) << 20
	if buf <= 0 {
		buf = store.DefaultIngestBufferBytes
	}
	batch := int64(g.MaxBatchMB) << 20
	if batch <= 0 {
		batch = formats.DefaultMaxBatchBytes
	}
	return int64(max(jobs, 1)) * (2*buf + 4*batch)
}

// tuneIngestGC sets the collector for the ingest of args and returns the
// function that restores it. GOGC or GOMEMLIMIT in the environment win.
// jobs counts a folder as the full --jobs, a file as one dataset.
func tuneIngestGC(g *globalOptions, jobs int, args []string) (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	n := 0
	for _, a := range args {
		if fi, err := os.Stat(a); err == nil && fi.IsDir() {
			n = jobs
			break
		}
		n++
	}
	prevLimit := debug.SetMemoryLimit(ingestGCLimit(g, min(jobs, n)))
	prevPercent := debug.SetGCPercent(ingestGCPercent)
	return func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	}
}

// reported is an error already printed; run prints only a summary line.
type reported struct{ error }

func (r reported) Unwrap() error { return r.error }

// datasetFromFile names a dataset after a file: base name without its
// extensions (AAPL.csv.gz -> AAPL).
func datasetFromFile(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".gz", ".zst", ".zstd"} {
		base = strings.TrimSuffix(base, ext)
	}
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}

func printReport(w io.Writer, res *store.IngestResult, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	r := res.Report
	verb := "committed version"
	switch {
	case res.DryRun:
		verb = "dry run, would change version"
	case !res.Committed:
		verb = "no change, still version"
	}
	fmt.Fprintf(w, "%s -> %s: %s %d\n", res.Source, res.Dataset, verb, res.Version)
	fmt.Fprintf(w, "  rows read %d (skipped empty %d), added %d, replaced %d, duplicates removed %d, conflicts resolved %d\n",
		res.Input.Rows, res.Input.SkippedEmpty, r.RowsAdded, r.RowsReplaced, r.DuplicatesRemoved, r.ConflictsResolved)
	printReportTail(w, res.Input.OHLCViolations, r)
	return nil
}

// printReportTail prints the lines every ingest report ends with: the
// counts before and after the merge and the warnings.
func printReportTail(w io.Writer, ohlcViolations int64, r dedupmerge.Report) {
	fmt.Fprintf(w, "  original_count %d, final_count %d, duplicate ratio %.1f%%\n", r.OriginalCount, r.FinalCount, 100*r.DuplicateRatio)
	if ohlcViolations > 0 {
		fmt.Fprintf(w, "  warning: %d rows violate OHLC consistency (accepted: ohlc-check warn)\n", ohlcViolations)
	}
	if r.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", r.Warning)
	}
}
