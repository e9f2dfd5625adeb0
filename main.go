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
	"strings"

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
	S3      s3StoreOptions // a store on S3 (cmd_s3store.go)
	// Memory limits of an ingest, in MiB; 0 takes the defaults
	// (formats.DefaultMaxRecordBytes, formats.DefaultMaxBatchBytes,
	// store.DefaultIngestBufferBytes).
	MaxRecordMB, MaxBatchMB, IngestBufferMB int
	// Args is the command line as run (flags first), for mount --daemon
	// to start itself again.
	Args []string
}

func main() { os.Exit(run(os.Args, os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	g := &globalOptions{}
	app := newApp(g, stdout, stderr)
	err := runApp(app, g, args)
	if err == nil {
		return exitOK
	}
	var r reported
	if !errors.As(err, &r) {
		fmt.Fprintln(stderr, "bcfs:", err)
	}
	return exitCode(err)
}

// runApp runs the command line args: as a mount helper when called as one
// (mount.fuse.bcfs, mount.bcfs, or `bcfs STORE MOUNTPOINT -o OPTS` from
// mount.fuse3), otherwise as bcfs with every flag honoured wherever it is.
func runApp(app *cli.App, g *globalOptions, args []string) error {
	if asHelper(app, args) {
		margs, err := helperArgs(findCommand(app.Commands, "mount"), args)
		if err != nil || margs == nil {
			return err
		}
		args = margs
	} else if err := checkCommand(app, args); err != nil {
		return err
	}
	args, err := hoistFlags(app, args)
	if err != nil {
		return err
	}
	g.Args = args
	return app.Run(args)
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
	case errors.As(err, &ue), errors.As(err, &de), isCLIExit(err),
		errors.Is(err, store.ErrBadInput), errors.Is(err, store.ErrNotFound),
		errors.Is(err, store.ErrInvalidName), errors.Is(err, store.ErrExists),
		errors.Is(err, store.ErrNotEmpty), errors.Is(err, store.ErrReadOnly),
		errors.Is(err, store.ErrUnsafeStore):
		return exitData
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	return exitInternal
}

// isCLIExit tells an error that urfave/cli made itself: bcfs makes none, and
// urfave's are all about the command line ("No help topic for X").
func isCLIExit(err error) bool {
	var ec cli.ExitCoder
	return errors.As(err, &ec)
}

// exitStatus is an exit code to pass on as it is (a daemon child's).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newApp(g *globalOptions, stdout, stderr io.Writer) *cli.App {
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	app := &cli.App{
		Name:    "bcfs",
		Usage:   "market-data bars as a filesystem: one canonical store, CSV and Parquet views",
		Version: version(),
		Description: "Flags may come before or after the arguments; everything after -- is an argument.\n" +
			"`bcfs COMMAND --help` shows a command's flags and examples.",
		CustomAppHelpTemplate: cli.AppHelpTemplate + helpEnvironment,
		Writer:                stdout,
		ErrWriter:             stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "store", Value: "./bcfs-store", EnvVars: []string{"BCFS_STORE"}, Usage: "the store, a `DIR` or s3://bucket/prefix", Destination: &g.Store},
			workDirFlag(g),
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log to stderr", Destination: &g.Verbose},
			&cli.IntFlag{Name: "max-record-mb", EnvVars: []string{"BCFS_MAX_RECORD_MB"}, Usage: "refuse an input record (CSV line, Parquet value) over `MB` MiB (default 16)", Destination: &g.MaxRecordMB},
			&cli.IntFlag{Name: "max-batch-mb", EnvVars: []string{"BCFS_MAX_BATCH_MB"}, Usage: "refuse an input batch of 64Ki rows over `MB` MiB (default 64)", Destination: &g.MaxBatchMB},
			&cli.IntFlag{Name: "ingest-buffer-mb", EnvVars: []string{"BCFS_INGEST_BUFFER_MB"}, Usage: "rows an ingest holds before merging, at most `MB` MiB (default 256)", Destination: &g.IngestBufferMB},
		},
		Commands: []*cli.Command{
			newIngestCommand(g),
			newExportCommand(g),
			newLogCommand(g),
			newDiffCommand(g),
			newRollbackCommand(g),
			newPolicyCommand(g),
			newCleanupCommand(g),
			newCompactCommand(g),
			newLsCommand(g),
			newStatsCommand(g),
			newVerifyCommand(g),
			newSettingsCommand(g),
			newMountCommand(g),
			newTrashCommand(g),
			newErrorsCommand(g),
			newInstallHelperCommand(g),
			newVersionCommand(g),
			newBackupCommand(g),
			newRestoreCommand(g),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
		// Errors become exit codes in run, nowhere else.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	setUsageErrors(app.Commands, app.OnUsageError)
	return app
}

// setUsageErrors makes every command's flag errors usage errors (exit 1).
func setUsageErrors(cmds []*cli.Command, f cli.OnUsageErrorFunc) {
	for _, c := range cmds {
		c.OnUsageError = f
		setUsageErrors(c.Subcommands, f)
	}
}

// helpEnvironment ends the top-level help.
const helpEnvironment = `
ENVIRONMENT:
   BCFS_STORE      the store when --store is not given (else ./bcfs-store); a folder or s3://bucket/prefix
   BCFS_WORK_DIR   local work folder of a store on S3 (else under the user's cache folder)
   NOTIFY_SOCKET   set by systemd for Type=notify units: mount reports READY=1 once it serves
   BCFS_MAX_RECORD_MB, BCFS_MAX_BATCH_MB, BCFS_INGEST_BUFFER_MB
                   memory limits of an ingest (--max-record-mb, --max-batch-mb, --ingest-buffer-mb)
   GOMEMLIMIT      Go's soft memory limit; mount otherwise sets it to --cache-mb + 256 MB
   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE
                   credentials for s3:// locations (shared config and credentials files also apply)
   AWS_REGION      region for s3:// locations (default us-east-1)
   AWS_ENDPOINT_URL
                   an S3-compatible endpoint (MinIO, versitygw, ...) instead of AWS

EXIT CODES:
   0   success
   1   data or usage error: a bad input file, an unknown dataset, a bad flag or argument,
       damage found by verify
   2   internal error: I/O failure, a bug
`

// examples formats a command's examples for its help.
func examples(lines ...string) string {
	return "Examples:\n  " + strings.Join(lines, "\n  ")
}

// applyLimits puts the memory limits of the command line into opt, where
// the caller has not set them.
func applyLimits(g *globalOptions, opt *store.Options) error {
	for _, l := range []struct {
		name string
		mb   int
	}{{"--max-record-mb", g.MaxRecordMB}, {"--max-batch-mb", g.MaxBatchMB}, {"--ingest-buffer-mb", g.IngestBufferMB}} {
		if l.mb < 0 || l.mb > 1<<20 {
			return usageError{fmt.Errorf("%s %d: want 1 to %d MiB, or 0 for the default", l.name, l.mb, 1<<20)}
		}
	}
	if opt.DecodeLimits.MaxRecordBytes == 0 {
		opt.DecodeLimits.MaxRecordBytes = g.MaxRecordMB << 20
	}
	if opt.DecodeLimits.MaxBatchBytes == 0 {
		opt.DecodeLimits.MaxBatchBytes = g.MaxBatchMB << 20
	}
	if opt.IngestBufferBytes == 0 {
		opt.IngestBufferBytes = int64(g.IngestBufferMB) << 20
	}
	return nil
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
	if err := applyLimits(g, &opt); err != nil {
		return nil, err
	}
	if isS3Store(g.Store) {
		return openS3Store(g, opt)
	}
	return store.Open(g.Store, opt)
}
