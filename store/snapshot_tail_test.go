package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"bcfs/metastore"
)

// TestExtendsRandomHistory commits a random history to one dataset:
// days appended at the end (in the last month or a new one), days rewritten
// in the middle, a month before the first, a schema change, zone changes
// and compactions. For both views and every pair of versions that Extends
// accepts, the older view's first prefix bytes plus WriteFrom of the rest
// equal the newer full view byte for byte; an append at the end after the
// older version's files must be accepted (and a zone change for the
// Parquet view, whose row groups it leaves), every other change refused.
func TestExtendsRandomHistory(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { extendsHistory(t, seed) })
	}
}

func extendsHistory(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0))
	st := newTestStore(t, Options{})
	dir := t.TempDir()
	if _, _, err := st.UpdateSettings(ctx, "ES", SettingsChange{Partition: metastore.GranularityMonth}); err != nil {
		t.Fatal(err)
	}
	first := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	end := first.AddDate(0, 0, 1)
	ingest(t, st, "ES", tenMinuteBars(t, dir, "base.csv", first, 144, "p", 100, "A", "B"), IngestOptions{})

	type step struct {
		kind    string
		version int64
	}
	var steps []step
	schemaChanged, zoned := false, false
	for i := 0; i < 24; i++ {
		var kind string
		switch r := rng.IntN(20); {
		case r < 11:
			kind = "append"
			// Mostly the next day; now and then past a month end.
			day := end
			if rng.IntN(4) == 0 {
				day = time.Date(end.Year(), end.Month()+1, 1+rng.IntN(3), 0, 0, 0, 0, time.UTC)
			}
			syms := []string{"A", "B"}
			p := tenMinuteBars(t, dir, fmt.Sprintf("a%d.csv", i), day, 144, "p", 100+float64(i), syms...)
			if schemaChanged {
				p = withOpenInterest(t, dir, fmt.Sprintf("a%d.csv", i), day, 144)
			}
			ingest(t, st, "ES", p, IngestOptions{})
			end = day.AddDate(0, 0, 1)
		case r < 14:
			kind = "middle"
			span := int(end.Sub(first).Hours() / 24)
			day := first.AddDate(0, 0, rng.IntN(span))
			ingest(t, st, "ES", tenMinuteBars(t, dir, fmt.Sprintf("m%d.csv", i), day, 30, "p", 500+float64(i), "A"), IngestOptions{})
		case r < 15:
			kind = "new key in the middle"
			first = time.Date(first.Year(), first.Month()-1, 1, 0, 0, 0, 0, time.UTC)
			ingest(t, st, "ES", tenMinuteBars(t, dir, fmt.Sprintf("k%d.csv", i), first.AddDate(0, 0, 5), 20, "p", 300, "A"), IngestOptions{})
		case r < 16 && !schemaChanged:
			kind = "schema"
			schemaChanged = true
			ingest(t, st, "ES", withOpenInterest(t, dir, fmt.Sprintf("s%d.csv", i), end, 144), IngestOptions{})
			end = end.AddDate(0, 0, 1)
		case r < 18:
			kind = "zone"
			zone := "America/New_York"
			if zoned {
				zone = "UTC"
			}
			zoned = !zoned
			if _, _, err := st.UpdateSettings(ctx, "ES", SettingsChange{Timezone: zone}); err != nil {
				t.Fatal(err)
			}
		default:
			kind = "compaction"
			if _, err := st.Compact(ctx, "ES", CompactOptions{All: true}); err != nil {
				t.Fatal(err)
			}
		}
		m, err := st.Manifest("ES", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) == 0 || steps[len(steps)-1].version != m.Version {
			steps = append(steps, step{kind, m.Version})
		}
	}

	vs, err := st.VersionNumbers("ES")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[int64]string{}
	for _, s := range steps {
		kinds[s.version] = s.kind
	}
	for _, view := range []View{ViewCSV, ViewParquet} {
		views := map[int64][]byte{}
		for _, v := range vs {
			views[v] = viewAt(t, st, v, view)
		}
		accepted := 0
		for j, v := range vs {
			sn, err := st.Pin("ES", v)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range vs[:j] {
				older, err := st.Manifest("ES", u)
				if err != nil {
					t.Fatal(err)
				}
				prefix, ok := sn.Extends(view, older)
				if u == sn.Parent() && kinds[v] != "" {
					newer, _ := st.Manifest("ES", v)
					// A zone changes how the CSV view prints times, not
					// the Parquet view's row groups.
					extending := kinds[v] == "append" || kinds[v] == "zone" && view == ViewParquet
					want := extending && pathsPrefix(older, newer)
					if ok != want {
						t.Errorf("%s: version %d (%s) on %d: Extends says %v, want %v", view.Ext(), v, kinds[v], u, ok, want)
					}
					if want && ok && kinds[v] == "append" {
						accepted++
					}
				}
				if !ok {
					continue
				}
				if view == ViewCSV && prefix != int64(len(views[u])) || prefix > int64(len(views[u])) {
					t.Fatalf("%s: %d extends %d: prefix %d, older view is %d bytes", view.Ext(), v, u, prefix, len(views[u]))
				}
				var tail bytes.Buffer
				n, err := sn.WriteFrom(view, &tail, prefix)
				if err != nil {
					t.Fatalf("%s: %d from %d: %v", view.Ext(), v, u, err)
				}
				if n != int64(tail.Len()) || prefix+n != sn.Size(view) {
					t.Fatalf("%s: %d from %d: wrote %d (%d buffered) after %d, view is %d", view.Ext(), v, u, n, tail.Len(), prefix, sn.Size(view))
				}
				if got := append(append([]byte(nil), views[u][:prefix]...), tail.Bytes()...); !bytes.Equal(got, views[v]) {
					t.Fatalf("%s: %d (%s) from %d: incremental view differs from the full one:\n%q\nvs\n%q", view.Ext(), v, kinds[v], u,
						head(got[prefix:]), head(views[v][min(prefix, int64(len(views[v]))):]))
				}
			}
			sn.Release()
		}
		if accepted == 0 {
			t.Errorf("%s: no append accepted as extending its parent (steps %v)", view.Ext(), steps)
		}
		t.Logf("%s: %d versions, %d appends accepted as extending their parent", view.Ext(), len(vs), accepted)
	}
}

// pathsPrefix tells whether older's partition files are the first files
// of newer.
func pathsPrefix(older, newer *metastore.Manifest) bool {
	if len(older.Partitions) > len(newer.Partitions) {
		return false
	}
	for i := range older.Partitions {
		if older.Partitions[i].Path != newer.Partitions[i].Path {
			return false
		}
	}
	return true
}

// withOpenInterest writes a day of 10-minute bars of A and B with an
// open_interest column.
func withOpenInterest(t *testing.T, dir, name string, day time.Time, n int) string {
	var b strings.Builder
	b.WriteString("timestamp,open,high,low,close,volume,symbol,provider,open_interest\n")
	for i := 0; i < n; i++ {
		ts := day.Add(time.Duration(i) * 10 * time.Minute).Format(time.DateTime)
		for _, s := range []string{"A", "B"} {
			fmt.Fprintf(&b, "%s,%g,%g,%g,%g,%d,%s,p,%d\n", ts, 50.5, 51.5, 49.5, 50.5, i, s, 7+i)
		}
	}
	return writeFile(t, dir, name, b.String())
}

func viewAt(t *testing.T, st *Store, v int64, view View) []byte {
	t.Helper()
	sn, err := st.Pin("ES", v)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(view, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteFromOffsets: offset 0 writes the whole view, the view's size
// nothing, and a CSV offset inside a row group, or any offset outside the
// view, is refused.
func TestWriteFromOffsets(t *testing.T) {
	st := newTestStore(t, Options{})
	ingest(t, st, "ES", tenMinuteBars(t, t.TempDir(), "a.csv", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), 50, "p", 100, "A"), IngestOptions{})
	full := viewAt(t, st, 0, ViewCSV)
	sn, err := st.Pin("ES", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var b bytes.Buffer
	if _, err := sn.WriteFrom(ViewCSV, &b, 0); err != nil || !bytes.Equal(b.Bytes(), full) {
		t.Fatalf("from 0: %v, %d bytes of %d", err, b.Len(), len(full))
	}
	b.Reset()
	if n, err := sn.WriteFrom(ViewCSV, &b, int64(len(full))); err != nil || n != 0 {
		t.Fatalf("from the end: %d bytes, %v", n, err)
	}
	if _, err := sn.WriteFrom(ViewCSV, &b, int64(len(full))-3); err == nil || !strings.Contains(err.Error(), "not the start of a row group") {
		t.Fatalf("from inside a row group: %v", err)
	}
	for _, off := range []int64{-1, sn.Size(ViewParquet) + 1} {
		if _, err := sn.WriteFrom(ViewParquet, &b, off); err == nil || !strings.Contains(err.Error(), "outside the") {
			t.Fatalf("Parquet from %d: %v", off, err)
		}
	}
	pq := viewAt(t, st, 0, ViewParquet)
	b.Reset()
	if _, err := sn.WriteFrom(ViewParquet, &b, 1000); err != nil || !bytes.Equal(b.Bytes(), pq[1000:]) {
		t.Fatalf("Parquet from 1000: %v, %d bytes of %d", err, b.Len(), len(pq)-1000)
	}
}
