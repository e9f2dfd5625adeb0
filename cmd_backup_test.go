package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/backend/s3test"
	"bcfs/metastore"
)

// genBars writes a CSV of 5-minute bars for sym from start, n rows.
func genBars(t *testing.T, dir, name, sym string, start time.Time, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol\n")
	for i := 0; i < n; i++ {
		ts := start.Add(time.Duration(i) * 5 * time.Minute)
		p := 100 + float64(i%977)/10
		fmt.Fprintf(&b, "%s,%.2f,%.2f,%.2f,%.2f,%d,%s\n", ts.Format("2006-01-02 15:04:05"), p, p+1, p-1, p+0.5, 1000+i%313, sym)
	}
	return write(t, dir, name, b.String())
}

func mustRun(t *testing.T, store string, args ...string) string {
	t.Helper()
	out, errOut, code := bcfs(t, store, args...)
	if code != 0 {
		t.Fatalf("bcfs %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// storeBytes is what a full backup of the store must send: every distinct
// partition file of every kept version, and every manifest.
func storeBytes(t *testing.T, store string) (files int, bytes int64) {
	t.Helper()
	seen := map[string]bool{}
	root := filepath.Join(store, "datasets")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(p)) != "_log" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m, err := metastore.Decode(data)
		if err != nil {
			return nil // not a manifest (a tombstone, a temp file)
		}
		bytes += int64(len(data))
		for _, pt := range m.Partitions {
			if !seen[pt.SHA256] {
				seen[pt.SHA256] = true
				files++
				bytes += pt.Size
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, bytes
}

type backupJSON struct {
	OK      bool `json:"ok"`
	Targets []struct {
		Target        string `json:"target"`
		OK            bool   `json:"ok"`
		Error         string `json:"error"`
		FilesSent     int    `json:"files_sent"`
		ManifestsSent int    `json:"manifests_sent"`
		BytesSent     int64  `json:"bytes_sent"`
		VersionsHeld  int    `json:"versions_held"`
	} `json:"targets"`
}

func runBackupJSON(t *testing.T, store string, args ...string) (backupJSON, int, string) {
	t.Helper()
	out, errOut, code := bcfs(t, store, append([]string{"backup", "--json"}, args...)...)
	var r backupJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("backup --json: %v\n%s%s", err, out, errOut)
	}
	return r, code, errOut
}

// makeStore builds a store of three datasets, one with two versions, of
// several monthly partitions each.
func makeStore(t *testing.T, store string) {
	t.Helper()
	src := t.TempDir()
	jan := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mustRun(t, store, "ingest", "--dataset", "ES", genBars(t, src, "es1.csv", "ES", jan, 30000))
	mustRun(t, store, "ingest", "--dataset", "ES", genBars(t, src, "es2.csv", "ES", jan.AddDate(0, 3, 0), 20000))
	mustRun(t, store, "ingest", "--dataset", "yahoo/AAPL", genBars(t, src, "aapl.csv", "AAPL", jan, 25000))
	mustRun(t, store, "ingest", "--dataset", "fx/EURUSD", filepath.Join(sharedData(t), "backtesting-py/backtesting/test/EURUSD.csv"))
}

func sharedData(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"../shared/data", "../../shared/data", "/work/shared/data"} {
		if _, err := os.Stat(filepath.Join(d, "backtesting-py")); err == nil {
			abs, _ := filepath.Abs(d)
			return abs
		}
	}
	t.Fatal("shared test data not found")
	return ""
}

var datasets = []string{"ES", "fx/EURUSD", "yahoo/AAPL"}

// exports returns every dataset's CSV and Parquet views and its log.
func exports(t *testing.T, store string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range datasets {
		out[d+".csv"] = mustRun(t, store, "export", "--format", "csv", "-o", "-", d)
		out[d+".parquet"] = mustRun(t, store, "export", "--format", "parquet", "-o", "-", d)
		out[d+".versions"] = versionsOf(t, store, d)
	}
	return out
}

func versionsOf(t *testing.T, store, d string) string {
	var log []struct {
		Version int64 `json:"version"`
		Rows    int64 `json:"rows"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, store, "log", "--json", d)), &log); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(log)
}

// TestBackupRestoreTargets backs up to a folder and two buckets of a real
// S3 server, incrementally, damages each target differently and restores
// into a new store by URL alone.
func TestBackupRestoreTargets(t *testing.T) {
	srv := s3test.Start(t, "bk-one", "bk-two")
	tmp := t.TempDir()
	st := filepath.Join(tmp, "store")
	usb := filepath.Join(tmp, "usb")
	makeStore(t, st)
	mustRun(t, st, "backup", "target", "add", "usb", "file://"+usb)
	mustRun(t, st, "backup", "target", "add", "s3a", "s3://bk-one/bcfs")
	mustRun(t, st, "backup", "target", "add", "s3b", "s3://bk-two/desk/1")
	out := mustRun(t, st, "backup", "target", "ls", "--json")
	var ls []struct{ Name, URL string }
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 3 || ls[0].Name != "usb" || ls[2].URL != "s3://bk-two/desk/1" {
		t.Fatalf("target ls: %v\n%s", err, out)
	}
	if cfg, _ := os.ReadFile(filepath.Join(st, "bcfs.json")); strings.Contains(string(cfg), s3test.SecretKey) || strings.Contains(string(cfg), s3test.AccessKey) {
		t.Fatalf("bcfs.json holds credentials:\n%s", cfg)
	}

	wantFiles, wantBytes := storeBytes(t, st)
	r, code, errOut := runBackupJSON(t, st)
	if code != 0 || !r.OK || len(r.Targets) != 3 {
		t.Fatalf("first backup: exit %d %+v\n%s", code, r, errOut)
	}
	for _, tr := range r.Targets {
		if tr.FilesSent != wantFiles || tr.BytesSent != wantBytes || tr.ManifestsSent != 4 || tr.VersionsHeld != 4 {
			t.Errorf("first backup to %s: %+v, want %d files, %d bytes, 4 manifests", tr.Target, tr, wantFiles, wantBytes)
		}
	}
	// Nothing changed: nothing is sent.
	r, code, _ = runBackupJSON(t, st)
	for _, tr := range r.Targets {
		if code != 0 || tr.BytesSent != 0 || tr.FilesSent != 0 || tr.VersionsHeld != 4 {
			t.Errorf("no-change backup to %s: %+v", tr.Target, tr)
		}
	}
	// One new version: only its new files and manifest are sent.
	src := t.TempDir()
	mustRun(t, st, "ingest", "--dataset", "yahoo/AAPL", genBars(t, src, "aapl2.csv", "AAPL", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), 9000))
	files2, bytes2 := storeBytes(t, st)
	r, code, _ = runBackupJSON(t, st)
	for _, tr := range r.Targets {
		if code != 0 || tr.FilesSent != files2-wantFiles || tr.BytesSent != bytes2-wantBytes || tr.ManifestsSent != 1 || tr.VersionsHeld != 5 {
			t.Errorf("incremental backup to %s: %+v, want %d files, %d bytes", tr.Target, tr, files2-wantFiles, bytes2-wantBytes)
		}
	}
	if out := mustRun(t, st, "backup", "verify", "--read-data"); strings.Count(out, ": ok: 5 versions") != 3 {
		t.Fatalf("verify --read-data:\n%s", out)
	}
	meta := mustRun(t, st, "stats", "--json", "backups")
	if !strings.Contains(meta, `"target": "s3b"`) || !strings.Contains(meta, `"bytes_sent": `+fmt.Sprint(bytes2-wantBytes)) {
		t.Errorf(".metadata/backups.json:\n%s", meta)
	}
	want := exports(t, st)

	// Damage: a flipped byte in s3a's copy of one ES partition, an AAPL
	// partition deleted from s3b, and the folder target unplugged.
	headFile := func(ds string, i int) string {
		m, err := metastore.Head(metastore.OS, metastore.DatasetDir(st, ds))
		if err != nil {
			t.Fatal(err)
		}
		sha := m.Partitions[i].SHA256
		return "data/" + sha[:2] + "/" + sha + ".parquet"
	}
	flippedKey, deletedKey := headFile("ES", 0), headFile("yahoo/AAPL", 0)
	flipped := filepath.Join(srv.Dir(), "bk-one", "bcfs", flippedKey)
	deleted := filepath.Join(srv.Dir(), "bk-two", "desk/1", deletedKey)
	data, err := os.ReadFile(flipped)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(flipped, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(deleted); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(usb, usb+".unplugged"); err != nil {
		t.Fatal(err)
	}

	out, _, code = bcfs(t, st, "backup", "verify", "--read-data")
	if code != 1 || !strings.Contains(out, "s3a (s3://bk-one/bcfs): DAMAGED") || !strings.Contains(out, flippedKey+": SHA-256") ||
		!strings.Contains(out, "s3b (s3://bk-two/desk/1): DAMAGED") || !strings.Contains(out, deletedKey+": missing") ||
		!strings.Contains(out, "usb (file://"+usb+"): UNREADABLE") {
		t.Fatalf("verify --read-data after damage: exit %d\n%s", code, out)
	}

	// A backup never creates a folder target that is gone (an unmounted
	// disk): it fails by name.
	r, code, _ = runBackupJSON(t, st, "--target", "usb")
	if code != 1 || r.Targets[0].OK || !strings.Contains(r.Targets[0].Error, "folder "+usb+" does not exist") {
		t.Fatalf("backup to an unplugged folder: exit %d %+v", code, r)
	}
	if _, err := os.Stat(usb); err == nil {
		t.Fatal("the backup created the unplugged folder")
	}

	// After a disk loss: a new store, sources by URL only.
	st2 := filepath.Join(tmp, "store2")
	out, errOut, code = bcfs(t, st2, "restore", "--json", "--from", "file://"+usb, "--from", "s3://bk-two/desk/1", "--from", "s3://bk-one/bcfs")
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	var rep struct {
		Datasets []struct {
			Dataset string
			OK      bool
			Rows    int64
			History []int64
			Files   []struct{ Path, From string }
		}
		Warnings []string
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	from := map[string]int{}
	for _, d := range rep.Datasets {
		if !d.OK || d.Rows == 0 || len(d.Files) == 0 {
			t.Errorf("restore of %s: %+v", d.Dataset, d)
		}
		for _, f := range d.Files {
			from[f.From]++
		}
	}
	if len(rep.Datasets) != 3 || from["s3://bk-one/bcfs"] != 1 || from["file://"+usb] != 0 {
		t.Errorf("files came from %v, want all from s3b but the one it lacks, from s3a", from)
	}
	warn := strings.Join(rep.Warnings, "\n")
	for _, w := range []string{"skipping file://" + usb, "s3://bk-two/desk/1: dataset yahoo/AAPL: file " + deletedKey + " ", "is missing"} {
		if !strings.Contains(warn, w) {
			t.Errorf("warnings lack %q:\n%s", w, warn)
		}
	}
	mustRun(t, st2, "verify")
	got := exports(t, st2)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("restored %s differs from the original (%d vs %d bytes)", k, len(got[k]), len(v))
		}
	}

	// The damaged copy is never used: s3a first, it comes from s3b.
	out, errOut, code = bcfs(t, filepath.Join(tmp, "store2b"), "restore", "--from", "s3://bk-one/bcfs", "--from", "s3://bk-two/desk/1", "ES")
	if code != 0 || !strings.Contains(errOut, "warning: s3://bk-one/bcfs: dataset ES: file "+flippedKey+" ") ||
		!strings.Contains(errOut, "is damaged") || strings.Count(out, "<- s3://bk-two/desk/1") != 1 {
		t.Fatalf("restore of ES from s3a then s3b: exit %d\n%s%s", code, out, errOut)
	}
	if got := mustRun(t, filepath.Join(tmp, "store2b"), "export", "-o", "-", "ES"); got != want["ES.csv"] {
		t.Error("ES restored from s3a then s3b differs from the original")
	}

	// --repair stores the store's intact copies again; then all is clean.
	out, errOut, code = bcfs(t, st, "backup", "verify", "--read-data", "--repair", "--target", "s3a", "--target", "s3b")
	if code != 0 || !strings.Contains(out, "repaired: dataset ES version 2: "+flippedKey) || !strings.Contains(out, "repaired: dataset yahoo/AAPL version 2: "+deletedKey) {
		t.Fatalf("verify --repair: exit %d\n%s%s", code, out, errOut)
	}
	if out := mustRun(t, st, "backup", "verify", "--read-data", "--target", "s3a", "--target", "s3b"); strings.Count(out, ": ok: 5 versions") != 2 {
		t.Fatalf("verify after the repair:\n%s", out)
	}

	// With the S3 server down, the folder (plugged in again) serves all.
	if err := os.Rename(usb+".unplugged", usb); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	st3 := filepath.Join(tmp, "store3")
	out, errOut, code = bcfs(t, st3, "restore", "--from", "s3://bk-one/bcfs", "--from", "file://"+usb)
	if code != 0 || !strings.Contains(errOut, "warning: skipping s3://bk-one/bcfs") || strings.Contains(out, "<- s3://") {
		t.Fatalf("restore with the server down: exit %d\n%s%s", code, out, errOut)
	}
	got = exports(t, st3)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("restored (server down) %s differs from the original", k)
		}
	}
}

// checkTarget asserts the invariant of a backup target kept as a folder (a
// folder target, or a bucket in the S3 server's posix folder): every
// manifest it holds decodes and references only files it holds, complete.
// It returns the numbers of manifests and files there.
func checkTarget(t *testing.T, root string) (manifests, files int) {
	t.Helper()
	sizes := map[string]int64{}
	_ = filepath.WalkDir(filepath.Join(root, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			info, _ := d.Info()
			sizes[filepath.Base(p)] = info.Size()
		}
		return nil
	})
	_ = filepath.WalkDir(filepath.Join(root, "datasets"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(p)) != "_log" || !strings.HasSuffix(p, ".json") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := metastore.Decode(data)
		if err != nil {
			t.Fatalf("%s holds a manifest that does not decode: %v", p, err)
		}
		manifests++
		for _, pt := range m.Partitions {
			if size, ok := sizes[pt.SHA256+".parquet"]; !ok || size != pt.Size {
				t.Fatalf("%s lists %s (%d bytes), which the target holds with %d bytes (present: %v)", p, pt.Path, pt.Size, size, ok)
			}
		}
		return nil
	})
	return manifests, len(sizes)
}

// dailyStore makes a store with many small partition files, so that a
// backup takes long enough to be interrupted anywhere.
func dailyStore(t *testing.T, st string) {
	t.Helper()
	src := t.TempDir()
	jan := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mustRun(t, st, "settings", "ES", "--partition", "day")
	mustRun(t, st, "ingest", "--dataset", "ES", genBars(t, src, "es.csv", "ES", jan, 20000))
	mustRun(t, st, "ingest", "--dataset", "ES", genBars(t, src, "es2.csv", "ES", jan.AddDate(0, 2, 0), 9000))
	mustRun(t, st, "ingest", "--dataset", "NQ", genBars(t, src, "nq.csv", "NQ", jan, 20000))
}

// TestBackupKilled kills `bcfs backup` (kill -9) at many points of a backup
// to a folder and to S3: no target ever lists a manifest whose files are
// missing, and the next backup completes and verifies.
func TestBackupKilled(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	tmp := t.TempDir()
	st := filepath.Join(tmp, "store")
	usb := filepath.Join(tmp, "usb")
	bucket := filepath.Join(srv.Dir(), "bkt")
	dailyStore(t, st)
	mustRun(t, st, "backup", "target", "add", "usb", "file://"+usb)
	mustRun(t, st, "backup", "target", "add", "s3", "s3://bkt")
	mustRun(t, st, "backup", "--target", "usb")
	totalManifests, totalFiles := checkTarget(t, usb)
	if totalFiles < 100 {
		t.Fatalf("the store has %d files; the test wants many", totalFiles)
	}
	count := func() int {
		n := 0
		for _, root := range []string{usb, bucket} {
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.Contains(p, ".sgwtmp") {
					n++
				}
				return nil
			})
		}
		return n
	}
	partial := 0
	const points = 12
	for i := 0; i < points; i++ {
		// Each round starts from empty targets and kills the backup once
		// the targets together hold `at` objects.
		for _, root := range []string{usb, bucket} {
			ents, _ := os.ReadDir(root)
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), ".") {
					os.RemoveAll(filepath.Join(root, e.Name()))
				}
			}
		}
		at := 1 + i*2*(totalFiles+totalManifests)/points
		cmd := exec.Command(bcfsBin, "--store", st, "backup")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		finished := false
	wait:
		for {
			select {
			case <-exited:
				finished = true
				break wait
			case <-time.After(2 * time.Millisecond):
				if count() >= at {
					_ = cmd.Process.Kill()
					<-exited
					break wait
				}
			}
		}
		mu, fu := checkTarget(t, usb)
		ms, fs3 := checkTarget(t, bucket)
		if !finished && (mu < totalManifests || fu < totalFiles || ms < totalManifests || fs3 < totalFiles) {
			partial++
		}
		t.Logf("kill after %d objects: folder %d manifests %d files, s3 %d manifests %d files (finished %v)", at, mu, fu, ms, fs3, finished)
	}
	if partial < points/2 {
		t.Errorf("only %d of %d kills interrupted a backup half-way", partial, points)
	}
	r, code, errOut := runBackupJSON(t, st)
	if code != 0 || !r.OK {
		t.Fatalf("backup after the kills: exit %d %+v\n%s", code, r, errOut)
	}
	for _, root := range []string{usb, bucket} {
		if m, f := checkTarget(t, root); m != totalManifests || f != totalFiles {
			t.Errorf("%s after the last backup: %d manifests, %d files; want %d and %d", root, m, f, totalManifests, totalFiles)
		}
	}
	mustRun(t, st, "backup", "verify", "--read-data")
}

// TestBackupServerStopped stops the S3 server in the middle of an upload:
// the S3 target fails by name (exit 1) while the folder target succeeds,
// the bucket holds no version it cannot restore, and after a restart the
// next backup completes.
func TestBackupServerStopped(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	tmp := t.TempDir()
	st := filepath.Join(tmp, "store")
	usb := filepath.Join(tmp, "usb")
	bucket := filepath.Join(srv.Dir(), "bkt")
	dailyStore(t, st)
	mustRun(t, st, "backup", "target", "add", "usb", "file://"+usb)
	mustRun(t, st, "backup", "target", "add", "s3", "s3://bkt/x")
	cmd := exec.Command(bcfsBin, "--store", st, "backup", "--json")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		ents, _ := os.ReadDir(filepath.Join(bucket, "x", "data"))
		if len(ents) >= 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	srv.Stop()
	err := cmd.Wait()
	var r backupJSON
	if jerr := json.Unmarshal([]byte(out.String()), &r); jerr != nil {
		t.Fatalf("%v\n%s", jerr, out.String())
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || len(r.Targets) != 2 || !r.Targets[0].OK || r.Targets[1].OK ||
		!strings.Contains(r.Targets[1].Error, `s3 bucket "bkt" key "x/`) {
		t.Fatalf("backup with the server stopped: %v %+v", err, r)
	}
	m, f := checkTarget(t, filepath.Join(bucket, "x"))
	t.Logf("the stopped server holds %d manifests and %d files", m, f)
	srv.Restart()
	r, code, errOut := runBackupJSON(t, st, "--target", "s3")
	if code != 0 || !r.OK || r.Targets[0].BytesSent == 0 {
		t.Fatalf("backup after the restart: exit %d %+v\n%s", code, r, errOut)
	}
	mustRun(t, st, "backup", "verify", "--read-data")
	wm, wf := checkTarget(t, usb)
	if m2, f2 := checkTarget(t, filepath.Join(bucket, "x")); m2 != wm || f2 != wf {
		t.Errorf("bucket holds %d manifests and %d files, the folder %d and %d", m2, f2, wm, wf)
	}
}

// TestBackupBadConfiguration: each mistake is a clear error, exit 1, and
// changes nothing.
func TestBackupBadConfiguration(t *testing.T) {
	srv := s3test.Start(t, "bkt")
	tmp := t.TempDir()
	st := filepath.Join(tmp, "store")
	src := t.TempDir()
	mustRun(t, st, "ingest", "--dataset", "ES", genBars(t, src, "es.csv", "ES", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), 2000))
	mustRun(t, st, "backup", "target", "add", "good", "s3://bkt/good")
	snapshot := func() string {
		var b strings.Builder
		for _, root := range []string{st, srv.Dir()} {
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				// backups.json records the failed attempts, as it should.
				if err == nil && !strings.Contains(p, ".sgwtmp") && filepath.Base(p) != "versitygw.log" && p != filepath.Join(st, "backups.json") {
					info, _ := d.Info()
					fmt.Fprintf(&b, "%s %d\n", p, info.Size())
					if filepath.Base(p) == "bcfs.json" {
						data, _ := os.ReadFile(p)
						b.Write(data)
					}
				}
				return nil
			})
		}
		return b.String()
	}
	before := snapshot()
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{name: "malformed URL", args: []string{"backup", "target", "add", "x", "s3//bk/x"}, want: "no scheme"},
		{name: "relative folder", args: []string{"backup", "target", "add", "x", "file://bk/x"}, want: "no host"},
		{name: "bad bucket name", args: []string{"backup", "target", "add", "x", "s3://Bad_Bucket/x"}, want: "bucket name"},
		{name: "bad target name", args: []string{"backup", "target", "add", "../x", "file:///tmp/x"}, want: "target name"},
		{name: "duplicate target", args: []string{"backup", "target", "add", "good", "file:///tmp/x"}, want: "already exists"},
		{name: "unknown target", args: []string{"backup", "--target", "nosuch"}, want: `backup target "nosuch" is not configured (known: good)`},
		{name: "unknown target rm", args: []string{"backup", "target", "rm", "nosuch"}, want: `backup target "nosuch"`},
		{name: "missing credentials", env: []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="}, args: []string{"backup"}, want: "no AWS credentials"},
		{name: "wrong secret", env: []string{"AWS_SECRET_ACCESS_KEY=wrong"}, args: []string{"backup"}, want: "server said Forbidden: Forbidden (check the credentials"},
		{name: "missing bucket", args: []string{"backup", "target", "add", "gone", "s3://no-such-bucket/x"}},
		{name: "backup to a missing bucket", args: []string{"backup", "--target", "gone"}, want: `bucket "no-such-bucket" does not exist at ` + srv.Endpoint()},
		{name: "restore from unknown", args: []string{"restore", "--from", "nosuch"}, want: `--from "nosuch" is neither a configured target`},
		{name: "restore from a missing bucket", args: []string{"restore", "--from", "s3://no-such-bucket/x", "ES"}, want: `bucket "no-such-bucket" does not exist`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bcfsBin, append([]string{"--store", st}, c.args...)...)
			cmd.Env = append(os.Environ(), c.env...)
			out, err := cmd.CombinedOutput()
			if c.want == "" { // a step of the set-up
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				before = snapshot()
				return
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), c.want) {
				t.Fatalf("%v, want exit 1 with %q:\n%s", err, c.want, out)
			}
			if after := snapshot(); after != before {
				t.Fatalf("changed files:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	// A restore from nowhere into a new store does not create it.
	fresh := filepath.Join(tmp, "fresh")
	if _, _, code := bcfs(t, fresh, "restore", "--from", "nosuch"); code != 1 {
		t.Fatalf("restore --from nosuch: exit %d", code)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("a refused restore created the store folder")
	}
}

// TestBackupProgressOnlyOnATerminal: progress shows on a terminal's stderr
// (script(1) gives the command one), never on a pipe.
func TestBackupProgressOnlyOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		requireOrSkip(t, "script(1) missing (apt-get install bsdutils)")
	}
	tmp := t.TempDir()
	st := filepath.Join(tmp, "store")
	mustRun(t, st, "ingest", "--dataset", "ES", genBars(t, tmp, "es.csv", "ES", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), 3000))
	mustRun(t, st, "backup", "target", "add", "usb", "file://"+filepath.Join(tmp, "usb"))
	out, err := exec.Command("script", "-qec", bcfsBin+" --store "+st+" backup", "/dev/null").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "backup: ") || !strings.Contains(string(out), "ETA") || !strings.Contains(string(out), "usb (file://") {
		t.Fatalf("on a terminal: %v\n%q", err, out)
	}
	_, errOut, code := bcfs(t, st, "backup")
	if code != 0 || errOut != "" {
		t.Fatalf("on a pipe: exit %d, stderr %q", code, errOut)
	}
}
