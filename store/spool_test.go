package store

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSpoolOfDeadProcessRemovedAtOpen: a spool file whose owner is gone (or
// whose pid now names a process started at another time) is removed by the
// next Open at once, not after the grace period; a running owner's file,
// and a recent file of an unknown owner, stay.
func TestSpoolOfDeadProcessRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	own, err := st.CreateSpool("write", "yahoo/AAPL.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	own.Close()
	if !strings.HasSuffix(own.Name(), ".csv.gz") || !strings.HasPrefix(filepath.Base(own.Name()), fmt.Sprintf("write-%d-", os.Getpid())) {
		t.Fatalf("spool name %s", own.Name())
	}
	st.Close()

	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer live.Process.Kill()
	liveStart, err := procStart(live.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadStart := liveStart // any start: the process is gone
	spool := filepath.Join(dir, "spool")
	files := map[string]bool{ // name -> kept
		filepath.Base(own.Name()):                                       true,
		fmt.Sprintf("write-%d-%d-1.csv", live.Process.Pid, liveStart):   true,
		fmt.Sprintf("write-%d-%d-2.csv", dead.Process.Pid, deadStart):   false,
		fmt.Sprintf("write-%d-%d-3.csv", live.Process.Pid, liveStart+1): false, // pid reused
		"write-123abc-ES.csv":                                           true,  // an older bcfs's name, recent
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(spool, name), make([]byte, 1000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for name, kept := range files {
		_, err := os.Stat(filepath.Join(spool, name))
		if kept && err != nil {
			t.Errorf("%s removed (owner running): %v", name, err)
		}
		if !kept && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s kept (owner gone): %v", name, err)
		}
	}
	live.Process.Kill()
	live.Wait()
	st, err = Open(dir, Options{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(spool, fmt.Sprintf("write-%d-%d-1.csv", live.Process.Pid, liveStart))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spool file of a killed process survived the next Open: %v", err)
	}
}

func TestReserveScratch(t *testing.T) {
	st := newTestStore(t, Options{ScratchBytes: 1 << 20})
	big := filepath.Join(st.ScratchDir(), "big")
	if err := st.ReserveScratch(900 << 10); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, 900<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.ReserveScratch(200 << 10); !errors.Is(err, ErrScratchFull) {
		t.Fatalf("past the bound: %v", err)
	}
	os.Remove(big)
	if err := st.ReserveScratch(200 << 10); err != nil {
		t.Fatalf("after the file went: %v", err)
	}
	unbounded := newTestStore(t, Options{})
	if err := unbounded.ReserveScratch(1 << 40); err != nil {
		t.Fatal(err)
	}
}
