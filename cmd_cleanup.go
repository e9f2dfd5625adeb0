package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

func newCleanupCommand(g *globalOptions) *cli.Command {
	var dryRun, asJSON bool
	var grace string
	return &cli.Command{
		Name:  "cleanup",
		Usage: "apply the retention policies, remove unreferenced files, empty old trash entries",
		Description: "Reports files_removed (datasets deleted by --delete-after, moved to the trash), space_freed_bytes, " +
			"removed_files, versions_removed, rows_dropped, partitions_removed and partitions_compacted (partitions whose " +
			"appended files were folded into one, see bcfs compact). Files are removed only when no kept " +
			"version references them and they are older than the grace period. The last report is in .metadata/cleanup.json.\n\n" +
			examples("bcfs cleanup --dry-run", "bcfs cleanup --json", "bcfs cleanup --grace 1h"),
		Flags: []cli.Flag{
			storeFlag(g),
			&cli.BoolFlag{Name: "dry-run", Usage: "report what would be removed; change nothing", Destination: &dryRun},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON", Destination: &asJSON},
			&cli.StringFlag{Name: "grace", Value: "10m", Usage: "remove only files older than `DUR` (other processes' commits in flight are younger)", Destination: &grace},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError{errors.New("cleanup takes no arguments (policies: bcfs policy ls)")}
			}
			gd, err := store.ParseDuration(grace)
			if err != nil {
				return usageError{fmt.Errorf("cleanup: --grace: %w", err)}
			}
			if gd == 0 {
				gd = time.Nanosecond // "0": no grace at all
			}
			st, err := openStore(g, store.Options{ReadOnly: dryRun, CacheBytes: 1 << 20})
			if err != nil {
				return err
			}
			defer st.Close()
			rep, cerr := st.Cleanup(c.Context, store.CleanupOptions{DryRun: dryRun, Grace: gd})
			if rep != nil {
				if asJSON {
					b, err := json.MarshalIndent(rep, "", "  ")
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%s\n", b)
				} else {
					printCleanup(c, rep)
				}
			}
			return cerr
		},
	}
}

func printCleanup(c *cli.Context, r *store.CleanupReport) {
	w := c.App.Writer
	what := "removed"
	if r.DryRun {
		what = "would remove (dry run)"
	}
	fmt.Fprintf(w, "cleanup %s: %d dataset(s) deleted to the trash, %d version(s), %d row(s), %d partition(s) dropped, %d file(s) deleted, %d bytes freed, %d trash entr(ies) emptied, %d partition(s) compacted\n",
		what, r.FilesRemoved, r.VersionsRemoved, r.RowsDropped, r.PartitionsRemoved, r.FilesDeleted, r.SpaceFreedBytes, len(r.TrashEmptied), r.PartitionsCompacted)
	for _, d := range r.Datasets {
		var parts []string
		if d.Deleted {
			parts = append(parts, "deleted (in the trash)")
		}
		if d.RowsDropped > 0 {
			parts = append(parts, fmt.Sprintf("%d rows dropped (%d partitions whole, %d rewritten)", d.RowsDropped, d.PartitionsRemoved, d.PartitionsRewritten))
		}
		if d.PartitionsCompacted > 0 {
			parts = append(parts, fmt.Sprintf("%d partition(s) compacted (version %d)", d.PartitionsCompacted, d.CompactionVersion))
		}
		if d.RetentionVersion > 0 {
			parts = append(parts, fmt.Sprintf("committed version %d", d.RetentionVersion))
		}
		if len(d.VersionsRemoved) > 0 {
			parts = append(parts, fmt.Sprintf("versions removed %s", versionRanges(d.VersionsRemoved)))
		}
		if d.FilesDeleted > 0 {
			parts = append(parts, fmt.Sprintf("%d files, %d bytes", d.FilesDeleted, d.BytesFreed))
		}
		pol := ""
		if d.Policy != "" {
			pol = " [policy " + d.Policy + "]"
		}
		fmt.Fprintf(w, "  %s%s: %s\n", d.Name, pol, strings.Join(parts, "; "))
	}
	for _, n := range r.TrashEmptied {
		fmt.Fprintf(w, "  trash: %s emptied for good\n", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(c.App.ErrWriter, "cleanup error: %s\n", e)
	}
}

// versionRanges prints ascending versions as "1-5,8".
func versionRanges(vs []int64) string {
	var b strings.Builder
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", vs[i], vs[j])
		} else {
			fmt.Fprintf(&b, "%d", vs[i])
		}
		i = j + 1
	}
	return b.String()
}

// startPeriodicCleanup runs Cleanup every `every` (a DUR; "" means never)
// in the background and logs each run; the returned function stops it and
// waits for a run in progress.
func startPeriodicCleanup(st *store.Store, every string, log *slog.Logger) (stop func()) {
	if every == "" {
		return func() {}
	}
	d, err := store.ParseDuration(every)
	if err != nil || d <= 0 {
		log.Error("--cleanup-every: not a duration; periodic cleanup is off", "value", every, "err", err)
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rep, err := st.Cleanup(ctx, store.CleanupOptions{})
			if rep != nil {
				log.Info("periodic cleanup", "datasets_deleted", rep.FilesRemoved, "versions_removed", rep.VersionsRemoved,
					"rows_dropped", rep.RowsDropped, "files_deleted", rep.FilesDeleted, "space_freed_bytes", rep.SpaceFreedBytes,
					"trash_emptied", len(rep.TrashEmptied), "partitions_compacted", rep.PartitionsCompacted, "elapsed_ms", rep.ElapsedMS)
			}
			if err != nil {
				log.Error("periodic cleanup", "err", err)
			}
		}
	}()
	log.Info("periodic cleanup on", "every", d.String())
	return func() {
		cancel()
		<-done
	}
}
