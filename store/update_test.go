package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"bcfs/metastore"
)

// TestManyWritersAllCommit: 20 writers, each its own Store on one
// directory (as separate processes would be), commit 20 ingests each into
// one dataset. Every ingest must succeed and no row may be lost, however
// often a writer loses the commit point.
func TestManyWritersAllCommit(t *testing.T) {
	st := newTestStore(t, Options{})
	src := t.TempDir()
	const writers, commits = 20, 20
	stores := make([]*Store, writers)
	for w := range stores {
		s, err := Open(st.Dir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[w] = s
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*commits)
	retries := make(chan int, writers*commits)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < commits; c++ {
				p := writeFile(t, src, fmt.Sprintf("w%d-%d.csv", w, c), fmt.Sprintf(
					"timestamp,open,high,low,close,volume,symbol\n2024-01-%02d 10:00:00,1,2,0.5,1.5,%d,W%d\n", c+1, w, w))
				res, err := stores[w].Ingest(context.Background(), "M", p, IngestOptions{})
				if err != nil {
					errs <- fmt.Errorf("writer %d commit %d: %w", w, c, err)
					return
				}
				retries <- res.Retries
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(retries)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for r := range retries {
		total += r
	}
	e, err := st.Stat("M")
	if err != nil {
		t.Fatal(err)
	}
	if e.Rows != writers*commits || e.Version != writers*commits {
		t.Fatalf("rows %d version %d, want %d and %d", e.Rows, e.Version, writers*commits, writers*commits)
	}
	t.Logf("%d commits, %d conflicts rebuilt", writers*commits, total)
}

// TestSettingsRewriteRetries: a settings change that rewrites the rows
// loses the commit point once and still commits, on the new head (so the
// row the other writer added is rewritten too).
func TestSettingsRewriteRetries(t *testing.T) {
	st := newTestStore(t, Options{})
	src := t.TempDir()
	ingest(t, st, "R", writeFile(t, src, "a.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
		"2024-01-02,1,2,0.5,1.5,10,A,yahoo\n2024-01-02,1,2,0.5,1.5,10,B,ibkr\n"), IngestOptions{})
	other, err := Open(st.Dir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	raced := false
	m, err := st.Update(context.Background(), "R", func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		if !raced {
			raced = true
			ingest(t, other, "R", writeFile(t, src, "b.csv", "timestamp,open,high,low,close,volume,symbol,provider\n"+
				"2024-01-03,1,2,0.5,1.5,10,A,yahoo\n"), IngestOptions{})
		}
		next := head.Settings
		next.Dedup = "timestamp_only"
		_, m, written, err := st.rewrite(context.Background(), "R", head, next)
		return m, written, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 3 || m.RowCount != 2 || m.Settings.Dedup != "timestamp_only" {
		t.Fatalf("version %d rows %d dedup %s; want 3, 2 (one per timestamp), timestamp_only", m.Version, m.RowCount, m.Settings.Dedup)
	}
}

// TestUpdateFailureLeavesNothing: an UpdateFunc error commits nothing and
// its files are removed.
func TestUpdateFailureLeavesNothing(t *testing.T) {
	st := newTestStore(t, Options{})
	boom := errors.New("boom")
	_, err := st.Update(context.Background(), "N", func(head *metastore.Manifest) (*metastore.Manifest, []string, error) {
		return nil, nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if _, err := st.Stat("N"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat after failed update: %v", err)
	}
	if fs, _ := st.Folders(); slices.Contains(fs, "N") {
		t.Fatalf("an empty folder N was left: %v", fs)
	}
}

// gcQueued reports whether the background collector was asked to collect
// the dataset since the store opened.
func gcQueued(st *Store, name string) bool {
	st.gcw.mu.Lock()
	defer st.gcw.mu.Unlock()
	_, ok := st.gcw.last[name]
	return ok
}

// TestFirstVersionSkipsGC: the first version of a dataset whose folder
// this ingest created queues no garbage collection (there is nothing
// older than the grace period in it); the second version does, and so does
// a first version in a folder that already held a crashed write's
// leftovers, which are then collected.
func TestFirstVersionSkipsGC(t *testing.T) {
	st := newTestStore(t, Options{Grace: time.Minute})
	src := t.TempDir()
	f := writeFile(t, src, "a.csv", yahooCSV)
	ingest(t, st, "fresh", f, IngestOptions{})
	if gcQueued(st, "fresh") {
		t.Error("first version of a new dataset queued a garbage collection")
	}
	ingest(t, st, "fresh", writeFile(t, src, "b.csv", "Date,Open,High,Low,Close,Volume\n2024-02-01,1,2,0.5,1.5,7\n"), IngestOptions{})
	if !gcQueued(st, "fresh") {
		t.Error("second version queued no garbage collection")
	}

	// A crashed first ingest left a partition file, older than the grace
	// period, in the folder of dataset "crashed".
	orphan := filepath.Join(st.Dir(), metastore.DatasetsDir, "crashed", "year=2024", uuid.NewString()+".parquet")
	if err := os.MkdirAll(filepath.Dir(orphan), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, []byte("PAR1 torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(orphan, old, old); err != nil {
		t.Fatal(err)
	}
	ingest(t, st, "crashed", f, IngestOptions{})
	if !gcQueued(st, "crashed") {
		t.Fatal("first version in a folder with leftovers queued no garbage collection")
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(orphan); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the crashed write's partition file was not collected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
