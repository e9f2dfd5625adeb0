package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"bcfs/metastore"
	"bcfs/store"
)

// newErrorsCommand prints the store's recorded failed writes, as
// .metadata/errors.json shows them.
func newErrorsCommand(g *globalOptions) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:  "errors",
		Usage: fmt.Sprintf("show the last %d failed writes (ingests) of every process using the store, oldest first", metastore.MaxFailures),
		Description: "Every failed write (a bad file copied into the mount, a failed bcfs ingest) is recorded in the\n" +
			"store with its time, dataset, file, line, column and value. NAME limits the list to one dataset.\n" +
			"--json prints the same document as .metadata/errors.json.\n\n" +
			examples("bcfs errors", "bcfs errors ES_1min --json"),
		ArgsUsage: "[NAME]",
		Flags:     []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print JSON (.metadata/errors.json)", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return usageError{errors.New("errors: at most one dataset NAME")}
			}
			st, err := openStore(g, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer st.Close()
			fails, err := st.Failures()
			if err != nil {
				return err
			}
			if c.NArg() == 1 {
				name := c.Args().First()
				kept := fails[:0]
				for _, f := range fails {
					if f.Dataset == name {
						kept = append(kept, f)
					}
				}
				fails = kept
			}
			if asJSON {
				b, err := json.MarshalIndent(fails, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
				return err
			}
			if len(fails) == 0 {
				_, err := fmt.Fprintln(c.App.Writer, "no failed writes recorded")
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tDATASET\tERROR")
			for _, f := range fails {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Time.Local().Format(time.DateTime), f.Dataset, f.Error)
			}
			return tw.Flush()
		},
	}
}
