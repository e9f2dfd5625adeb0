package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"bcfs/store"
)

func newExportCommand(g *globalOptions) *cli.Command {
	var format, out, asOf string
	var version int64
	return &cli.Command{
		Name:      "export",
		Usage:     "write a dataset's CSV or Parquet view (the bytes the mount serves)",
		ArgsUsage: "NAME",
		Description: examples("bcfs export ES_1min > ES_1min.csv",
			"bcfs export -o ES_1min.parquet ES_1min          # the format follows the extension",
			"bcfs export --format parquet yahoo/AAPL | duckdb -c \"select count(*) from read_parquet('/dev/stdin')\""),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "`FORMAT`: csv or parquet (default: from -o's extension, else csv)", Destination: &format},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "-", Usage: "`FILE` to write, - for stdout", Destination: &out},
			&cli.Int64Flag{Name: "version", Usage: "export version `N` (see bcfs log) instead of the head", Destination: &version},
			&cli.StringFlag{Name: "as-of", Usage: "export the newest version committed at or before `TIME` (RFC 3339 or YYYY-MM-DD)", Destination: &asOf},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{errors.New("export: want exactly one dataset NAME")}
			}
			view, err := exportView(format, out)
			if err != nil {
				return err
			}
			at, err := exportVersionFlags(version, asOf)
			if err != nil {
				return err
			}
			return runExport(g, c.Args().First(), view, out, c.App.Writer, at)
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

func runExport(g *globalOptions, name string, view store.View, out string, stdout io.Writer, at versionSel) error {
	st, err := openStore(g, store.Options{ReadOnly: true, CacheBytes: 64 << 20})
	if err != nil {
		return err
	}
	defer st.Close()
	sn, err := at.pin(st, strings.TrimSuffix(strings.TrimSuffix(name, ".csv"), ".parquet"))
	if err != nil {
		return err
	}
	defer sn.Release()
	var done atomic.Int64
	stop := startProgress(os.Stderr, "export "+sn.Name()+view.Ext(), sn.Size(view), &done)
	defer stop()
	if out == "-" {
		if f, ok := stdout.(*os.File); ok {
			if off, ok := positional(f); ok {
				n, err := sn.WriteViewAt(view, countingWriterAt{f, &done}, off)
				if err != nil {
					return err
				}
				// The shell's offset of the file moves past the view,
				// as a sequential write would leave it.
				_, err = f.Seek(off+n, io.SeekStart)
				return err
			}
		}
		_, err := sn.WriteTo(view, countingWriter{stdout, &done})
		return err
	}
	if fi, err := os.Stat(out); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		// A device or FIFO (-o /dev/null, a named pipe): write into it;
		// a rename would replace it with a regular file.
		f, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := sn.WriteTo(view, countingWriter{f, &done}); err != nil {
			f.Close()
			return err
		}
		return f.Close()
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
	if _, err := sn.WriteViewAt(view, countingWriterAt{tmp, &done}, 0); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// positional reports whether f is a regular file opened without O_APPEND,
// which a view can then be written into at its offsets (WriteViewAt)
// starting at f's current offset, which it returns.
func positional(f *os.File) (int64, bool) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_APPEND != 0 {
		return 0, false
	}
	off, err := f.Seek(0, io.SeekCurrent)
	return off, err == nil
}

// countingWriterAt counts the bytes written through it.
type countingWriterAt struct {
	w io.WriterAt
	n *atomic.Int64
}

func (c countingWriterAt) WriteAt(b []byte, off int64) (int, error) {
	k, err := c.w.WriteAt(b, off)
	c.n.Add(int64(k))
	return k, err
}
