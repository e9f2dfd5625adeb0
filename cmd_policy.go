package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"bcfs/metastore"
	"bcfs/store"
)

func newPolicyCommand(g *globalOptions) *cli.Command {
	var p metastore.RetentionPolicy
	var asJSON bool
	return &cli.Command{
		Name:  "policy",
		Usage: "retention policies of the store (applied by bcfs cleanup)",
		Description: "Policies are glob patterns over dataset names (* and ? match '/' too), matched in the order " +
			"added; the first match applies. Without a matching policy every version is kept. DUR takes " +
			"d, h, m, s (90d, 12h, 30s).\n\n" +
			examples(`bcfs policy add 'yahoo/*' --keep-versions 20 --keep-history 30d`,
				`bcfs policy add '*_1min' --drop-rows-older-than 730d`,
				`bcfs policy add 'scratch/*' --delete-after 7d`,
				"bcfs policy ls --json", `bcfs policy rm 'scratch/*'`, "bcfs policy trash-period 14d"),
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "append a policy",
				ArgsUsage: "PATTERN",
				Description: examples(`bcfs policy add 'yahoo/*' --keep-versions 20`,
					`bcfs policy add 'ES_*' --keep-history 90d --drop-rows-older-than 730d`),
				Flags: []cli.Flag{
					storeFlag(g),
					&cli.StringFlag{Name: "delete-after", Usage: "move a dataset whose last commit is older than `DUR` to the trash", Destination: &p.DeleteAfter},
					&cli.IntFlag{Name: "keep-versions", Usage: "keep at least the newest `N` versions", Destination: &p.KeepVersions},
					&cli.StringFlag{Name: "keep-history", Usage: "keep versions committed within `DUR` (a version goes when older than both bounds)", Destination: &p.KeepHistory},
					&cli.StringFlag{Name: "drop-rows-older-than", Usage: "commit a version without rows whose timestamp is older than now - `DUR`", Destination: &p.DropRowsOlderThan},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{errors.New("policy add: want exactly one PATTERN")}
					}
					p.Pattern = c.Args().First()
					if p.KeepVersions < 0 {
						return usageError{fmt.Errorf("policy add: --keep-versions %d: want >= 1", p.KeepVersions)}
					}
					st, err := openStore(g, store.Options{CacheBytes: 1 << 20})
					if err != nil {
						return err
					}
					defer st.Close()
					if err := st.AddPolicy(p); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "added policy %s\n", p.Pattern)
					return nil
				},
			},
			{
				Name:        "ls",
				Usage:       "list the policies in the order they are matched",
				Description: examples("bcfs policy ls", "bcfs policy ls --json"),
				Flags:       []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &asJSON}},
				Action: func(c *cli.Context) error {
					st, err := openStore(g, store.Options{ReadOnly: true, CacheBytes: 1 << 20})
					if err != nil {
						return err
					}
					defer st.Close()
					ps, period, err := st.Policies()
					if err != nil {
						return err
					}
					if ps == nil {
						ps = []metastore.RetentionPolicy{}
					}
					if asJSON {
						b, err := json.MarshalIndent(map[string]any{"policies": ps, "trash_period": period.String()}, "", "  ")
						if err != nil {
							return err
						}
						_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
						return err
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "PATTERN\tDELETE AFTER\tKEEP VERSIONS\tKEEP HISTORY\tDROP ROWS OLDER THAN\t")
					for _, p := range ps {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", p.Pattern, dash(p.DeleteAfter), dash(itoaOrEmpty(p.KeepVersions)), dash(p.KeepHistory), dash(p.DropRowsOlderThan))
					}
					if err := tw.Flush(); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "trash period: %s\n", period)
					return nil
				},
			},
			{
				Name:        "rm",
				Usage:       "remove the policy with exactly this pattern",
				ArgsUsage:   "PATTERN",
				Description: examples(`bcfs policy rm 'yahoo/*'`),
				Flags:       []cli.Flag{storeFlag(g)},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{errors.New("policy rm: want exactly one PATTERN")}
					}
					st, err := openStore(g, store.Options{CacheBytes: 1 << 20})
					if err != nil {
						return err
					}
					defer st.Close()
					if err := st.RemovePolicy(c.Args().First()); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "removed policy %s\n", c.Args().First())
					return nil
				},
			},
			{
				Name:        "trash-period",
				Usage:       "set how long cleanup leaves deleted datasets restorable in the trash (default 7d)",
				ArgsUsage:   "DUR",
				Description: examples("bcfs policy trash-period 14d"),
				Flags:       []cli.Flag{storeFlag(g)},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{errors.New("policy trash-period: want one DUR (14d, 36h)")}
					}
					st, err := openStore(g, store.Options{CacheBytes: 1 << 20})
					if err != nil {
						return err
					}
					defer st.Close()
					return st.SetTrashPeriod(c.Args().First())
				},
			},
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func itoaOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}
