package fusefs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// office is one headless soffice listening on a UNO pipe.
type office struct {
	pipe string
	cmd  *exec.Cmd
}

// startOffice starts soffice with its own profile; it is stopped (its whole
// process group) when t ends.
func startOffice(t *testing.T) *office {
	t.Helper()
	soffice := need(t, "soffice", "apt-get install -y --no-install-recommends libreoffice-calc-nogui python3-uno")
	needClient(t, "/usr/bin/python3", "apt-get install -y python3-uno")
	if err := exec.Command("/usr/bin/python3", "-c", "import uno").Run(); err != nil {
		if requireFuse() {
			t.Fatal("python3-uno missing: apt-get install -y python3-uno")
		}
		t.Skip("python3-uno missing")
	}
	profile := t.TempDir()
	o := &office{pipe: fmt.Sprintf("bcfs_test_%d_%d", os.Getpid(), time.Now().UnixNano())}
	o.cmd = exec.Command(soffice, "--headless", "--invisible", "--nologo", "--norestore", "--nodefault",
		"--nolockcheck", "-env:UserInstallation=file://"+profile,
		"--accept=pipe,name="+o.pipe+";urp;StarOffice.ComponentContext")
	o.cmd.Dir = os.TempDir()
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs strings.Builder
	o.cmd.Stdout, o.cmd.Stderr = &logs, &logs
	if err := o.cmd.Start(); err != nil {
		t.Fatalf("soffice: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-o.cmd.Process.Pid, syscall.SIGKILL)
		_ = o.cmd.Wait()
		if t.Failed() {
			t.Logf("soffice output:\n%s", logs.String())
		}
	})
	return o
}

type calcResult struct {
	Rows   int    `json:"rows"`
	Cols   int    `json:"cols"`
	Before string `json:"before"`
	Stored bool   `json:"stored"`
	Error  string `json:"error"`
}

// calc opens path in Calc, reads cell (row, col) and, with a value, sets it
// and saves with store().
func (o *office) calc(t *testing.T, path string, row, col int, value ...string) calcResult {
	t.Helper()
	args := append([]string{filepath.Join(clientsDir(t), "calc_edit.py"), o.pipe, path, fmt.Sprint(row), fmt.Sprint(col)}, value...)
	out := run(t, "/usr/bin/python3", args...)
	var r calcResult
	if err := json.Unmarshal([]byte(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]), &r); err != nil {
		t.Fatalf("calc_edit output %q: %v", out, err)
	}
	return r
}

// TestLibreOfficeCalc: Calc opens a dataset's CSV view through the mount
// and shows every row; changing a cell and saving with store() changes that
// value and nothing else; a bad value fails the save and changes nothing.
func TestLibreOfficeCalc(t *testing.T) {
	o := startOffice(t)
	m := esMount(t)
	view := filepath.Join(m.mnt, "ES.csv")
	const closeCol, editRow = 4, 6 // row 0 is the header; data row 5 is esEditTS
	r := o.calc(t, view, editRow, closeCol)
	if r.Rows != esRows+1 || r.Cols != 8 {
		t.Fatalf("sheet is %d rows x %d columns, want %d x 8", r.Rows, r.Cols, esRows+1)
	}
	if r.Before != "4001.75" {
		t.Fatalf("cell before: %q, want 4001.75", r.Before)
	}
	r = o.calc(t, view, editRow, closeCol, "4001.5")
	if !r.Stored {
		t.Fatalf("store() failed: %s", r.Error)
	}
	checkES(t, m, esView(t, esRows, true))
	v, _ := m.st.Stat("ES")

	r = o.calc(t, view, editRow, closeCol, "not a number")
	if r.Stored {
		t.Fatal("store() of a sheet with a bad close succeeded")
	}
	t.Logf("bad value: %s", r.Error)
	checkES(t, m, esView(t, esRows, true))
	if e, _ := m.st.Stat("ES"); e.Version != v.Version {
		t.Fatalf("version moved %d -> %d after a failed save", v.Version, e.Version)
	}
	// The sheet reopens with every row and the saved value.
	if r = o.calc(t, view, editRow, closeCol); r.Rows != esRows+1 || r.Before != "4001.5" {
		t.Fatalf("reopened: %d rows, cell %q", r.Rows, r.Before)
	}
}
