// Package formatstest holds helpers shared by the tests of every bcfs
// package.
package formatstest

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedData returns the shared/data folder of real market-data and
// conformance files that lives beside the repository (never in it), found by
// walking up from the test's working directory. A missing folder fails the
// test: the real inputs are part of the suite, never skipped.
func SharedData(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared/data not found above the test's working directory")
		}
		dir = parent
	}
}
