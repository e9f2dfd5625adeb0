package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestIngestGCLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    globalOptions
		jobs int
		want int64
	}{
		{"defaults", globalOptions{}, 1, 768 << 20},
		{"two jobs", globalOptions{}, 2, 2 * 768 << 20},
		{"no jobs counts one", globalOptions{}, 0, 768 << 20},
		{"flags", globalOptions{IngestBufferMB: 1024, MaxBatchMB: 8}, 1, (2048 + 32) << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ingestGCLimit(&tc.g, tc.jobs); got != tc.want {
				t.Errorf("ingestGCLimit = %d MiB, want %d MiB", got>>20, tc.want>>20)
			}
		})
	}
}

// tuneIngestGC sets GOGC and the limit for the ingest only, and leaves
// them alone when the environment sets them.
func TestTuneIngestGC(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOGC")
	os.Unsetenv("GOMEMLIMIT")
	before := debug.SetGCPercent(-1)
	debug.SetGCPercent(before)
	beforeLimit := debug.SetMemoryLimit(-1)

	check := func(args []string, jobs int, wantLimit int64) {
		t.Helper()
		restore := tuneIngestGC(&globalOptions{}, jobs, args)
		if got := debug.SetGCPercent(ingestGCPercent); got != ingestGCPercent {
			t.Errorf("%v: GOGC during ingest %d, want %d", args, got, ingestGCPercent)
		}
		if got := debug.SetMemoryLimit(-1); got != wantLimit {
			t.Errorf("%v: memory limit during ingest %d MiB, want %d MiB", args, got>>20, wantLimit>>20)
		}
		restore()
		if got := debug.SetGCPercent(before); got != before {
			t.Errorf("%v: GOGC after ingest %d, want %d restored", args, got, before)
		}
		if got := debug.SetMemoryLimit(-1); got != beforeLimit {
			t.Errorf("%v: memory limit after ingest %d, want %d restored", args, got, beforeLimit)
		}
	}
	check([]string{file}, 4, 768<<20)         // one file: one job
	check([]string{file, file}, 4, 2*768<<20) // two files
	check([]string{dir}, 3, 3*768<<20)        // a folder: up to --jobs

	t.Setenv("GOGC", "50")
	tuneIngestGC(&globalOptions{}, 1, []string{file})()
	if got := debug.SetGCPercent(before); got != before {
		t.Errorf("with GOGC set: GOGC changed to %d", got)
	}
}
