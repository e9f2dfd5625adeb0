// Command bcfs keeps market-data bar datasets in a canonical store of
// partitioned Parquet and serves them as CSV and Parquet files through FUSE.
//
// Exit codes: 0 success; 1 a data or usage error (bad input file, unknown
// dataset, bad flag, verify found damage); 2 an internal error (I/O, a bug).
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

// Exit codes.
const (
	exitOK       = 0
	exitData     = 1
	exitInternal = 2
)

type globalOptions struct {
	Store   string
	Verbose bool
}

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	g := &globalOptions{}
	app := newApp(g, stdout, stderr)
	err := app.Run(args)
	if err == nil {
		return exitOK
	}
	var r reported
	if !errors.As(err, &r) {
		fmt.Fprintln(stderr, "bcfs:", err)
	}
	return exitCode(err)
}

// usageError marks a command line the user got wrong.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// dataError marks a failure caused by the data (a bad file, damage found).
type dataError struct{ error }

func (e dataError) Unwrap() error { return e.error }

func exitCode(err error) int {
	var ue usageError
	var de dataError
	switch {
	case errors.As(err, &ue), errors.As(err, &de),
		errors.Is(err, store.ErrBadInput), errors.Is(err, store.ErrNotFound),
		errors.Is(err, store.ErrInvalidName), errors.Is(err, store.ErrExists),
		errors.Is(err, store.ErrNotEmpty), errors.Is(err, store.ErrReadOnly):
		return exitData
	}
	return exitInternal
}

func newApp(g *globalOptions, stdout, stderr io.Writer) *cli.App {
	storeDefault := os.Getenv("BCFS_STORE")
	if storeDefault == "" {
		storeDefault = "./bcfs-store"
	}
	app := &cli.App{
		Name:  "bcfs",
		Usage: "market-data bars as a filesystem: one canonical store, CSV and Parquet views",
		Description: "Exit codes: 0 success; 1 data or usage error (bad input, unknown dataset, " +
			"bad flag, damage found by verify); 2 internal error.",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Value: storeDefault, Usage: "store `DIR` (default $BCFS_STORE, else ./bcfs-store)", Destination: &g.Store},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log to stderr", Destination: &g.Verbose},
		},
		Commands: []*cli.Command{
			newIngestCommand(g),
			newExportCommand(g),
			newLogCommand(g),
			newDiffCommand(g),
			newLsCommand(g),
			newStatsCommand(g),
			newVerifyCommand(g),
			newSettingsCommand(g),
			newMountCommand(g),
			newErrorsCommand(g),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		// Errors become exit codes in run, nowhere else.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	return app
}

// storeFlag lets every command take --store after its name too.
func storeFlag(g *globalOptions) cli.Flag {
	return &cli.StringFlag{Name: "store", Usage: "store `DIR` (overrides the global --store)",
		Action: func(_ *cli.Context, v string) error { g.Store = v; return nil }}
}

func logger(g *globalOptions, w io.Writer) *slog.Logger {
	if !g.Verbose {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openStore(g *globalOptions, opt store.Options) (*store.Store, error) {
	if opt.Logger == nil {
		opt.Logger = logger(g, os.Stderr)
	}
	return store.Open(g.Store, opt)
}
