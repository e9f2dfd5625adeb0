package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"bcfs/backend"
	"bcfs/metastore"
	"bcfs/store"
)

type restoreOptions struct {
	From    []string
	Version int64
	AsOf    string
	JSON    bool
}

func newRestoreCommand(g *globalOptions) *cli.Command {
	var o restoreOptions
	var from cli.StringSlice
	return &cli.Command{
		Name:      "restore",
		Usage:     "rebuild datasets from backup targets into the store given by --store (new or existing)",
		ArgsUsage: "[DATASET...]",
		Description: "--from takes configured target names or URLs (file:///path, s3://bucket/prefix), tried in " +
			"the order given, then the other configured targets. A source that is unreachable, lacks the " +
			"version, or returns a file whose SHA-256 does not match is skipped with a warning, file by file. " +
			"A dataset the store lacks gets the versions the backup holds; one it has gets a new version " +
			"equal to the restored one (its history stays). Exits 1 if any dataset could not be restored.\n\n" +
			examples("bcfs restore --store /srv/bars-new --from nas", "bcfs restore ES_1min --from s3 --as-of 2026-11-01",
				"bcfs restore --from file:///mnt/nas/bars --version 12 yahoo/AAPL"),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.StringSliceFlag{Name: "from", Aliases: []string{"f"}, Usage: "restore from target `NAME|URL` (repeatable, in order of preference)", Destination: &from},
			&cli.Int64Flag{Name: "version", Usage: "restore version `N` (default: the newest)", Destination: &o.Version},
			&cli.StringFlag{Name: "as-of", Usage: "restore the newest version committed at or before `TIME` (RFC 3339 or a date)", Destination: &o.AsOf},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON", Destination: &o.JSON},
		},
		Action: func(c *cli.Context) error {
			o.From = from.Value()
			return runRestore(c, g, o, c.Args().Slice())
		},
	}
}

func runRestore(c *cli.Context, g *globalOptions, o restoreOptions, datasets []string) error {
	opt := store.RestoreOptions{Datasets: datasets, Version: o.Version}
	if o.Version < 0 {
		return usageError{fmt.Errorf("restore: --version %d: want a version number > 0", o.Version)}
	}
	if o.AsOf != "" {
		if o.Version != 0 {
			return usageError{errors.New("restore: --version and --as-of exclude each other")}
		}
		t, err := store.ParseTime(o.AsOf)
		if err != nil {
			return usageError{fmt.Errorf("restore: --as-of: %w", err)}
		}
		opt.AsOf = t
	}
	for _, d := range datasets {
		if err := store.ValidName(d); err != nil {
			return usageError{fmt.Errorf("restore: dataset %q: %w", d, err)}
		}
	}
	// Everything is checked before the store is opened (which creates it):
	// a mistake changes nothing.
	configured, err := configuredTargets(g.Store)
	if err != nil {
		return err
	}
	sources, err := restoreSources(o.From, configured)
	if err != nil {
		return err
	}
	st, err := openStore(g, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	pr := new(store.Progress)
	opt.Progress = pr
	stop := showProgress(c.App.ErrWriter, pr, "restore")
	clear := ""
	if isTerminal(c.App.ErrWriter) {
		clear = "\r\033[K" // over the progress line
	}
	opt.Warn = func(msg string) { fmt.Fprintf(c.App.ErrWriter, "%swarning: %s\n", clear, msg) }
	rep, err := st.Restore(c.Context, sources, opt)
	stop()
	if err != nil {
		return err
	}
	if o.JSON {
		if err := writeJSON(c.App.Writer, rep); err != nil {
			return err
		}
	} else {
		printRestore(c, rep)
	}
	var failed []string
	for _, d := range rep.Datasets {
		if !d.OK {
			failed = append(failed, d.Dataset)
		}
	}
	if len(failed) > 0 {
		return reported{dataError{fmt.Errorf("restore failed for %d of %d datasets: %s", len(failed), len(rep.Datasets), strings.Join(failed, ", "))}}
	}
	if len(rep.Datasets) == 0 {
		return dataError{errors.New("restore: the sources hold no datasets")}
	}
	return nil
}

// configuredTargets reads the targets of the store at dir without creating
// it: after a disk loss there is no store, and no targets.
func configuredTargets(dir string) ([]metastore.BackupTarget, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c, err := metastore.ReadConfig(metastore.OS, abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c.BackupTargets, nil
}

// restoreSources turns --from values into sources (names of configured
// targets or URLs), then appends the other configured targets.
func restoreSources(from []string, configured []metastore.BackupTarget) ([]store.RestoreSource, error) {
	var out []store.RestoreSource
	used := map[string]bool{}
	for _, f := range from {
		var src store.RestoreSource
		if strings.Contains(f, "://") {
			loc, err := backend.ParseURL(f)
			if err != nil {
				return nil, usageError{fmt.Errorf("restore: --from: %w", err)}
			}
			src = store.RestoreSource{Label: loc.String(), URL: loc.String()}
			for _, t := range configured {
				if t.URL == loc.String() {
					src.Label = t.Name
				}
			}
		} else {
			i := slices.IndexFunc(configured, func(t metastore.BackupTarget) bool { return t.Name == f })
			if i < 0 {
				known := "none is configured"
				if len(configured) > 0 {
					names := make([]string, len(configured))
					for j, t := range configured {
						names[j] = t.Name
					}
					known = "known: " + strings.Join(names, ", ")
				}
				return nil, usageError{fmt.Errorf("restore: --from %q is neither a configured target (%s) nor a URL (file:///path, s3://bucket/prefix)", f, known)}
			}
			src = store.RestoreSource{Label: configured[i].Name, URL: configured[i].URL}
		}
		if !used[src.URL] {
			used[src.URL] = true
			out = append(out, src)
		}
	}
	for _, t := range configured {
		if !used[t.URL] {
			used[t.URL] = true
			out = append(out, store.RestoreSource{Label: t.Name, URL: t.URL})
		}
	}
	if len(out) == 0 {
		return nil, usageError{errors.New("restore: no source: give --from NAME|URL (the store has no backup targets configured)")}
	}
	return out, nil
}

func printRestore(c *cli.Context, rep *store.RestoreReport) {
	w := c.App.Writer
	for _, d := range rep.Datasets {
		if !d.OK {
			fmt.Fprintf(w, "%s: FAILED: %s\n", d.Dataset, d.Error)
			continue
		}
		switch {
		case d.Unchanged:
			fmt.Fprintf(w, "%s: already holds version %d's content (version %d); nothing committed\n", d.Dataset, d.Version, d.StoreVersion)
		case len(d.History) > 0:
			fmt.Fprintf(w, "%s: restored version %d (%d rows) with history %v; manifest from %s\n", d.Dataset, d.Version, d.Rows, d.History, d.ManifestFrom)
		default:
			fmt.Fprintf(w, "%s: restored version %d (%d rows) as new version %d; manifest from %s\n", d.Dataset, d.Version, d.Rows, d.StoreVersion, d.ManifestFrom)
		}
		srcs := make([]string, 0, len(d.ServedBy))
		for s, n := range d.ServedBy {
			srcs = append(srcs, fmt.Sprintf("%s %d", s, n))
		}
		sort.Strings(srcs)
		if len(srcs) > 0 {
			fmt.Fprintf(w, "  files: %s (%s fetched)\n", strings.Join(srcs, ", "), humanBytes(d.BytesFetched))
		}
		for _, f := range d.Files {
			fmt.Fprintf(w, "  %s <- %s\n", f.Path, f.From)
		}
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintf(w, "%d warnings (sources skipped); see above\n", len(rep.Warnings))
	}
}
