package fusefs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"bcfs/store"
)

func TestSmoke(t *testing.T) {
	data := dataDir(t)
	m := mount(t, Options{}, func(st *store.Store) {
		ingestFile(t, st, "yahoo/CALM", filepath.Join(data, "yfinance/tests/data/CALM-1d-no-bad-divs.csv"))
	})
	out, err := exec.Command("ls", "-lR", m.mnt).CombinedOutput()
	t.Logf("%s %v", out, err)
	got, err := os.ReadFile(filepath.Join(m.mnt, "yahoo/CALM.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := snapshotBytes(t, m.st, "yahoo/CALM", store.ViewCSV)
	if !bytes.Equal(got, want) {
		t.Fatalf("csv differs: %d vs %d bytes", len(got), len(want))
	}
	t.Logf("%s", got[:200])
	out, err = exec.Command("cp", filepath.Join(data, "backtrader/datas/yhoo-1996-2014.txt"), filepath.Join(m.mnt, "yhoo.csv")).CombinedOutput()
	t.Logf("cp: %s %v", out, err)
	out, err = exec.Command("ls", "-la", m.mnt, m.mnt+"/.metadata").CombinedOutput()
	t.Logf("%s %v", out, err)
	out, err = exec.Command("cat", m.mnt+"/.metadata/yhoo.json").CombinedOutput()
	t.Logf("%s %v", out, err)
}
