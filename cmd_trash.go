package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newTrashCommand(g *globalOptions) *cli.Command {
	var asJSON bool
	var as, olderThan string
	return &cli.Command{
		Name:  "trash",
		Usage: "list, restore or empty deleted datasets (every version is kept until emptied)",
		Description: "Deleting a dataset through the mount (rm, rm -r, a merging rename) moves it, every version, to\n" +
			"the store's trash. Nothing empties the trash by itself.\n\n" +
			examples("bcfs trash ls", "bcfs trash restore ES_1min", "bcfs trash restore --as ES_old ES_1min",
				"bcfs trash empty --older-than 30d"),
		Subcommands: []*cli.Command{
			{
				Name:        "ls",
				Usage:       "list deleted datasets, oldest first",
				Description: examples("bcfs trash ls", "bcfs trash ls --json"),
				Flags:       []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print a JSON array", Destination: &asJSON}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 0 {
						return usageError{errors.New("trash ls: takes no arguments")}
					}
					return runTrashList(g, c, asJSON)
				},
			},
			{
				Name:        "restore",
				Usage:       "put a deleted dataset back, every version, under its name or --as NEWNAME",
				ArgsUsage:   "NAME|ID",
				Description: examples("bcfs trash restore yahoo/AAPL", "bcfs trash restore ES_1min --as ES_1min_old"),
				Flags:       []cli.Flag{storeFlag(g), &cli.StringFlag{Name: "as", Usage: "restore under `NEWNAME`", Destination: &as}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{errors.New("trash restore: want exactly one NAME (or entry ID from trash ls)")}
					}
					return runTrashRestore(g, c, datasetArg(c.Args().First()), datasetArg(as))
				},
			},
			{
				Name:        "empty",
				Usage:       "delete trash entries for good (all, or those deleted more than --older-than ago)",
				Description: examples("bcfs trash empty --older-than 7d", "bcfs trash empty"),
				Flags:       []cli.Flag{storeFlag(g), &cli.StringFlag{Name: "older-than", Usage: "only entries deleted more than `DUR` ago (30m, 12h, 7d)", Destination: &olderThan}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 0 {
						return usageError{errors.New("trash empty: takes no arguments")}
					}
					var d time.Duration
					if olderThan != "" {
						var err error
						if d, err = parseAge(olderThan); err != nil {
							return usageError{fmt.Errorf("trash empty --older-than %q: %w", olderThan, err)}
						}
					}
					return runTrashEmpty(g, c, d)
				},
			},
		},
	}
}

// parseAge is time.ParseDuration plus a "d" (24h) unit.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return 0, errors.New("want a duration such as 30m, 12h or 7d")
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("want a duration such as 30m, 12h or 7d")
	}
	return d, nil
}

func runTrashList(g *globalOptions, c *cli.Context, asJSON bool) error {
	st, err := openStore(g, store.Options{ReadOnly: true, CacheBytes: 1 << 20})
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.TrashList()
	if err != nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []store.TrashEntry{}
		}
		b, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDELETED (UTC)\tVERSIONS\tROWS\tREASON\tID\t")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t\n", e.Name, e.DeletedAt.Format("2006-01-02 15:04:05"),
			e.Versions, e.Rows, e.Reason, e.ID)
	}
	return tw.Flush()
}

func runTrashRestore(g *globalOptions, c *cli.Context, name, as string) error {
	st, err := openStore(g, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	e, target, err := st.TrashRestore(name, as)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "restored %s as %s: %d versions, head version %d, %d rows\n",
		e.Name, target, e.Versions, e.HeadVersion, e.Rows)
	return nil
}

func runTrashEmpty(g *globalOptions, c *cli.Context, olderThan time.Duration) error {
	st, err := openStore(g, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	gone, err := st.TrashEmpty(olderThan)
	for _, e := range gone {
		fmt.Fprintf(c.App.Writer, "deleted for good: %s (deleted %s, %d versions)\n",
			e.Name, e.DeletedAt.Format("2006-01-02 15:04:05"), e.Versions)
	}
	return err
}
