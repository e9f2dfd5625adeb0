package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"bcfs/store"
)

// ingestFile is one input and the dataset it merges into.
type ingestFile struct{ path, dataset string }

// ingestInputs expands the command's arguments: a FILE merges into --dataset
// or its base name; a folder DIR contributes every CSV or Parquet file below
// it, named after its path inside DIR without extension (DIR/yahoo/AAPL.csv
// -> yahoo/AAPL), or into --dataset. Files of a folder come in lexical order.
func ingestInputs(args []string, dataset string) ([]ingestFile, []error) {
	var out []ingestFile
	var errs []error
	name := func(rel string) string {
		if dataset != "" {
			return dataset
		}
		d := filepath.ToSlash(filepath.Dir(rel))
		if d == "." {
			return datasetFromFile(rel)
		}
		return d + "/" + datasetFromFile(rel)
	}
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil || !fi.IsDir() {
			out = append(out, ingestFile{a, name(filepath.Base(a))}) // Ingest reports a missing file
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			if p != a && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !ingestable(d.Name()) {
				return nil
			}
			rel, err := filepath.Rel(a, p)
			if err != nil {
				return err
			}
			out = append(out, ingestFile{p, name(rel)})
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errs
}

// ingestable reports whether a file in a folder is an input: .csv, .txt,
// .parquet or .pq, optionally compressed (.gz, .zst, .zstd).
func ingestable(base string) bool {
	base = strings.ToLower(base)
	for _, ext := range []string{".gz", ".zst", ".zstd"} {
		base = strings.TrimSuffix(base, ext)
	}
	switch filepath.Ext(base) {
	case ".csv", ".txt", ".parquet", ".pq":
		return true
	}
	return false
}

// runIngestParallel ingests files and folders: the files of one dataset one
// after another in the order given, different datasets in up to jobs
// goroutines at once. Every failure is printed with its file; the others
// still commit, and the command then exits 1.
func runIngestParallel(c *cli.Context, g *globalOptions, o ingestOptions, args []string, jobs int) error {
	files, failed := ingestInputs(args, o.Dataset)
	for _, err := range failed {
		fmt.Fprintf(c.App.ErrWriter, "bcfs: %v\n", err)
	}
	if len(files) == 0 && len(failed) == 0 {
		return usageError{fmt.Errorf("ingest: no CSV or Parquet file in %s", strings.Join(args, ", "))}
	}
	st, err := openStore(g, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	// Group by dataset, datasets in order of first appearance.
	var order []string
	byName := map[string][]string{}
	for _, f := range files {
		if _, ok := byName[f.dataset]; !ok {
			order = append(order, f.dataset)
		}
		byName[f.dataset] = append(byName[f.dataset], f.path)
	}
	if jobs < 1 {
		jobs = 1
	}
	jobs = min(jobs, len(order))
	var (
		mu    sync.Mutex // serializes output and failed
		next  atomic.Int64
		wg    sync.WaitGroup
		fatal error
	)
	one := func(name, f string) {
		var done atomic.Int64
		stop := func() {}
		if jobs == 1 { // one progress line at a time
			var size int64
			if fi, err := os.Stat(f); err == nil {
				size = fi.Size()
			}
			stop = startProgress(c.App.ErrWriter, "ingest "+f, size, &done)
		}
		res, err := st.Ingest(c.Context, name, f, store.IngestOptions{Source: f, Provider: o.Provider,
			Timezone: o.Timezone, OHLCCheck: o.OHLCCheck, Ambiguous: o.Ambiguous, DryRun: o.DryRun, Progress: &done})
		stop()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if !strings.Contains(err.Error(), f) {
				err = fmt.Errorf("%s: %w", f, err)
			}
			fmt.Fprintf(c.App.ErrWriter, "bcfs: %v\n", err)
			failed = append(failed, err)
			return
		}
		if err := printReport(c.App.Writer, res, o.JSON); err != nil && fatal == nil {
			fatal = err
		}
	}
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(order) || c.Context.Err() != nil {
					return
				}
				for _, f := range byName[order[i]] {
					one(order[i], f)
				}
			}
		}()
	}
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return reported{failed[0]}
	default:
		return reported{fmt.Errorf("%d of %d files failed: %w", len(failed), len(files), errors.Join(failed...))}
	}
}
