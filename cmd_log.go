package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newLogCommand(g *globalOptions) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:        "log",
		Usage:       "list a dataset's retained versions, newest first",
		ArgsUsage:   "NAME",
		Description: examples("bcfs log ES_1min", "bcfs log --json yahoo/AAPL"),
		Flags:       []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print a JSON array (the .versions/NAME/log.json document)", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("log: want exactly one dataset NAME")}
			}
			return runLog(g, c, datasetArg(c.Args().First()), asJSON)
		},
	}
}

// datasetArg accepts a dataset name with or without a view extension.
func datasetArg(s string) string {
	return strings.TrimSuffix(strings.TrimSuffix(s, ".csv"), ".parquet")
}

func runLog(g *globalOptions, c *cli.Context, name string, asJSON bool) error {
	st, err := openStore(g, store.Options{ReadOnly: true, CacheBytes: 1 << 20})
	if err != nil {
		return err
	}
	defer st.Close()
	if asJSON {
		b, err := st.LogDoc(name)
		if err != nil {
			return err
		}
		_, err = c.App.Writer.Write(b)
		return err
	}
	l, err := st.Log(name)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tTIME (UTC)\tROWS\tADDED\tREPLACED\tDUPLICATES\tSOURCE\t")
	for _, v := range l {
		var r struct {
			Added      *int64 `json:"rows_added"`
			Replaced   *int64 `json:"rows_replaced"`
			Duplicates *int64 `json:"duplicates_removed"`
		}
		_ = json.Unmarshal(v.Report, &r)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t\n", v.Version, v.Time.Format(time.RFC3339), v.Rows,
			count(r.Added), count(r.Replaced), count(r.Duplicates), v.Source)
	}
	return tw.Flush()
}

func count(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// versionSel is export's --version / --as-of choice; zero means the head.
type versionSel struct {
	version int64
	asOf    *time.Time
}

func exportVersionFlags(version int64, asOf string) (versionSel, error) {
	switch {
	case version < 0:
		return versionSel{}, usageError{fmt.Errorf("export: --version %d: want a version number >= 1 (see bcfs log)", version)}
	case version > 0 && asOf != "":
		return versionSel{}, usageError{errors.New("export: give --version or --as-of, not both")}
	case asOf != "":
		t, err := store.ParseTime(asOf)
		if err != nil {
			return versionSel{}, usageError{fmt.Errorf("export: --as-of: %w", err)}
		}
		return versionSel{asOf: &t}, nil
	}
	return versionSel{version: version}, nil
}

func (v versionSel) pin(st *store.Store, name string) (*store.Snapshot, error) {
	n := v.version
	if v.asOf != nil {
		var err error
		if n, err = st.VersionAsOf(name, *v.asOf); err != nil {
			return nil, err
		}
	}
	return st.PinVersion(name, n)
}
