package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"bcfs/store"
)

type backupOptions struct {
	Targets  []string
	JSON     bool
	ReadData bool
	Repair   bool
}

func newBackupCommand(g *globalOptions) *cli.Command {
	var o backupOptions
	var targets cli.StringSlice
	return &cli.Command{
		Name:      "backup",
		Usage:     "copy every kept version of the datasets to the backup targets (folders, S3 buckets)",
		ArgsUsage: "[DATASET...]",
		Description: "Copies each kept version's manifest and the partition files it references to every target " +
			"(or those named by --target), sending only files the target does not hold; a manifest is " +
			"written only after its files are stored and checked. Succeeds when one target succeeded, but " +
			"exits 1 naming every target that failed. S3 credentials come from the standard AWS variables " +
			"(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL) or files.\n\n" +
			examples("bcfs backup target add nas file:///mnt/nas/bars", "bcfs backup", "bcfs backup ES_1min --target nas",
				"bcfs backup verify --read-data"),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.StringSliceFlag{Name: "target", Aliases: []string{"t"}, Usage: "back up to target `NAME` only (repeatable)", Destination: &targets},
			&cli.BoolFlag{Name: "json", Usage: "print the per-target results as JSON", Destination: &o.JSON},
		},
		Subcommands: []*cli.Command{newBackupTargetCommand(g), newBackupVerifyCommand(g)},
		Action: func(c *cli.Context) error {
			o.Targets = targets.Value()
			return runBackup(c, g, o, c.Args().Slice())
		},
	}
}

func runBackup(c *cli.Context, g *globalOptions, o backupOptions, datasets []string) error {
	st, err := openStore(g, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	targets, err := st.ResolveTargets(o.Targets)
	if err != nil {
		return err
	}
	pr := new(store.Progress)
	stop := showProgress(c.App.ErrWriter, pr, "backup")
	results, err := st.Backup(c.Context, targets, store.BackupOptions{Datasets: datasets, Progress: pr})
	stop()
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if !r.OK {
			failed = append(failed, r.Target)
		}
	}
	if o.JSON {
		if err := writeJSON(c.App.Writer, map[string]any{"ok": len(failed) == 0, "targets": results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			state := "ok"
			if !r.OK {
				state = "FAILED"
			}
			fmt.Fprintf(c.App.Writer, "%s (%s): %s in %.1fs: %d files (%s) and %d manifests sent, %d files already held; %d versions held\n",
				r.Target, r.URL, state, r.Seconds, r.FilesSent, humanBytes(r.BytesSent), r.ManifestsSent, r.FilesHeld, r.VersionsHeld)
			if r.Error != "" {
				fmt.Fprintf(c.App.Writer, "  error: %s\n", r.Error)
			}
		}
	}
	switch {
	case len(failed) == len(results):
		return reported{dataError{fmt.Errorf("backup failed on every target (%s)", strings.Join(failed, ", "))}}
	case len(failed) > 0:
		return reported{dataError{fmt.Errorf("backup failed on %d of %d targets: %s", len(failed), len(results), strings.Join(failed, ", "))}}
	}
	return nil
}

func newBackupTargetCommand(g *globalOptions) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:  "target",
		Usage: "add, list or remove backup targets (kept in the store's bcfs.json, without credentials)",
		Description: examples("bcfs backup target add nas file:///mnt/nas/bars", "bcfs backup target add s3 s3://desk-backups/bars",
			"bcfs backup target ls", "bcfs backup target rm nas"),
		Subcommands: []*cli.Command{
			{
				Name:        "add",
				Usage:       "add a target: URL is file:///absolute/path or s3://bucket/prefix",
				ArgsUsage:   "NAME URL",
				Description: examples("bcfs backup target add nas file:///mnt/nas/bars", "bcfs backup target add s3 s3://desk-backups/bars"),
				Flags:       []cli.Flag{storeFlag(g)},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return usageError{errors.New("backup target add: want NAME URL")}
					}
					st, err := openStore(g, store.Options{})
					if err != nil {
						return err
					}
					defer st.Close()
					return st.AddBackupTarget(c.Context, c.Args().Get(0), c.Args().Get(1))
				},
			},
			{
				Name:        "ls",
				Usage:       "list the targets in the order added, with their last backup",
				Description: examples("bcfs backup target ls", "bcfs backup target ls --json"),
				Flags:       []cli.Flag{storeFlag(g), &cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &asJSON}},
				Action: func(c *cli.Context) error {
					st, err := openStore(g, store.Options{ReadOnly: true})
					if err != nil {
						return err
					}
					defer st.Close()
					ts, err := st.BackupTargets()
					if err != nil {
						return err
					}
					last, err := st.LastBackups()
					if err != nil {
						return err
					}
					if asJSON {
						type row struct {
							Name       string              `json:"name"`
							URL        string              `json:"url"`
							LastBackup *store.BackupResult `json:"last_backup,omitempty"`
						}
						rows := []row{}
						for _, t := range ts {
							r := row{Name: t.Name, URL: t.URL}
							for i := range last {
								if last[i].Target == t.Name {
									r.LastBackup = &last[i]
								}
							}
							rows = append(rows, r)
						}
						return writeJSON(c.App.Writer, rows)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tURL\tLAST BACKUP\t")
					for _, t := range ts {
						lb := "never"
						for _, r := range last {
							if r.Target == t.Name {
								lb = r.Started.Local().Format(time.DateTime) + " ok"
								if !r.OK {
									lb = r.Started.Local().Format(time.DateTime) + " FAILED: " + r.Error
								}
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t\n", t.Name, t.URL, lb)
					}
					return tw.Flush()
				},
			},
			{
				Name:        "rm",
				Usage:       "forget a target (what it holds is left alone)",
				Description: examples("bcfs backup target rm nas"),
				ArgsUsage:   "NAME",
				Flags:       []cli.Flag{storeFlag(g)},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{errors.New("backup target rm: want NAME")}
					}
					st, err := openStore(g, store.Options{})
					if err != nil {
						return err
					}
					defer st.Close()
					return st.RemoveBackupTarget(c.Args().First())
				},
			},
		},
	}
}

func newBackupVerifyCommand(g *globalOptions) *cli.Command {
	var o backupOptions
	var targets cli.StringSlice
	return &cli.Command{
		Name:  "verify",
		Usage: "check the backups: every manifest decodes, every file it references is there with its size",
		Description: "With --read-data every file is read back and its SHA-256 checked. Damage is reported " +
			"per target, dataset and version; exits 1 when any is found or a target cannot be read. With " +
			"--repair each damaged or missing file and manifest the store still holds intact is stored " +
			"again (checked as it is stored); only what stays damaged then exits 1.\n\n" +
			examples("bcfs backup verify", "bcfs backup verify --read-data --target nas", "bcfs backup verify --read-data --repair"),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.StringSliceFlag{Name: "target", Aliases: []string{"t"}, Usage: "check target `NAME` only (repeatable)", Destination: &targets},
			&cli.BoolFlag{Name: "read-data", Usage: "read every file back and check its SHA-256", Destination: &o.ReadData},
			&cli.BoolFlag{Name: "repair", Usage: "store again, from the store, what is damaged or missing", Destination: &o.Repair},
			&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &o.JSON},
		},
		Action: func(c *cli.Context) error {
			st, err := openStore(g, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.ResolveTargets(targets.Value())
			if err != nil {
				return err
			}
			pr := new(store.Progress)
			stop := showProgress(c.App.ErrWriter, pr, "verify")
			checks := make([]store.BackupCheck, len(ts))
			var wg sync.WaitGroup
			for i, t := range ts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					checks[i] = store.VerifyBackup(c.Context, t, nil, o.ReadData, pr)
				}()
			}
			wg.Wait()
			stop()
			if o.Repair {
				for i, t := range ts {
					if checks[i].Error != "" || len(checks[i].Problems) == 0 {
						continue
					}
					if _, err := st.RepairBackup(c.Context, t, nil, checks[i].Problems); err != nil {
						checks[i].Error = err.Error()
					}
				}
			}
			var bad []string
			for i, ch := range checks {
				remaining := ch.Error != ""
				for _, p := range ch.Problems {
					remaining = remaining || !p.Repaired
				}
				checks[i].OK = !remaining
				if remaining {
					bad = append(bad, ch.Target)
				}
			}
			if o.JSON {
				if err := writeJSON(c.App.Writer, map[string]any{"ok": len(bad) == 0, "targets": checks}); err != nil {
					return err
				}
			} else {
				for _, ch := range checks {
					state := "ok"
					if !ch.OK {
						state = "DAMAGED"
					} else if len(ch.Problems) > 0 {
						state = "REPAIRED"
					}
					if ch.Error != "" {
						state = "UNREADABLE: " + ch.Error
					}
					fmt.Fprintf(c.App.Writer, "%s (%s): %s: %d versions, %d files", ch.Target, ch.URL, state, ch.Versions, ch.Files)
					if o.ReadData {
						fmt.Fprintf(c.App.Writer, ", %s read", humanBytes(ch.BytesRead))
					}
					fmt.Fprintln(c.App.Writer)
					for _, p := range ch.Problems {
						what := "damaged"
						if p.Repaired {
							what = "repaired"
						}
						fmt.Fprintf(c.App.Writer, "  %s: dataset %s version %d: %s: %s\n", what, p.Dataset, p.Version, p.File, p.Problem)
					}
				}
			}
			if len(bad) > 0 {
				return reported{dataError{fmt.Errorf("backup verify: damage or errors on %s", strings.Join(bad, ", "))}}
			}
			return nil
		},
	}
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// showProgress redraws one status line (bytes, files, rate, ETA) on w every
// half second while the work runs, when w is a terminal; otherwise it
// prints nothing. The returned function stops it and clears the line.
func showProgress(w io.Writer, pr *store.Progress, verb string) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	f := w.(*os.File)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for first := true; ; first = false {
			if !first {
				select {
				case <-done:
					fmt.Fprint(f, "\r\033[K")
					return
				case <-tick.C:
				}
			}
			b, tb := pr.Bytes.Load(), pr.TotalBytes.Load()
			el := time.Since(start).Seconds()
			rate := float64(b) / max(el, 0.001)
			eta := "?"
			if rate > 0 && tb >= b {
				eta = (time.Duration(float64(tb-b)/rate) * time.Second).Round(time.Second).String()
			}
			fmt.Fprintf(f, "\r\033[K%s: %s of %s, %d of %d files, %s/s, ETA %s",
				verb, humanBytes(b), humanBytes(tb), pr.Files.Load(), pr.TotalFiles.Load(), humanBytes(int64(rate)), eta)
		}
	}()
	return func() { close(done); wg.Wait() }
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
