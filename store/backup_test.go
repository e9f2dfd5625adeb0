package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/backend"
	"bcfs/backend/faulty"
	"bcfs/metastore"
)

// backupStore is a store of two datasets, one with two versions, with
// daily partitions (many files).
func backupStore(t *testing.T) *Store {
	t.Helper()
	st := newTestStore(t, Options{})
	src := t.TempDir()
	jan := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := st.UpdateSettings(context.Background(), "ES", SettingsChange{Partition: metastore.GranularityDay}); err != nil {
		t.Fatal(err)
	}
	ingest(t, st, "ES", halfHourBars(t, src, "a.csv", jan, 1500), IngestOptions{})
	ingest(t, st, "ES", halfHourBars(t, src, "b.csv", jan.AddDate(0, 0, 20), 1000), IngestOptions{})
	ingest(t, st, "yahoo/AAPL", writeFile(t, src, "y.csv", yahooCSV), IngestOptions{})
	return st
}

// halfHourBars writes n bars 30 minutes apart (48 a day).
func halfHourBars(t *testing.T, dir, name string, start time.Time, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume\n")
	for i := 0; i < n; i++ {
		p := 100 + float64(i%300)/10
		fmt.Fprintf(&b, "%s,%.1f,%.1f,%.1f,%.1f,%d\n", start.Add(time.Duration(i)*30*time.Minute).Format(time.DateTime), p, p+1, p-1, p, 100+i)
	}
	return writeFile(t, dir, name, b.String())
}

// TestBackupFailingAtEveryPut fails the first backup at its first upload,
// the next at its second, and so on (a crash there): the target never holds a manifest whose files are
// missing, and every later backup sends only what is still missing.
func TestBackupFailingAtEveryPut(t *testing.T) {
	st := backupStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	target := []metastore.BackupTarget{{Name: "t", URL: "file://" + dir}}
	var n int
	open := func(ctx context.Context, url string, create bool) (backend.Backend, error) {
		b, err := OpenURL(ctx, url, create)
		if err != nil {
			return nil, err
		}
		return faulty.New(b, faulty.FailFrom(faulty.OpPut, n)), nil
	}
	var sent int64
	var total BackupResult
	for n = 1; ; n++ {
		res, err := st.Backup(ctx, target, BackupOptions{Open: open})
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		sent += r.BytesSent
		c := VerifyBackup(ctx, target[0], nil, true, nil)
		if c.Error != "" || len(c.Problems) > 0 {
			t.Fatalf("after a failure at put %d: %+v", n, c)
		}
		if r.OK {
			total = r
			break
		}
		if !strings.Contains(r.Error, faulty.ErrInjected.Error()) {
			t.Fatalf("put %d: %+v", n, r)
		}
		if n > 1000 {
			t.Fatal("the backup never completes")
		}
	}
	// What all the attempts sent adds up to one full backup: nothing
	// stored by a failed attempt was sent again.
	full, err := st.Backup(ctx, []metastore.BackupTarget{{Name: "fresh", URL: "file://" + t.TempDir()}}, BackupOptions{})
	if err != nil || !full[0].OK {
		t.Fatalf("full backup: %+v %v", full, err)
	}
	if sent != full[0].BytesSent || total.VersionsHeld != full[0].VersionsHeld {
		t.Errorf("the interrupted backups sent %d bytes in all and hold %d versions; one backup sends %d and holds %d",
			sent, total.VersionsHeld, full[0].BytesSent, full[0].VersionsHeld)
	}
	if full[0].FilesSent < 20 || n < 5 {
		t.Errorf("%d files, %d interrupted backups: the test wants many of both", full[0].FilesSent, n-1)
	}
}

// TestBackupRetriesTransientErrors: failures that go away are absorbed by
// the retry policy and the target succeeds.
func TestBackupRetriesTransientErrors(t *testing.T) {
	st := backupStore(t)
	ctx := context.Background()
	var fb *faulty.Backend
	open := func(ctx context.Context, url string, create bool) (backend.Backend, error) {
		b, err := OpenURL(ctx, url, create)
		if err != nil {
			return nil, err
		}
		fb = faulty.New(b, faulty.Flaky(2))
		return faulty.Retry(fb, 3, time.Millisecond), nil
	}
	res, err := st.Backup(ctx, []metastore.BackupTarget{{Name: "t", URL: "file://" + t.TempDir()}}, BackupOptions{Open: open})
	if err != nil || !res[0].OK || res[0].FilesSent == 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if fb.Count(faulty.OpPut) != res[0].FilesSent+2 {
		t.Errorf("%d puts for %d files: want two retried", fb.Count(faulty.OpPut), res[0].FilesSent)
	}
}

// TestRestoreOntoExistingDataset: a restore into a dataset the store has
// commits a new version equal to the restored one; history stays; the same
// restore again changes nothing.
func TestRestoreOntoExistingDataset(t *testing.T) {
	st := backupStore(t)
	ctx := context.Background()
	target := []metastore.BackupTarget{{Name: "t", URL: "file://" + t.TempDir()}}
	if res, err := st.Backup(ctx, target, BackupOptions{}); err != nil || !res[0].OK {
		t.Fatalf("%+v %v", res, err)
	}
	v2 := readView(t, st, "ES", ViewCSV)
	head, _ := st.Stat("ES")
	src := []RestoreSource{{Label: "t", URL: target[0].URL}}
	rep, err := st.Restore(ctx, src, RestoreOptions{Datasets: []string{"ES"}, Version: head.Version - 1})
	if err != nil || !rep.OK() {
		t.Fatalf("%+v %v", rep, err)
	}
	d := rep.Datasets[0]
	now, _ := st.Stat("ES")
	if d.StoreVersion != head.Version+1 || now.Version != head.Version+1 || d.Version != head.Version-1 {
		t.Fatalf("restore of %d onto %d: %+v, head now %d", head.Version-1, head.Version, d, now.Version)
	}
	old, err := st.Manifest("ES", head.Version-1)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := st.Manifest("ES", now.Version)
	if err != nil || !sameContent(old, cur) || cur.RowCount != old.RowCount {
		t.Fatalf("the new version is not the restored one: %v", err)
	}
	if d.ServedBy["store"] != len(cur.Partitions) {
		t.Errorf("files the store holds were fetched again: %v", d.ServedBy)
	}
	rep, err = st.Restore(ctx, src, RestoreOptions{Datasets: []string{"ES"}})
	if err != nil || !rep.OK() || rep.Datasets[0].StoreVersion != now.Version+1 {
		t.Fatalf("restore of the newest backed-up version: %+v %v", rep, err)
	}
	if got := readView(t, st, "ES", ViewCSV); string(got) != string(v2) {
		t.Error("restoring the newest backed-up version does not give its content back")
	}
	rep, err = st.Restore(ctx, src, RestoreOptions{Datasets: []string{"ES"}})
	if err != nil || !rep.Datasets[0].Unchanged {
		t.Fatalf("a restore of what the head holds: %+v %v", rep, err)
	}
	vs, _ := st.VersionNumbers("ES")
	if len(vs) != int(now.Version)+1 {
		t.Errorf("versions %v: history lost", vs)
	}
}

// TestRestoreAsOfIntoNewStore: --as-of picks the newest backed-up version
// committed by then, and a new store gets the history up to it, numbered
// as in the original.
func TestRestoreAsOfIntoNewStore(t *testing.T) {
	st := backupStore(t)
	ctx := context.Background()
	target := []metastore.BackupTarget{{Name: "t", URL: "file://" + t.TempDir()}}
	if res, err := st.Backup(ctx, target, BackupOptions{}); err != nil || !res[0].OK {
		t.Fatalf("%+v %v", res, err)
	}
	vs, err := st.VersionNumbers("ES")
	if err != nil || len(vs) < 3 {
		t.Fatalf("versions %v %v", vs, err)
	}
	mid, err := st.Manifest("ES", vs[len(vs)-2])
	if err != nil {
		t.Fatal(err)
	}
	want := readViewAt(t, st, "ES", mid.Version)
	fresh := newTestStore(t, Options{})
	rep, err := fresh.Restore(ctx, []RestoreSource{{Label: "t", URL: target[0].URL}}, RestoreOptions{Datasets: []string{"ES"}, AsOf: mid.CommittedAt})
	if err != nil || !rep.OK() {
		t.Fatalf("%+v %v", rep, err)
	}
	d := rep.Datasets[0]
	if d.Version != mid.Version || d.StoreVersion != mid.Version || len(d.History) != len(vs)-1 || d.Rows != mid.RowCount {
		t.Fatalf("as of %s: %+v, want version %d with %d versions of history", mid.CommittedAt, d, mid.Version, len(vs)-1)
	}
	if got := readView(t, fresh, "ES", ViewCSV); string(got) != string(want) {
		t.Error("the restored head differs from the original version")
	}
	rep, err = fresh.Restore(ctx, []RestoreSource{{Label: "t", URL: target[0].URL}}, RestoreOptions{Datasets: []string{"ES"}, AsOf: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || rep.OK() || !strings.Contains(rep.Datasets[0].Error, "committed at or before 2000-01-01") {
		t.Fatalf("as of a time before every version: %+v %v", rep, err)
	}
}

func readViewAt(t *testing.T, st *Store, name string, v int64) []byte {
	t.Helper()
	sn, err := st.PinVersion(name, v)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(ViewCSV, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRepairBackup: what verify --read-data finds damaged or missing on a
// target is stored again from the store, and the target verifies clean.
func TestRepairBackup(t *testing.T) {
	st := backupStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	target := metastore.BackupTarget{Name: "t", URL: "file://" + dir}
	if res, err := st.Backup(ctx, []metastore.BackupTarget{target}, BackupOptions{}); err != nil || !res[0].OK {
		t.Fatalf("%+v %v", res, err)
	}
	m, err := st.Manifest("ES", 3)
	if err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(dir, filepath.FromSlash(dataKey(m.Partitions[0].SHA256)))
	data, err := os.ReadFile(flipped)
	if err != nil {
		t.Fatal(err)
	}
	data[10] ^= 1
	if err := os.WriteFile(flipped, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(dataKey(m.Partitions[len(m.Partitions)-1].SHA256)))); err != nil {
		t.Fatal(err)
	}
	c := VerifyBackup(ctx, target, nil, true, nil)
	if c.OK || len(c.Problems) < 2 {
		t.Fatalf("verify after damage: %+v", c)
	}
	n, err := st.RepairBackup(ctx, target, nil, c.Problems)
	if err != nil || n != len(c.Problems) {
		t.Fatalf("repaired %d of %d: %v", n, len(c.Problems), err)
	}
	if c := VerifyBackup(ctx, target, nil, true, nil); !c.OK {
		t.Fatalf("verify after repair: %+v", c)
	}
}
