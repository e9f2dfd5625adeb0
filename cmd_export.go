package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newExportCommand(g *globalOptions) *cli.Command {
	var format, out string
	return &cli.Command{
		Name:      "export",
		Usage:     "write a dataset's CSV or Parquet view (the bytes the mount serves)",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "csv|parquet (default: from -o's extension, else csv)", Destination: &format},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "-", Usage: "`FILE` to write, - for stdout", Destination: &out},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("export: want exactly one dataset NAME")}
			}
			view, err := exportView(format, out)
			if err != nil {
				return err
			}
			return runExport(g, c.Args().First(), view, out, c.App.Writer)
		},
	}
}

func exportView(format, out string) (store.View, error) {
	if format == "" && strings.HasSuffix(out, ".parquet") {
		format = "parquet"
	}
	switch format {
	case "", "csv":
		return store.ViewCSV, nil
	case "parquet":
		return store.ViewParquet, nil
	}
	return 0, usageError{fmt.Errorf("export: --format %q: want csv or parquet", format)}
}

func runExport(g *globalOptions, name string, view store.View, out string, stdout io.Writer) error {
	st, err := openStore(g, store.Options{ReadOnly: true, CacheBytes: 64 << 20})
	if err != nil {
		return err
	}
	defer st.Close()
	sn, err := st.Pin(strings.TrimSuffix(strings.TrimSuffix(name, ".csv"), ".parquet"), 0)
	if err != nil {
		return err
	}
	defer sn.Release()
	if out == "-" {
		_, err := sn.WriteTo(view, stdout)
		return err
	}
	// Write beside the target and rename, so a failed export leaves no
	// truncated file under the name.
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := sn.WriteTo(view, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
