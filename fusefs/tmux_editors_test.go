package fusefs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxSession runs an interactive program in a detached tmux session on a
// server of its own (killed when t ends).
type tmuxSession struct {
	tmux, sock string
}

func startTmux(t *testing.T, command ...string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{
		tmux: need(t, "tmux", "apt-get install -y tmux"),
		sock: fmt.Sprintf("bcfs-test-%d-%d", os.Getpid(), time.Now().UnixNano()),
	}
	args := append([]string{"-L", s.sock, "-f", "/dev/null", "new-session", "-d", "-s", "ed", "-x", "160", "-y", "40",
		"env", "TERM=xterm-256color", "HOME=" + t.TempDir()}, command...)
	cmd := exec.Command(s.tmux, args...)
	cmd.Dir = os.TempDir() // never inside the mount (see TestVimSave)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(s.tmux, "-L", s.sock, "kill-server").Run() })
	return s
}

// waitFor waits until the screen shows text.
func (s *tmuxSession) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(s.tmux, "-L", s.sock, "capture-pane", "-p", "-t", "ed").CombinedOutput()
		if err == nil && strings.Contains(string(out), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("screen never showed %q:\n%s", text, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keys sends tmux key names ("Enter", "Escape", "C-o") or, with literal,
// text as typed.
func (s *tmuxSession) keys(t *testing.T, literal bool, keys ...string) {
	t.Helper()
	args := []string{"-L", s.sock, "send-keys", "-t", "ed"}
	if literal {
		args = append(args, "-l")
	}
	if out, err := exec.Command(s.tmux, append(args, keys...)...).CombinedOutput(); err != nil {
		t.Fatalf("tmux send-keys %q: %v: %s", keys, err, out)
	}
}

// waitExit waits until the program (and so the session) has ended.
func (s *tmuxSession) waitExit(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for exec.Command(s.tmux, "-L", s.sock, "has-session", "-t", "ed").Run() == nil {
		if time.Now().After(deadline) {
			out, _ := exec.Command(s.tmux, "-L", s.sock, "capture-pane", "-p", "-t", "ed").CombinedOutput()
			t.Fatalf("editor still running after 30 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEditorsThroughTmux: vim and nano, typed at as a user would, change a
// value of ES.csv and add a row; the dataset then holds exactly that.
func TestEditorsThroughTmux(t *testing.T) {
	newRow := strings.TrimSpace(genRows(day.Add(esRows*time.Minute), 1, "ES", "ibkr"))
	t.Run("vim", func(t *testing.T) {
		vim := need(t, "vim", "apt-get install -y vim")
		m := esMount(t)
		s := startTmux(t, vim, "-N", "-u", "NONE", "-i", "NONE", filepath.Join(m.mnt, "ES.csv"))
		s.waitFor(t, "timestamp,open")
		s.keys(t, true, ":7s/"+strings.ReplaceAll(esEditOld, ".", `\.`)+"/"+esEditNew+"/")
		s.keys(t, false, "Enter", "G", "o")
		s.keys(t, true, newRow)
		s.keys(t, false, "Escape")
		s.keys(t, true, ":wq")
		s.keys(t, false, "Enter")
		s.waitExit(t)
		checkES(t, m, esView(t, esRows+1, true))
	})
	t.Run("nano", func(t *testing.T) {
		nano := need(t, "nano", "apt-get install -y nano")
		m := esMount(t)
		s := startTmux(t, nano, "--ignorercfiles", filepath.Join(m.mnt, "ES.csv"))
		s.waitFor(t, "timestamp,open")
		s.keys(t, false, `C-\`)
		s.waitFor(t, "Search (to replace)")
		s.keys(t, true, esEditOld)
		s.keys(t, false, "Enter")
		s.waitFor(t, "Replace with")
		s.keys(t, true, esEditNew)
		s.keys(t, false, "Enter")
		s.waitFor(t, "Replace this instance")
		s.keys(t, true, "y")
		s.keys(t, false, "M-/")
		s.keys(t, true, newRow)
		s.keys(t, false, "C-o")
		s.waitFor(t, "File Name to Write")
		s.keys(t, false, "Enter")
		s.waitFor(t, "Wrote")
		s.keys(t, false, "C-x")
		s.waitExit(t)
		checkES(t, m, esView(t, esRows+1, true))
	})
}
