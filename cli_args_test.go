package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"testing"
)

func TestHoistFlags(t *testing.T) {
	app := newApp(&globalOptions{}, io.Discard, io.Discard)
	cases := []struct {
		name string
		in   string
		want string
		err  string
	}{
		{"flags first stay", "ingest --dry-run a.csv", "ingest --dry-run a.csv", ""},
		{"bool after file", "ingest a.csv --dry-run", "ingest --dry-run a.csv", ""},
		{"value after file", "ingest a.csv --dataset ES b.csv", "ingest --dataset ES a.csv b.csv", ""},
		{"value with =", "ingest a.csv --dataset=ES", "ingest --dataset=ES a.csv", ""},
		{"short value", "export ES -o out.csv", "export -o out.csv ES", ""},
		{"settings", "settings ES --timezone America/Chicago --ohlc-check warn", "settings --timezone America/Chicago --ohlc-check warn ES", ""},
		{"global after command", "ingest a.csv -v", "-v ingest a.csv", ""},
		{"global store kept", "--store s ingest a.csv --store t", "--store s ingest --store t a.csv", ""},
		{"dash is positional", "export ES -o -", "export -o - ES", ""},
		{"after -- stays", "ingest --dry-run -- --odd.csv --json", "ingest --dry-run -- --odd.csv --json", ""},
		{"unknown flag stays with command", "ingest a.csv --nope", "ingest --nope a.csv", ""},
		{"help after args", "mount /mnt --help", "mount --help /mnt", ""},
		{"subcommand", "trash restore ES --as ES2 -v", "-v trash restore --as ES2 ES", ""},
		{"value missing", "ingest a.csv --dataset", "", "needs a value"},
		{"no command", "--store s", "--store s", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hoistFlags(app, append([]string{"bcfs"}, strings.Fields(tc.in)...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got[1:], " "); g != tc.want {
				t.Fatalf("got  %q\nwant %q", g, tc.want)
			}
		})
	}
}

func TestHelperArgs(t *testing.T) {
	app := newApp(&globalOptions{}, io.Discard, io.Discard)
	mount := findCommand(app.Commands, "mount")
	cases := []struct {
		name string
		in   string
		want string // "" with err == "": nothing to do (-f)
		err  string
	}{
		{"fstab defaults", "/srv/bars /mnt -o rw,allow_other,_netdev",
			"mount --daemon --store /srv/bars --allow-other /mnt", ""},
		{"bcfs# form", "bcfs#/srv/bars /mnt -o defaults,cache_mb=64,ro,log_file=/var/log/b.log",
			"mount --daemon --store /srv/bars --cache-mb 64 --read-only --log-file /var/log/b.log /mnt", ""},
		{"read_only and type", "/s /m -t fuse.bcfs -o read_only,nofail,noauto,x-systemd.automount,nosuid,nodev",
			"mount --daemon --store /s --read-only /m", ""},
		{"verbose", "/s /m -v -o rw", "--verbose mount --daemon --store /s /m", ""},
		{"sharing", "/s /m -o allow_other,uid=1000,gid=100,umask=002",
			"mount --daemon --store /s --allow-other --uid 1000 --gid 100 --umask 002 /m", ""},
		{"sloppy ignores unknown", "/s /m -s -o rw,frobnicate=1", "mount --daemon --store /s /m", ""},
		{"fake does nothing", "/s /m -f -o rw", "", ""},
		{"unknown option", "/s /m -o rw,frobnicate=1", "", `mount option "frobnicate=1": unknown`},
		{"value missing", "/s /m -o cache_mb", "", "needs a value"},
		{"store option refused", "/s /m -o store=/x", "", "unknown"},
		{"one argument", "/s -o rw", "", "want STORE MOUNTPOINT"},
		{"bad flag", "/s /m -x", "", "unknown argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := helperArgs(mount, append([]string{"mount.fuse.bcfs"}, strings.Fields(tc.in)...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if exitCode(err) != exitData {
					t.Fatalf("exit code %d", exitCode(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if got != nil {
					t.Fatalf("fake mount returned %q", got)
				}
				return
			}
			if g := strings.Join(got[1:], " "); g != tc.want {
				t.Fatalf("got  %q\nwant %q", g, tc.want)
			}
		})
	}
}

// TestCLIIngestDryRunAfterFileNeverCommits is the regression test of
// `bcfs ingest FILE --dry-run`, which used to commit FILE and then fail on a
// file named --dry-run.
func TestCLIIngestDryRunAfterFileNeverCommits(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	f := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	for _, args := range [][]string{
		{"ingest", f, "--dry-run"},
		{"ingest", f, "--dry-run", "--json"},
		{"ingest", f, "--dataset", "ES", "--dry-run"},
		{"ingest", "--json", f, "--dry-run=true"},
	} {
		out, errOut, code := bcfs(t, st, args...)
		if code != 0 || !strings.Contains(out, "dry") {
			t.Fatalf("%q: code %d\n%s%s", args, code, out, errOut)
		}
		logs, _ := filepath.Glob(filepath.Join(st, "datasets", "*", "_log", "*.json"))
		if len(logs) != 0 {
			t.Fatalf("%q committed: %v", args, logs)
		}
	}
	if _, _, code := bcfs(t, st, "stats", "ES"); code != exitData {
		t.Fatalf("stats of a dataset never committed: exit %d, want %d", code, exitData)
	}
	// The same command without --dry-run commits, so the check above can fail.
	if _, errOut, code := bcfs(t, st, "ingest", f, "--json"); code != 0 {
		t.Fatal(errOut)
	}
	logs, _ := filepath.Glob(filepath.Join(st, "datasets", "ES", "_log", "*.json"))
	if len(logs) != 1 {
		t.Fatalf("ingest made %d manifests, want 1", len(logs))
	}
}

func TestCLISettingsFlagsAfterName(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	f := write(t, t.TempDir(), "ES.csv", ibkrCSV)
	if _, errOut, code := bcfs(t, st, "ingest", f); code != 0 {
		t.Fatal(errOut)
	}
	if out, errOut, code := bcfs(t, st, "settings", "ES", "--timezone", "America/Chicago", "--ohlc-check", "warn"); code != 0 {
		t.Fatalf("code %d\n%s%s", code, out, errOut)
	}
	out, _, _ := bcfs(t, st, "settings", "ES")
	if !strings.Contains(out, `"timezone":"America/Chicago"`) && !strings.Contains(out, `"timezone": "America/Chicago"`) {
		t.Fatalf("settings after change:\n%s", out)
	}
	if !strings.Contains(out, "warn") {
		t.Fatalf("ohlc_check not changed:\n%s", out)
	}
}

func TestCLIUsageErrorsExit1(t *testing.T) {
	st := filepath.Join(t.TempDir(), "store")
	mnt := t.TempDir()
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"nosuch"}, "unknown command"},
		{[]string{"ingest"}, "no FILE"},
		{[]string{"ingest", "a.csv", "--dataset"}, "needs a value"},
		{[]string{"ingest", "--ohlc-check"}, "needs a value"},
		{[]string{"export", "--nope", "ES"}, "not defined"},
		{[]string{"export", "ES", "--format", "xlsx"}, "csv or parquet"},
		{[]string{"mount"}, "MOUNTPOINT"},
		{[]string{"mount", "--cache-mb", "x", mnt}, "invalid value"},
		{[]string{"mount", filepath.Join(mnt, "missing")}, "no such file"},
		{[]string{"help", "nosuch"}, "No help topic"},
		{[]string{"settings"}, "NAME"},
		{[]string{"version", "x"}, ""},
	}
	for _, tc := range cases {
		_, errOut, code := bcfs(t, st, tc.args...)
		if tc.msg == "" {
			continue
		}
		if code != exitData || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want exit 1 and %q", tc.args, code, errOut, tc.msg)
		}
	}
	// The helper name, as mount(8) runs it.
	helper := filepath.Join(t.TempDir(), "mount.fuse.bcfs")
	if err := os.Symlink(bcfsBin, helper); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{st, mnt, "-o", "nonsense=1"}, {st}, {"-o", "rw"}, {st, mnt, "-o", "cache_mb"}} {
		_, errOut, code := runBin(t, helper, args...)
		if code != exitData || !strings.Contains(errOut, "mount") {
			t.Errorf("mount.fuse.bcfs %q: exit %d, stderr %q", args, code, errOut)
		}
	}
	// bcfs STORE MOUNTPOINT -o OPTS, as mount.fuse3 runs it for bcfs#STORE.
	for _, args := range [][]string{{st, mnt, "-o", "rw,bogus"}, {"bcfs#" + st, mnt, "-o", "cache_mb=x"}} {
		_, errOut, code := runBin(t, bcfsBin, args...)
		if code != exitData || !strings.Contains(errOut, "bogus") && !strings.Contains(errOut, "invalid value") {
			t.Errorf("bcfs %q: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestCLIMountpointAndStoreMustNotNest(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	if err := os.MkdirAll(filepath.Join(st, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(st, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ store, mnt, msg string }{
		{st, st, "inside the store"},
		{st, filepath.Join(st, "inner"), "inside the store"},
		{st, filepath.Join(link, "inner"), "inside the store"},
		{filepath.Join(dir, "m", "store"), dir, "inside the mountpoint"},
	} {
		_, errOut, code := bcfs(t, tc.store, "mount", tc.mnt)
		if code != exitData || !strings.Contains(errOut, tc.msg) {
			t.Errorf("store %s mount %s: exit %d, stderr %q", tc.store, tc.mnt, code, errOut)
		}
	}
}

func TestCLIHelpHasExamplesEnvironmentAndExitCodes(t *testing.T) {
	st := t.TempDir()
	top, _, code := bcfs(t, st, "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, want := range []string{"ENVIRONMENT:", "BCFS_STORE", "NOTIFY_SOCKET", "EXIT CODES:", "internal error"} {
		if !strings.Contains(top, want) {
			t.Errorf("top-level help lacks %q", want)
		}
	}
	if n := strings.Count(top, "./bcfs-store"); n != 2 { // the flag's default and the environment line
		t.Errorf("./bcfs-store appears %d times in the help, want 2:\n%s", n, top)
	}
	app := newApp(&globalOptions{}, io.Discard, io.Discard)
	var check func(path []string, cmds []*cli.Command)
	check = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(slices.Clone(path), c.Name)
			out, errOut, code := bcfs(t, st, append(p, "--help")...)
			if code != 0 || !strings.Contains(out, "Examples:\n") || !strings.Contains(out, "bcfs "+strings.Join(p, " ")) {
				t.Errorf("%s --help: exit %d, no examples:\n%s%s", p, code, out, errOut)
			}
			if strings.Contains(out, " value ") {
				t.Errorf("%s --help has an unnamed placeholder:\n%s", p, out)
			}
			check(p, c.Subcommands)
		}
	}
	check(nil, app.Commands)
	v1, _, c1 := bcfs(t, st, "--version")
	v2, _, c2 := bcfs(t, st, "version")
	if c1 != 0 || c2 != 0 || v1 != v2 || !strings.HasPrefix(v1, "bcfs version ") {
		t.Fatalf("--version %q (%d), version %q (%d)", v1, c1, v2, c2)
	}
}

// runBin runs bin (bcfs under another name) and returns stdout, stderr and
// the exit code.
func runBin(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return stdout.String(), stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}
