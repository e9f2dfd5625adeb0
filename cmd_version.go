package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// buildVersion is set by the release build (-ldflags "-X main.buildVersion=v1.2.3").
var buildVersion string

// version describes this binary: the release, else the VCS revision that
// `go build` records (with +dirty for uncommitted changes), and the Go version.
func version() string {
	v := buildVersion
	if v == "" {
		v = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok {
			var rev, modified, when string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						modified = "+dirty"
					}
				case "vcs.time":
					when = " " + s.Value
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				v = "dev-" + rev + modified + when
			}
		}
	}
	return fmt.Sprintf("%s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCommand(*globalOptions) *cli.Command {
	return &cli.Command{
		Name:        "version",
		Usage:       "print the version (the same as bcfs --version)",
		Description: examples("bcfs version"),
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintf(c.App.Writer, "bcfs version %s\n", version())
			return err
		},
	}
}
