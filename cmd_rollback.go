package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newRollbackCommand(g *globalOptions) *cli.Command {
	var to int64
	var asJSON bool
	return &cli.Command{
		Name:  "rollback",
		Usage: "commit a new version whose content is exactly version N's (undo with another rollback)",
		Description: "The rollback is an ordinary commit: it shows in bcfs log as \"rollback to N\", and " +
			"rolling back to the version before it undoes it.\n\n" +
			examples("bcfs log ES_1min", "bcfs rollback ES_1min --to 7", "bcfs rollback ES_1min --to 9   # undo it (9 was the head before)"),
		ArgsUsage: "NAME --to N",
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.Int64Flag{Name: "to", Usage: "version `N` to restore (see bcfs log)", Destination: &to, Required: true},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON", Destination: &asJSON},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("rollback: want exactly one dataset NAME")}
			}
			if to < 1 {
				return usageError{fmt.Errorf("rollback: --to %d: want a version number >= 1 (see bcfs log)", to)}
			}
			st, err := openStore(g, store.Options{CacheBytes: 1 << 20})
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Rollback(c.Context, datasetArg(c.Args().First()), to)
			if err != nil {
				return err
			}
			if asJSON {
				b, err := json.MarshalIndent(res, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
				return err
			}
			if !res.Committed {
				fmt.Fprintf(c.App.Writer, "%s: version %d already has the content of version %d; nothing committed\n", res.Dataset, res.From, res.To)
				return nil
			}
			fmt.Fprintf(c.App.Writer, "%s: committed version %d = content of version %d (%d rows); undo with: bcfs rollback %s --to %d\n",
				res.Dataset, res.Version, res.To, res.Rows, res.Dataset, res.From)
			return nil
		},
	}
}
