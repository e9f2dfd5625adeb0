package metastore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"bcfs/backend"
)

// The journal of a store on S3 tells mounts which datasets changed without
// one request per dataset: every commit (and every move of a dataset, by
// delete, restore or rename) also writes one empty object
//
//	_journal/<20-digit Unix nanoseconds>-<8 hex>-<op>-<version>-<escaped dataset name>
//
// whose key says everything, so a watcher learns every change in the store
// with one LIST (start-after its last position) per poll, whatever the
// number of datasets. The entry is written after the commit point: a crash
// between the two loses only the notice, never data (a mount still sees
// the new version on its next lookup of that name, as the head is checked
// on every lookup after the kernel's one-second cache).
//
// Keys sort by the writer's clock, and an entry becomes visible some time
// after its key's time, so each poll lists again from JournalWindow before
// the previous poll began and skips the keys it has seen: an entry is
// missed only if the writer's clock is behind the reader's by more than
// JournalWindow minus the PUT's latency. Entries older than JournalKeep are
// deleted by CompactJournal (cleanup, and now and then a committer).
const (
	JournalDir    = "_journal"
	JournalWindow = time.Minute
	JournalKeep   = 24 * time.Hour
)

// JournalEntry is one recorded change.
type JournalEntry struct {
	Key     string
	Time    time.Time
	Op      string // "commit" or "move"
	Dataset string
	Version int64 // the committed version (0 for a move)
}

// journalReader is the position of PollJournal.
type journalReader struct {
	started  bool
	lastPoll time.Time
	seen     map[string]time.Time
	polled   time.Time // last successful poll
}

// record writes the journal entry of a change, best effort.
func (o *ObjFS) record(dataset string, version int64, op string) {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	now := time.Now()
	key := fmt.Sprintf("%s/%020d-%s-%s-%d-%s", JournalDir, now.UnixNano(), hex.EncodeToString(rnd[:]), op, version, url.PathEscape(dataset))
	if err := o.b.Put(o.ctx, key, backend.Bytes(nil)); err != nil {
		return
	}
	// Compaction costs one LIST; one commit in 256 pays for it.
	if mrand.IntN(256) == 0 {
		_, _ = o.CompactJournal(o.ctx, JournalKeep)
	}
}

func parseJournalKey(key string) (JournalEntry, bool) {
	rest, ok := strings.CutPrefix(key, JournalDir+"/")
	if !ok {
		return JournalEntry{}, false
	}
	f := strings.SplitN(rest, "-", 5)
	if len(f) != 5 || len(f[0]) != 20 {
		return JournalEntry{}, false
	}
	ns, err1 := strconv.ParseInt(f[0], 10, 64)
	v, err2 := strconv.ParseInt(f[3], 10, 64)
	name, err3 := url.PathUnescape(f[4])
	if err1 != nil || err2 != nil || err3 != nil {
		return JournalEntry{}, false
	}
	return JournalEntry{Key: key, Time: time.Unix(0, ns), Op: f[2], Dataset: name, Version: v}, true
}

// PollJournal returns the entries written since the previous poll (the
// first poll only takes its position and returns none).
func (o *ObjFS) PollJournal(ctx context.Context) ([]JournalEntry, error) {
	o.jmu.Lock()
	defer o.jmu.Unlock()
	o.startWatching()
	start := time.Now()
	from := start.Add(-JournalWindow)
	if o.jr.started {
		from = o.jr.lastPoll.Add(-JournalWindow)
	}
	if o.jr.seen == nil {
		o.jr.seen = map[string]time.Time{}
	}
	var out []JournalEntry
	after := fmt.Sprintf("%s/%020d", JournalDir, from.UnixNano())
	err := o.b.ListAfter(ctx, JournalDir+"/", after, func(i backend.Info) error {
		e, ok := parseJournalKey(i.Name)
		if !ok {
			return nil
		}
		if _, dup := o.jr.seen[e.Key]; dup {
			return nil
		}
		o.jr.seen[e.Key] = e.Time
		if o.jr.started {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k, t := range o.jr.seen {
		if t.Before(from.Add(-JournalWindow)) {
			delete(o.jr.seen, k)
		}
	}
	o.jr.started, o.jr.lastPoll, o.jr.polled = true, start, time.Now()
	for _, e := range out {
		o.forgetDataset(e.Dataset, e.Op)
	}
	return out, nil
}

// JournalPolled is when PollJournal last succeeded (zero before).
func (o *ObjFS) JournalPolled() time.Time {
	o.jmu.Lock()
	defer o.jmu.Unlock()
	return o.jr.polled
}

// CompactJournal deletes the entries older than keep and returns how many
// it deleted. Keys sort by time, so it lists only the old ones.
func (o *ObjFS) CompactJournal(ctx context.Context, keep time.Duration) (int, error) {
	cutoff := fmt.Sprintf("%s/%020d", JournalDir, time.Now().Add(-keep).UnixNano())
	var old []string
	stop := fmt.Errorf("past cutoff")
	err := o.b.ListAfter(ctx, JournalDir+"/", "", func(i backend.Info) error {
		if i.Name >= cutoff {
			return stop
		}
		old = append(old, i.Name)
		return nil
	})
	if err != nil && err != stop {
		return 0, err
	}
	for i, k := range old {
		if err := o.b.Delete(ctx, k); err != nil {
			return i, err
		}
	}
	return len(old), nil
}
