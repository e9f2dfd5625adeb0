package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"bcfs/formats"
	"bcfs/metastore"
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

// ingestStoreFS, set by tests only, gives the FS under the store of an
// ingest (to inject a failing syncfs); nil: the store's own.
var ingestStoreFS func(storeDir string) metastore.FS

// ingestGroupMax bounds the datasets of one group commit (and so the
// datasets waiting for their commit while others decode).
const ingestGroupMax = 64

// runIngestParallel ingests files and folders: different datasets in up to
// jobs goroutines at once, plus (when jobs > 1) more whose input is
// decoded and written and that only wait for their commit (a dataset of
// one file releases its decode slot at store.IngestOptions.Written); on a
// local store those commit in groups (store.CommitGroup: one syncfs for
// many datasets). --jobs 1 is strictly one after another, each commit
// fsynced on its own. The files of one dataset in the order given,
// each decoded and validated on its own, the good ones merged in one
// commit per group of up to o.FilesPerCommit files (store.IngestFiles).
// Every failure is printed with its file; the others still commit, and
// the command then exits 1.
func runIngestParallel(c *cli.Context, g *globalOptions, o ingestOptions, args []string, jobs int) error {
	files, failed := ingestInputs(args, o.Dataset)
	for _, err := range failed {
		fmt.Fprintf(c.App.ErrWriter, "bcfs: %v\n", err)
	}
	if len(files) == 0 && len(failed) == 0 {
		return usageError{fmt.Errorf("ingest: no CSV or Parquet file in %s", strings.Join(args, ", "))}
	}
	if o.FilesPerCommit < 0 {
		return usageError{fmt.Errorf("ingest: --files-per-commit %d: want 1 or more (0: as many as memory allows)", o.FilesPerCommit)}
	}
	var sopt store.Options
	if ingestStoreFS != nil {
		sopt.FS = ingestStoreFS(g.Store)
	}
	st, err := openStore(g, sopt)
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
	// jobs datasets decode at once (slots); more may be committing, which
	// is mostly waiting for the disk: with a commit group (a local store)
	// up to ingestGroupMax, which the group publishes together, else jobs.
	workers := jobs
	var group *store.CommitGroup
	if jobs > 1 {
		group = st.NewCommitGroup(ingestGroupMax)
		workers = min(2*jobs, len(order))
		if group != nil {
			workers = min(jobs+ingestGroupMax, len(order))
		}
	}
	slots := make(chan struct{}, jobs)
	var (
		mu    sync.Mutex // serializes output, failed and fatal
		next  atomic.Int64
		wg    sync.WaitGroup
		fatal error
	)
	iopt := store.IngestOptions{Provider: o.Provider, Timezone: o.Timezone, OHLCCheck: o.OHLCCheck,
		Ambiguous: o.Ambiguous, DryRun: o.DryRun, Group: group}
	fail := func(f string, err error) {
		if !strings.Contains(err.Error(), f) {
			err = fmt.Errorf("%s: %w", f, err)
		}
		fmt.Fprintf(c.App.ErrWriter, "bcfs: %v\n", err)
		failed = append(failed, err)
	}
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
		opt := iopt
		opt.Source, opt.Progress = f, &done
		slots <- struct{}{}
		var once sync.Once
		release := func() { once.Do(func() { <-slots }) }
		opt.Written = release
		res, err := st.Ingest(c.Context, name, f, opt)
		release()
		stop()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fail(f, err)
			return
		}
		if err := printReport(c.App.Writer, res, o.JSON); err != nil && fatal == nil {
			fatal = err
		}
	}
	many := func(name string, paths []string) {
		slots <- struct{}{}
		defer func() { <-slots }()
		err := st.IngestFiles(c.Context, name, paths, store.BatchOptions{IngestOptions: iopt, MaxFiles: o.FilesPerCommit},
			func(gr store.GroupResult) {
				mu.Lock()
				defer mu.Unlock()
				for _, f := range gr.Files {
					if f.Err != nil {
						fail(f.File, f.Err)
					}
				}
				if err := printGroupReport(c.App.Writer, name, gr, o.JSON); err != nil && fatal == nil {
					fatal = err
				}
			})
		if err != nil {
			mu.Lock()
			if fatal == nil {
				fatal = err
			}
			mu.Unlock()
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(order) || c.Context.Err() != nil {
					return
				}
				if paths := byName[order[i]]; len(paths) == 1 {
					one(order[i], paths[0])
				} else {
					many(order[i], paths)
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

// printGroupReport prints what became of the files of one commit of
// IngestFiles: a line per good file (as printReport's first line, saying
// how many files the commit merged), then the commit's report once. A
// group of one file prints exactly printReport's report.
func printGroupReport(w io.Writer, name string, gr store.GroupResult, asJSON bool) error {
	res := gr.Commit
	if res == nil {
		return nil // every file failed, each already printed
	}
	good := 0
	for _, f := range gr.Files {
		if f.Err == nil {
			good++
		}
	}
	if len(gr.Files) == 1 {
		r := *res
		r.Source = gr.Files[0].File
		return printReport(w, &r, asJSON)
	}
	if asJSON {
		type file struct {
			File  string        `json:"file"`
			Input formats.Stats `json:"input"`
			Error string        `json:"error,omitempty"`
		}
		doc := struct {
			*store.IngestResult
			Files []file `json:"files"`
		}{IngestResult: res}
		for _, f := range gr.Files {
			e := ""
			if f.Err != nil {
				e = f.Err.Error()
			}
			doc.Files = append(doc.Files, file{f.File, f.Input, e})
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	verb := "committed version"
	switch {
	case res.DryRun:
		verb = "dry run, would change version"
	case !res.Committed:
		verb = "no change, still version"
	}
	for _, f := range gr.Files {
		if f.Err == nil {
			fmt.Fprintf(w, "%s -> %s: %s %d (one commit of %d files)\n  rows read %d (skipped empty %d)\n",
				f.File, name, verb, res.Version, good, f.Input.Rows, f.Input.SkippedEmpty)
		}
	}
	r := res.Report
	fmt.Fprintf(w, "%s: %d files, version %d: rows read %d (skipped empty %d), added %d, replaced %d, duplicates removed %d, conflicts resolved %d\n",
		name, good, res.Version, res.Input.Rows, res.Input.SkippedEmpty, r.RowsAdded, r.RowsReplaced, r.DuplicatesRemoved, r.ConflictsResolved)
	printReportTail(w, res.Input.OHLCViolations, r)
	return nil
}
