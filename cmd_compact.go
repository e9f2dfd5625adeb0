package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newCompactCommand(g *globalOptions) *cli.Command {
	var dryRun, asJSON bool
	return &cli.Command{
		Name:      "compact",
		Usage:     "fold the files appends left in each partition into one file",
		ArgsUsage: "[NAME...]",
		Description: "An ingest that only adds rows after a partition's last timestamp writes them as one more file of " +
			"that partition; views read the files in order. compact folds every partition's files into one, as a " +
			"new version (source \"compaction\") with the same rows; bcfs cleanup does it on its own for partitions " +
			"whose month (or day, year) is over. With no NAME, every dataset.\n\n" +
			examples("bcfs compact", "bcfs compact ES_1min --dry-run", "bcfs compact --json"),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.BoolFlag{Name: "dry-run", Usage: "report what would be folded; change nothing", Destination: &dryRun},
			&cli.BoolFlag{Name: "json", Usage: "print the results as JSON", Destination: &asJSON},
		},
		Action: func(c *cli.Context) error {
			st, err := openStore(g, store.Options{ReadOnly: dryRun, CacheBytes: 1 << 20})
			if err != nil {
				return err
			}
			defer st.Close()
			names := c.Args().Slice()
			if len(names) == 0 {
				if names, err = st.DatasetNames(); err != nil {
					return err
				}
			}
			results := []*store.CompactResult{}
			var errs []error // every dataset is tried; all failures are reported
			for _, name := range names {
				res, err := st.Compact(c.Context, name, store.CompactOptions{All: true, DryRun: dryRun})
				if err == nil && c.NArg() > 0 {
					_, err = st.Stat(name) // a name given that is no dataset
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("compact %s: %w", name, err))
					continue
				}
				results = append(results, res)
			}
			if asJSON {
				b, err := json.MarshalIndent(results, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s\n", b)
				return errors.Join(errs...)
			}
			for _, r := range results {
				switch {
				case r.PartitionsCompacted == 0:
					fmt.Fprintf(c.App.Writer, "%s: nothing to compact\n", r.Dataset)
				case r.DryRun:
					fmt.Fprintf(c.App.Writer, "%s: would fold %d files of %d partition(s) into %d (dry run)\n", r.Dataset, r.FilesBefore, r.PartitionsCompacted, r.FilesAfter)
				default:
					fmt.Fprintf(c.App.Writer, "%s: folded %d files of %d partition(s) into %d, %d bytes written, version %d\n",
						r.Dataset, r.FilesBefore, r.PartitionsCompacted, r.FilesAfter, r.BytesWritten, r.Version)
				}
			}
			return errors.Join(errs...)
		},
	}
}
