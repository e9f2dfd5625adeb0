package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Names under which mount(8) runs bcfs as its helper: mount.fuse.bcfs for
// the fstab type fuse.bcfs, mount.bcfs for the type bcfs.
var helperNames = []string{"mount.fuse.bcfs", "mount.bcfs"}

// ignoredMountOptions are fstab options for mount(8), systemd or the kernel
// that a bcfs mount has nothing to do with.
var ignoredMountOptions = []string{
	"defaults", "rw", "auto", "noauto", "user", "users", "nouser", "owner", "group",
	"_netdev", "nofail", "nosuid", "suid", "nodev", "dev", "exec", "noexec",
	"async", "sync", "atime", "noatime", "relatime", "nodiratime", "lazytime",
}

// asHelper tells whether args is a mount helper call: bcfs under a helper
// name, or `bcfs STORE MOUNTPOINT [-o OPTS]` as mount.fuse3 runs it for the
// fstab form `bcfs#STORE MOUNTPOINT fuse ...` (STORE names no command, and
// there is an -o or MOUNTPOINT is a folder).
func asHelper(app *cli.App, args []string) bool {
	if slices.Contains(helperNames, filepath.Base(args[0])) {
		return true
	}
	if len(args) < 3 || isFlag(args[1]) || args[1] == "help" || args[1] == "h" || findCommand(app.Commands, args[1]) != nil {
		return false
	}
	pos, opts := 0, false
	for i := 1; i < len(args); i++ {
		switch {
		case args[i] == "-o" || args[i] == "-t":
			opts = opts || args[i] == "-o"
			i++
		case strings.HasPrefix(args[i], "-o"):
			opts = true
		case !isFlag(args[i]):
			pos++
		}
	}
	if pos != 2 {
		return false
	}
	if opts {
		return true
	}
	fi, err := os.Stat(args[2])
	return err == nil && fi.IsDir()
}

// helperArgs turns a mount helper call, `SPEC MOUNTPOINT [-sfnv] [-o OPTS]
// [-t TYPE]`, into `bcfs mount --daemon --store STORE [flags] MOUNTPOINT`, so
// that mount(8) returns once the mount serves. SPEC is the store, or
// bcfs#STORE. Each option key=val becomes --key val (underscores as dashes:
// cache_mb=512 -> --cache-mb 512; ro -> --read-only); the options of mount(8)
// and the kernel that mean nothing here are ignored, and any other is a
// usage error (ignored with -s, as mount's sloppy mode asks). A -f (fake)
// call returns nil args: nothing to do.
func helperArgs(mount *cli.Command, args []string) ([]string, error) {
	var pos, opts []string
	var sloppy, fake, verbose bool
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t" || a == "-N":
			if i+1 >= len(args) {
				return nil, usageError{fmt.Errorf("mount helper: %s needs a value", a)}
			}
			i++
			switch a {
			case "-o":
				opts = append(opts, strings.Split(args[i], ",")...)
			case "-N":
				return nil, usageError{errors.New("mount helper: -N (mount namespaces) is not supported")}
			}
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, strings.Split(a[2:], ",")...)
		case strings.HasPrefix(a, "-t"):
		case isFlag(a) && strings.Trim(a[1:], "sfnv") == "":
			sloppy = sloppy || strings.Contains(a, "s")
			fake = fake || strings.Contains(a, "f")
			verbose = verbose || strings.Contains(a, "v")
		case isFlag(a):
			return nil, usageError{fmt.Errorf("mount helper: unknown argument %q (usage: mount.fuse.bcfs STORE MOUNTPOINT [-sfnv] [-o OPTIONS])", a)}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, usageError{fmt.Errorf("mount helper: want STORE MOUNTPOINT, got %d argument(s) %q", len(pos), pos)}
	}
	out := []string{args[0]}
	if verbose {
		out = append(out, "--verbose")
	}
	out = append(out, "mount", "--daemon", "--store", strings.TrimPrefix(pos[0], "bcfs#"))
	for _, o := range opts {
		if o == "" || slices.Contains(ignoredMountOptions, o) || strings.HasPrefix(o, "x-") || strings.HasPrefix(o, "comment=") {
			continue
		}
		key, val, hasVal := strings.Cut(o, "=")
		if key == "ro" {
			key = "read_only"
		}
		name := strings.ReplaceAll(key, "_", "-")
		f := findFlag(mount.Flags, name)
		if f == nil || name == "store" || name == "daemon" || name == "help" {
			if sloppy {
				continue
			}
			return nil, usageError{fmt.Errorf("mount option %q: unknown (bcfs takes %s; it ignores %s, x-* and comment=)",
				o, strings.Join(helperOptionNames(mount), ", "), strings.Join(ignoredMountOptions, ","))}
		}
		switch {
		case takesValue(f) && !hasVal:
			return nil, usageError{fmt.Errorf("mount option %q: needs a value (%s=...)", o, key)}
		case takesValue(f):
			out = append(out, "--"+name, val)
		case hasVal:
			out = append(out, "--"+name+"="+val)
		default:
			out = append(out, "--"+name)
		}
	}
	if fake {
		return nil, nil
	}
	return append(out, pos[1]), nil
}

// helperOptionNames lists the mount options the helper maps to flags.
func helperOptionNames(mount *cli.Command) []string {
	names := []string{"ro"}
	for _, f := range mount.Flags {
		n := f.Names()[0]
		if n == "store" || n == "daemon" || n == "help" {
			continue
		}
		n = strings.ReplaceAll(n, "-", "_")
		if takesValue(f) {
			n += "="
		}
		names = append(names, n)
	}
	return names
}

func newInstallHelperCommand(*globalOptions) *cli.Command {
	var dir string
	var force bool
	return &cli.Command{
		Name:  "install-helper",
		Usage: "let mount(8) and fstab mount bcfs: link mount.fuse.bcfs and mount.bcfs to this binary",
		Description: "mount(8) runs /sbin/mount.TYPE for an fstab line of type TYPE. After this, a line\n" +
			"  STORE  MOUNTPOINT  fuse.bcfs  defaults,allow_other,_netdev  0 0\n" +
			"mounts with `mount MOUNTPOINT` (bcfs mount --daemon: it returns once the mount serves) and\n" +
			"unmounts with `umount MOUNTPOINT`. Options: ro, allow_other, cache_mb=N, log_file=PATH and the\n" +
			"other mount flags written with underscores; mount(8)'s own (defaults, _netdev, nofail, ...)\n" +
			"are ignored, anything else is an error. The form `bcfs#STORE MOUNTPOINT fuse ...` works\n" +
			"through mount.fuse3 when bcfs is on root's PATH.\n\n" +
			examples("sudo bcfs install-helper",
				"echo '/srv/bars /mnt/bars fuse.bcfs defaults,allow_other,_netdev 0 0' | sudo tee -a /etc/fstab",
				"sudo mount /mnt/bars && ls /mnt/bars && sudo umount /mnt/bars"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Value: "/sbin", Usage: "install into `DIR`", Destination: &dir},
			&cli.BoolFlag{Name: "force", Usage: "replace files of the same names that are not links to bcfs", Destination: &force},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError{errors.New("install-helper takes no arguments")}
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if exe, err = filepath.EvalSymlinks(exe); err != nil {
				return err
			}
			for _, n := range helperNames {
				p := filepath.Join(dir, n)
				if fi, err := os.Lstat(p); err == nil {
					if fi.Mode()&os.ModeSymlink == 0 && !force {
						return dataError{fmt.Errorf("%s exists and is not a link (--force replaces it)", p)}
					}
					if err := os.Remove(p); err != nil {
						return err
					}
				}
				if err := os.Symlink(exe, p); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%s -> %s\n", p, exe)
			}
			return nil
		},
	}
}
