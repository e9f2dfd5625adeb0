package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newLsCommand(g *globalOptions) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:        "ls",
		Usage:       "list datasets with version, rows and view sizes",
		Description: examples("bcfs ls", "bcfs ls --json | jq '.datasets | keys'"),
		Flags:       []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print index.json", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			st, err := openStore(g, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer st.Close()
			if asJSON {
				b, err := st.MetadataDoc(store.DocIndex)
				if err != nil {
					return err
				}
				_, err = c.App.Writer.Write(b)
				return err
			}
			ents, err := st.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tROWS\tCSV BYTES\tPARQUET BYTES\tCOMMITTED\t")
			for _, e := range ents {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", e.Name, e.Version, e.Rows, e.CSVSize, e.ParquetSize,
					e.Committed.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
}

func newStatsCommand(g *globalOptions) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:      "stats",
		Usage:     "show the store's summary, or one dataset's metadata (the .metadata/ documents)",
		ArgsUsage: "[NAME]",
		Description: examples("bcfs stats                      # the store: total_files, total_rows, ...",
			"bcfs stats ES_1min               # one dataset: rows, columns, checksum, last ingest report",
			"bcfs stats --json yahoo/AAPL"),
		Flags: []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print the JSON document", Destination: &asJSON}},
		Action: func(c *cli.Context) error {
			st, err := openStore(g, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer st.Close()
			doc := store.DocSummary
			if c.NArg() > 1 {
				return usageError{errors.New("stats: at most one dataset NAME")}
			}
			if c.NArg() == 1 {
				doc = strings.TrimSuffix(c.Args().First(), ".json") + ".json"
			}
			b, err := st.MetadataDoc(doc)
			if err != nil {
				return err
			}
			if asJSON {
				_, err = c.App.Writer.Write(b)
				return err
			}
			return printFlat(c, b)
		},
	}
}

// printFlat prints a JSON object as "key: value" lines.
func printFlat(c *cli.Context, doc []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s:\t%s\n", k, m[k])
	}
	return tw.Flush()
}

func newVerifyCommand(g *globalOptions) *cli.Command {
	var headOnly bool
	return &cli.Command{
		Name:  "verify",
		Usage: "re-read every partition of every retained version; check SHA-256 and row counts",
		Description: "Exits 1 and names each damaged file when anything does not match its manifest.\n\n" +
			examples("bcfs verify --store /srv/bars"),
		Flags: []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "head-only", Usage: "check only each dataset's head version (fast)", Destination: &headOnly}},
		Action: func(c *cli.Context) error {
			st, err := openStore(g, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer st.Close()
			probs, err := st.VerifyVersions(c.Context, headOnly)
			if err != nil {
				return err
			}
			for _, p := range probs {
				fmt.Fprintln(c.App.ErrWriter, "damaged:", p)
			}
			if len(probs) > 0 {
				return dataError{fmt.Errorf("verify: %d damaged file(s)", len(probs))}
			}
			ents, err := st.List()
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "ok: %d dataset(s) verified\n", len(ents))
			return nil
		},
	}
}

func newSettingsCommand(g *globalOptions) *cli.Command {
	var ch store.SettingsChange
	var pref string
	return &cli.Command{
		Name:      "settings",
		Usage:     "show or change a dataset's settings (creates an empty dataset if needed)",
		ArgsUsage: "NAME",
		Description: "With no flag it prints the settings; each change commits a new version.\n\n" +
			examples("bcfs settings ES_1min",
				"bcfs settings ES_1min --timezone America/Chicago --ohlc-check warn",
				"bcfs settings yahoo/AAPL --provider-preference ibkr,yahoo --dedup timestamp_only"),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.StringFlag{Name: "dedup", Usage: "key strategy `S`: timestamp_symbol|timestamp_only|all_columns", Destination: &ch.Dedup},
			&cli.StringFlag{Name: "provider-preference", Usage: "providers best first, `a,b,c`", Destination: &pref},
			&cli.StringFlag{Name: "partition", Usage: "`BUCKET` of partition files: auto, year, month or day", Destination: &ch.Partition},
			&cli.StringFlag{Name: "timezone", Usage: "IANA `TZ` for timestamps without an offset", Destination: &ch.Timezone},
			&cli.StringFlag{Name: "ohlc-check", Usage: "`MODE` for rows that violate OHLC consistency: reject or warn", Destination: &ch.OHLCCheck},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("settings: want exactly one dataset NAME")}
			}
			name := c.Args().First()
			if c.IsSet("provider-preference") {
				ch.ProviderPreference = strings.Split(pref, ",")
			}
			changing := ch.Dedup != "" || ch.ProviderPreference != nil || ch.Partition != "" || ch.Timezone != "" || ch.OHLCCheck != ""
			st, err := openStore(g, store.Options{ReadOnly: !changing})
			if err != nil {
				return err
			}
			defer st.Close()
			if !changing {
				b, err := st.MetadataDoc(name + ".json")
				if err != nil {
					return err
				}
				var doc struct {
					Settings json.RawMessage `json:"settings"`
				}
				if err := json.Unmarshal(b, &doc); err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.App.Writer, "%s\n", doc.Settings)
				return err
			}
			s, res, err := st.UpdateSettings(c.Context, name, ch)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s\n", b)
			if res != nil && res.Committed {
				fmt.Fprintf(c.App.Writer, "committed version %d\n", res.Version)
			}
			return nil
		},
	}
}
