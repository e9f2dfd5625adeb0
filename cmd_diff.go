package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newDiffCommand(g *globalOptions) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:        "diff",
		Usage:       "rows added, removed and changed between two versions of a dataset (by its dedup key)",
		ArgsUsage:   "NAME A B",
		Description: examples("bcfs diff ES_1min 3 4            # what version 4 changed", "bcfs diff --json ES_1min 1 4"),
		Flags:       []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print the diff as JSON", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 3 {
				return usageError{errors.New("diff: want NAME A B (two version numbers, see bcfs log)")}
			}
			var vs [2]int64
			for i, a := range c.Args().Slice()[1:] {
				v, err := strconv.ParseInt(a, 10, 64)
				if err != nil || v < 1 {
					return usageError{fmt.Errorf("diff: version %q: want a number >= 1", a)}
				}
				vs[i] = v
			}
			st, err := openStore(g, store.Options{ReadOnly: true, CacheBytes: 1 << 20})
			if err != nil {
				return err
			}
			defer st.Close()
			d, err := st.Diff(c.Context, datasetArg(c.Args().First()), vs[0], vs[1])
			if err != nil {
				return err
			}
			w := c.App.Writer
			if asJSON {
				b, err := json.MarshalIndent(d, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "%s\n", b)
				return err
			}
			fmt.Fprintf(w, "%s: version %d (%d rows) -> version %d (%d rows), matched by %s\n",
				d.Dataset, d.From, d.RowsFrom, d.To, d.RowsTo, d.Key)
			fmt.Fprintf(w, "added %d, removed %d, changed %d, unchanged %d\n", d.Added, d.Removed, d.Changed, d.Unchanged)
			if d.Added+d.Removed+d.Changed > 0 {
				fmt.Fprintf(w, "  %s\n", d.Header)
			}
			for _, r := range d.AddedRows {
				fmt.Fprintf(w, "+ %s\n", r.Row)
			}
			more(w, d.Added, len(d.AddedRows), "added")
			for _, r := range d.RemovedRows {
				fmt.Fprintf(w, "- %s\n", r.Row)
			}
			more(w, d.Removed, len(d.RemovedRows), "removed")
			for _, r := range d.ChangedRows {
				fmt.Fprintf(w, "< %s\n> %s\n  (%s; provider %s -> %s)\n", r.Before, r.After,
					strings.Join(r.Columns, ", "), r.ProviderBefore, r.ProviderAfter)
			}
			more(w, d.Changed, len(d.ChangedRows), "changed")
			return nil
		},
	}
}

func more(w interface{ Write([]byte) (int, error) }, total int64, shown int, what string) {
	if total > int64(shown) {
		fmt.Fprintf(w, "  ... %d more %s\n", total-int64(shown), what)
	}
}
