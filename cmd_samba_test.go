package main

import (
	"context"
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

// needSamba skips (or fails under BCFS_REQUIRE_FUSE=1) without Debian's
// samba, smbclient and python3-samba (scripts/test.sh installs them).
func needSamba(t *testing.T) {
	t.Helper()
	needMount(t)
	var missing []string
	for _, c := range []string{"smbd", "smbclient", "unshare", "nsenter", "ip"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import samba.samba3.libsmb_samba_internal").Run(); err != nil {
		missing = append(missing, "python3-samba")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("BCFS_REQUIRE_FUSE") == "1" {
		t.Fatalf("Samba test required (BCFS_REQUIRE_FUSE=1): missing %v", missing)
	}
	t.Skipf("missing %v", missing)
}

// sambaConf is the share of a mount as the README gives it, plus what a
// private server needs: its own folders and loopback only.
const sambaConf = `[global]
  server role = standalone server
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  map to guest = Bad User
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
  lock directory = {{D}}/lock
  state directory = {{D}}/state
  cache directory = {{D}}/cache
  pid directory = {{D}}/pid
  private dir = {{D}}/private
  ncalrpc dir = {{D}}/ncalrpc
  log file = {{D}}/log.%m
{{SHARE}}`

// sambaShare is the README's share section (the test checks the README
// shows it).
const sambaShare = `[bars]
  path = /mnt/bars
  read only = no
  guest ok = yes
  force user = root
  store dos attributes = no
  ea support = no
  kernel oplocks = no
  kernel share modes = no
  posix locking = no`

// smbServer is an smbd serving a folder on 127.0.0.1:445 of a network
// namespace of its own (the Samba clients connect to port 445 only).
type smbServer struct {
	t   *testing.T
	pid int
}

func startSamba(t *testing.T, path string) *smbServer {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"lock", "state", "cache", "pid", "private", "ncalrpc"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	share := strings.Replace(sambaShare, "/mnt/bars", path, 1)
	conf := strings.NewReplacer("{{D}}", dir, "{{SHARE}}", share).Replace(sambaConf)
	confPath := write(t, dir, "smb.conf", conf)
	cmd := exec.Command("unshare", "-n", "sh", "-c",
		"ip link set lo up && exec smbd --foreground --no-process-group --debug-stdout -d 1 --configfile="+confPath)
	log := &testLog{}
	cmd.Stdout, cmd.Stderr = log, log
	// smbd signals its whole process group when it stops: give it its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM: smbd stops its helper processes too.
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("smbd:\n%s", log.String())
		}
	})
	s := &smbServer{t: t, pid: cmd.Process.Pid}
	waitFor(t, 30*time.Second, "smbd to listen", func() bool {
		out, _ := exec.Command("nsenter", "-t", fmt.Sprint(s.pid), "-n", "sh", "-c", "cat /proc/net/tcp").Output()
		return strings.Contains(string(out), ":01BD ") // port 445
	})
	return s
}

// smbclient runs smbclient commands (`put a b; rename b c`) as a guest and
// returns its output.
func (s *smbServer) smbclient(cmds string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "-t", fmt.Sprint(s.pid), "-n",
		"smbclient", "//127.0.0.1/bars", "-N", "-c", cmds).CombinedOutput()
	if ctx.Err() != nil {
		s.t.Fatalf("smbclient %q: %v\n%s", cmds, err, out)
	}
	return string(out)
}

// readRW reads name through an SMB open for read and write, as Excel opens
// a workbook, with Samba's own Python client.
func (s *smbServer) readRW(name string) (string, error) {
	s.t.Helper()
	script := `
import sys
from samba import credentials
from samba.samba3 import libsmb_samba_internal as libsmb, param as s3param
lp = s3param.get_context()
lp.load("/dev/null")
creds = credentials.Credentials()
creds.guess(lp)
creds.set_username("guest"); creds.set_password("guest")
c = libsmb.Conn("127.0.0.1", "bars", lp, creds)
READ_DATA, WRITE_DATA, READ_ATTR, SYNCHRONIZE = 0x1, 0x2, 0x80, 0x100000
size = c.list("", sys.argv[1])[0]["size"]
f = c.create(sys.argv[1], DesiredAccess=READ_DATA | WRITE_DATA | READ_ATTR | SYNCHRONIZE,
             ShareAccess=1, CreateDisposition=1)
data = b""
while len(data) < size:  # this client fails a read at the end of the file
    b = c.read(f, len(data), min(65536, size - len(data)))
    if not b:
        break
    data += b
c.close(f)
sys.stdout.buffer.write(data)
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "-t", fmt.Sprint(s.pid), "-n", "/usr/bin/python3", "-c", script, name)
	var stderr testLog
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return string(out), nil
}

// datasetState is what the Samba tests compare: rows, settings, versions.
type datasetState struct {
	CSV      string
	Settings string
	Versions []int64
	Datasets []string
}

func stateOf(t *testing.T, st, name string) datasetState {
	t.Helper()
	var s datasetState
	var code int
	var errOut string
	if s.CSV, errOut, code = bcfs(t, st, "export", name); code != 0 {
		t.Fatal(errOut)
	}
	if s.Settings, errOut, code = bcfs(t, st, "settings", name); code != 0 {
		t.Fatal(errOut)
	}
	out, errOut, code := bcfs(t, st, "log", "--json", name)
	if code != 0 {
		t.Fatal(errOut)
	}
	var log []struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, v := range log {
		s.Versions = append(s.Versions, v.Version)
	}
	out, errOut, code = bcfs(t, st, "ls", "--json")
	if code != 0 {
		t.Fatal(errOut)
	}
	var idx map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &idx); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for k := range idx {
		s.Datasets = append(s.Datasets, k)
	}
	return s
}

// keepsHistory tells whether after holds every version of before and a
// newer one.
func keepsHistory(before, after []int64) bool {
	newest := int64(0)
	has := map[int64]bool{}
	for _, v := range after {
		has[v] = true
		newest = max(newest, v)
	}
	for _, v := range before {
		if !has[v] || v >= newest {
			return false
		}
	}
	return true
}

// TestSambaExcelSaves replays, through a real smbd sharing a mount, what
// Excel does when it opens and saves NAME.csv (KB 814068): an owner file
// ~$NAME.csv, the new content in a temporary file, then either delete the
// original and rename the temporary file onto it, or rename the original
// to a backup, rename the temporary file onto it and delete the backup. The
// edit must merge into the dataset with its settings and history.
func TestSambaExcelSaves(t *testing.T) {
	needSamba(t)
	readme, err := os.ReadFile("README.md")
	if err != nil || !strings.Contains(string(readme), sambaShare) {
		t.Fatalf("README does not show the share section the test uses:\n%s", sambaShare)
	}
	st := filepath.Join(t.TempDir(), "store")
	src := t.TempDir()
	v1 := "timestamp,open,high,low,close,volume,symbol,provider\n" +
		"2024-01-02 10:00:00,1,2,0.5,1.5,10,T,ibkr\n" +
		"2024-01-02 10:01:00,1,2,0.5,1.5,11,T,ibkr\n" +
		"2024-01-02 10:02:00,1,2,0.5,1.5,12,T,ibkr\n"
	if _, errOut, code := bcfs(t, st, "ingest", write(t, src, "T.csv", v1)); code != 0 {
		t.Fatal(errOut)
	}
	if _, errOut, code := bcfs(t, st, "settings", "T", "--ohlc-check", "warn", "--provider-preference", "yahoo,ibkr"); code != 0 {
		t.Fatal(errOut)
	}
	before := stateOf(t, st, "T")
	if len(before.Versions) != 2 || !strings.Contains(before.Settings, "warn") {
		t.Fatalf("setup: %+v", before)
	}
	mnt := t.TempDir()
	startMount(t, st, mnt)
	smb := startSamba(t, mnt)

	// Excel opens the workbook read+write and creates its owner file; a
	// LibreOffice user leaves its lock file.
	got, err := smb.readRW("T.csv")
	if err != nil || got != before.CSV {
		t.Fatalf("read+write open through SMB: %v\n%q\nwant %q", err, got, before.CSV)
	}
	owner := write(t, src, "owner", "\x0bExcel user\x00\x00\x00")
	lock := write(t, src, "lock", "LibreOffice user,host,1234;")
	out := smb.smbclient(fmt.Sprintf(`put %s ~$T.csv; put %s .~lock.T.csv#; ls`, owner, lock))
	if strings.Contains(out, "NT_STATUS") || !strings.Contains(out, "~$T.csv") {
		t.Fatalf("owner and lock files:\n%s", out)
	}

	saves := []struct {
		name  string
		edit  string // the changed row and a new row
		steps string
	}{
		{"delete then rename", "2024-01-02 10:01:00,1,2,0.5,1.75,11,T,ibkr\n2024-01-02 10:03:00,1,2,0.5,1.5,13,T,ibkr\n",
			`put %[1]s 3C8F2A10; del T.csv; rename 3C8F2A10 T.csv`},
		{"rename to backup then rename", "2024-01-02 10:02:00,1,2,0.5,1.25,12,T,ibkr\n2024-01-02 10:04:00,1,2,0.5,1.5,14,T,ibkr\n",
			`put %[1]s 9F8E7D6C; rename T.csv 5E4A9C21.tmp; rename 9F8E7D6C T.csv; del 5E4A9C21.tmp`},
	}
	for _, save := range saves {
		cur := stateOf(t, st, "T")
		// Excel writes the whole sheet: the view with one value changed and a row added.
		header, rows, _ := strings.Cut(cur.CSV, "\n")
		key := save.edit[:len("2024-01-02 10:01:00")]
		var sheet strings.Builder
		sheet.WriteString(header + "\n")
		for _, r := range strings.SplitAfter(rows, "\n") {
			if r != "" && !strings.HasPrefix(r, key) {
				sheet.WriteString(r)
			}
		}
		changed, added, _ := strings.Cut(save.edit, "\n")
		sheet.WriteString(changed + "\n" + added)
		f := write(t, src, "sheet.csv", sheet.String())
		out := smb.smbclient(fmt.Sprintf(save.steps, f))
		if strings.Contains(out, "NT_STATUS") {
			t.Fatalf("%s: %s", save.name, out)
		}
		after := stateOf(t, st, "T")
		if want := strings.Count(cur.CSV, "\n") + 1; strings.Count(after.CSV, "\n") != want {
			t.Fatalf("%s: %d lines, want %d:\n%s", save.name, strings.Count(after.CSV, "\n"), want, after.CSV)
		}
		if !strings.Contains(after.CSV, changed+"\n") || !strings.Contains(after.CSV, added) {
			t.Fatalf("%s: the edit is not in the dataset:\n%s", save.name, after.CSV)
		}
		if after.Settings != before.Settings {
			t.Fatalf("%s: settings changed:\n%s\nwere\n%s", save.name, after.Settings, before.Settings)
		}
		if !keepsHistory(cur.Versions, after.Versions) {
			t.Fatalf("%s: versions %v, were %v", save.name, after.Versions, cur.Versions)
		}
		if len(after.Datasets) != 1 || after.Datasets[0] != "T" {
			t.Fatalf("%s: datasets %v", save.name, after.Datasets)
		}
		if mnt := smb.smbclient("ls"); strings.Contains(mnt, "3C8F2A10") || strings.Contains(mnt, "9F8E7D6C") || strings.Contains(mnt, "5E4A9C21") {
			t.Fatalf("%s: temporary files left:\n%s", save.name, mnt)
		}
	}
	// Excel closes the workbook.
	if out := smb.smbclient(`del ~$T.csv; del .~lock.T.csv#`); strings.Contains(out, "NT_STATUS") {
		t.Fatalf("removing the owner and lock files: %s", out)
	}

	// A rejected save is an error the client sees, and changes nothing.
	cur := stateOf(t, st, "T")
	bad := write(t, src, "bad.csv", "timestamp,open,high,low,close,volume\n2024-01-02 10:05:00,1,2,0.5,1.5,-3\n")
	for _, steps := range []string{`put %[1]s T.csv`, `put %[1]s 7A6B5C4D; rename 7A6B5C4D T.csv; del 7A6B5C4D`} {
		out := smb.smbclient(fmt.Sprintf(steps, bad))
		if !strings.Contains(out, "NT_STATUS") {
			t.Fatalf("%q: a rejected save showed the client no error:\n%s", steps, out)
		}
		if after := stateOf(t, st, "T"); after.CSV != cur.CSV || len(after.Versions) != len(cur.Versions) {
			t.Fatalf("%q: a rejected save changed the dataset:\n%s", steps, after.CSV)
		}
	}
}
