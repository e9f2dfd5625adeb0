package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// hoistFlags rewrites a command line so that urfave/cli, which stops
// parsing flags at the first positional argument, sees every flag: a
// command's flags that follow its positional arguments move in front of
// them (`ingest FILE --dry-run` becomes `ingest --dry-run FILE`), and global
// flags given after the command name (`ingest -v FILE`) move before it.
// Everything after `--` stays positional. Flags that take a value keep it
// (`--dataset NAME`, `--dataset=NAME`). An unknown flag stays with the
// command, so that parsing reports it.
func hoistFlags(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	globals, rest := splitLeadingFlags(app.Flags, args[1:])
	if len(rest) == 0 {
		return args, nil
	}
	cmd := findCommand(app.Commands, rest[0])
	if cmd == nil {
		return args, nil
	}
	var hoisted []string
	tail, err := hoistCommand(app.Flags, cmd, rest[1:], &hoisted)
	if err != nil {
		return nil, err
	}
	out := append([]string{args[0]}, globals...)
	out = append(out, hoisted...)
	out = append(out, rest[0])
	return append(out, tail...), nil
}

// hoistCommand orders the arguments of cmd (after its name) as flags,
// subcommand (recursively) or positionals. Global flags found among them are
// appended to globals.
func hoistCommand(global []cli.Flag, cmd *cli.Command, args []string, globals *[]string) ([]string, error) {
	var flags, pos []string
	dashdash := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			dashdash = true
			pos = append(pos, args[i+1:]...)
			break
		}
		if !isFlag(a) {
			if len(pos) == 0 && len(cmd.Subcommands) > 0 {
				if sub := findCommand(cmd.Subcommands, a); sub != nil {
					tail, err := hoistCommand(global, sub, args[i+1:], globals)
					return append(append(flags, a), tail...), err
				}
			}
			pos = append(pos, a)
			continue
		}
		name, hasValue := flagName(a)
		f := findFlag(cmd.Flags, name)
		dst := &flags
		if f == nil && name != "help" && name != "h" {
			if g := findFlag(global, name); g != nil {
				f, dst = g, globals
			}
		}
		*dst = append(*dst, a)
		if f != nil && !hasValue && takesValue(f) {
			if i+1 == len(args) {
				return nil, usageError{fmt.Errorf("%s %s needs a value", cmd.Name, a)}
			}
			i++
			*dst = append(*dst, args[i])
		}
	}
	if dashdash || anyFlagLike(pos) {
		flags = append(flags, "--")
	}
	return append(flags, pos...), nil
}

// splitLeadingFlags returns the leading flags of args (with their values) and
// what follows them.
func splitLeadingFlags(flags []cli.Flag, args []string) (lead, rest []string) {
	i := 0
	for i < len(args) && isFlag(args[i]) {
		name, hasValue := flagName(args[i])
		f := findFlag(flags, name)
		i++
		if f != nil && !hasValue && takesValue(f) && i < len(args) {
			i++
		}
	}
	return args[:i], args[i:]
}

// isFlag tells whether a looks like a flag ("-" alone means stdin/stdout).
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' && a != "--" }

func anyFlagLike(args []string) bool {
	for _, a := range args {
		if isFlag(a) {
			return true
		}
	}
	return false
}

// flagName returns the name of a flag argument ("--dataset=x" -> "dataset").
func flagName(a string) (name string, hasValue bool) {
	name = strings.TrimLeft(a, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		return name[:i], true
	}
	return name, false
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

// checkCommand refuses a first positional argument that names no command, so
// that a typo is a usage error (exit 1) rather than urfave's "No help topic".
func checkCommand(app *cli.App, args []string) error {
	_, rest := splitLeadingFlags(app.Flags, args[1:])
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "h" || findCommand(app.Commands, rest[0]) != nil {
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q (bcfs --help lists the commands)", rest[0])}
}
