package fusefs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUnlinkThenCreateClients: tools that unlink (or rename away) the
// target before creating it again (cp -a; install, mv from another
// filesystem and tar -x, which create with O_EXCL; gio save --backup, which renames the
// view to NAME~ first and must leave a full backup) merge into the dataset
// like plain cp; nothing is lost.
func TestUnlinkThenCreateClients(t *testing.T) {
	edited := esChanges(t)
	cases := []struct {
		name, prog, install string
		do                  func(t *testing.T, src, dst string)
	}{
		{"cp -a", "cp", "coreutils", func(t *testing.T, src, dst string) { run(t, "cp", "-a", src, dst) }},
		{"install", "install", "coreutils", func(t *testing.T, src, dst string) { run(t, "install", "-m", "0644", src, dst) }},
		{"mv across filesystems", "mv", "coreutils", func(t *testing.T, src, dst string) { run(t, "mv", src, dst) }},
		{"tar -x", "tar", "apt-get install -y tar", func(t *testing.T, src, dst string) {
			tarball := filepath.Join(t.TempDir(), "es.tar")
			run(t, "tar", "-C", filepath.Dir(src), "-cf", tarball, filepath.Base(src))
			run(t, "tar", "-C", filepath.Dir(dst), "-xf", tarball)
		}},
		{"gio save --backup", "gio", "apt-get install -y libglib2.0-bin", func(t *testing.T, src, dst string) {
			run(t, "sh", "-c", `gio save --backup "$1" < "$0"`, src, dst)
			b, err := os.ReadFile(dst + "~")
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			if string(b) != esView(t, esRows, false) {
				t.Fatalf("backup holds %d bytes, want the %d of the view before the save", len(b), len(esView(t, esRows, false)))
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			need(t, tc.prog, tc.install)
			m := esMount(t)
			src := writeFile(t, t.TempDir(), "ES.csv", edited)
			tc.do(t, src, filepath.Join(m.mnt, "ES.csv"))
			checkMerged(t, m)
		})
	}
}
