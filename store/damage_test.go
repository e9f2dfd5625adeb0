package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bcfs/formats/formatstest"
	"bcfs/metastore"
)

// readViewErr reads all of view v of the head of name, or fails.
func readViewErr(st *Store, name string, v View) ([]byte, error) {
	sn, err := st.Pin(name, 0)
	if err != nil {
		return nil, err
	}
	defer sn.Release()
	var buf bytes.Buffer
	_, err = sn.WriteTo(v, &buf)
	return buf.Bytes(), err
}

// damageFixture ingests a real minute-bar file and returns the store dir,
// the dataset name, and the path and manifest entry of its largest
// partition file.
func damageFixture(t *testing.T) (dir, name, part string) {
	t.Helper()
	dir = t.TempDir()
	name = "XYZ"
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := filepath.Join(formatstest.SharedData(t), "lumibot/data/XYZ_1Min.csv")
	ingest(t, st, name, src, IngestOptions{})
	m, err := metastore.Head(metastore.OS, st.datasetDir(name))
	if err != nil {
		t.Fatal(err)
	}
	var best metastore.Partition
	for _, p := range m.Partitions {
		if p.RowGroups[0].CRC32C == nil || p.FooterCRC32C == nil {
			t.Fatalf("partition %s has no checksums: %+v", p.Path, p)
		}
		if p.Size > best.Size {
			best = p
		}
	}
	return dir, name, filepath.Join(st.datasetDir(name), filepath.FromSlash(best.Path))
}

// TestBitFlipsNeverServeWrongValues flips one bit at each of 100 random
// offsets of a partition file: every read of either view, and every merge
// onto the dataset, must give the original bytes or fail; none may return
// other values. A flip anywhere but the leading magic must fail the read
// with ErrCorrupt, and the damage shows in the dataset's last_error.
func TestBitFlipsNeverServeWrongValues(t *testing.T) {
	dir, name, part := damageFixture(t)
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[View][]byte{}
	for _, v := range []View{ViewCSV, ViewParquet} {
		if want[v], err = readViewErr(st, name, v); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	orig, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	// A one-row update inside the damaged partition makes a merge read it.
	update := writeFile(t, t.TempDir(), "u.csv", "time,open,high,low,close,volume\n2020-01-02 09:31:00,1,2,0.5,1.5,7\n")
	rng := rand.New(rand.NewPCG(7, uint64(len(orig))))
	failed := 0
	for i := 0; i < 100; i++ {
		off := rng.IntN(len(orig))
		bit := byte(1) << rng.IntN(8)
		bad := bytes.Clone(orig)
		bad[off] ^= bit
		if err := os.WriteFile(part, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		// A fresh Store each time: nothing is served from a cache.
		st, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		covered := off >= 4 // everything but the leading magic has a checksum
		for _, v := range []View{ViewCSV, ViewParquet} {
			got, err := readViewErr(st, name, v)
			switch {
			case err == nil && !bytes.Equal(got, want[v]):
				t.Errorf("flip of bit %#02x at offset %d: %s view served different bytes without an error", bit, off, v.Ext())
			case err == nil && covered:
				t.Errorf("flip of bit %#02x at offset %d: %s view read without an error", bit, off, v.Ext())
			case err != nil && covered && !errors.Is(err, ErrCorrupt):
				t.Errorf("flip at offset %d: %s view: %v, want ErrCorrupt", off, v.Ext(), err)
			case err != nil:
				failed++
			}
		}
		if covered && i%10 == 0 {
			// The merge path refuses the damaged partition instead of
			// laundering it into a new version with fresh checksums.
			_, err := st.Ingest(context.Background(), name, update, IngestOptions{})
			if err == nil {
				t.Errorf("flip at offset %d: a merge onto the damaged partition committed", off)
			} else if !errors.Is(err, ErrCorrupt) {
				t.Errorf("flip at offset %d: merge: %v, want ErrCorrupt", off, err)
			}
			le, err := metastore.ReadLastError(metastore.OS, st.datasetDir(name))
			if err != nil || le == nil || !strings.Contains(le.Error, part) {
				t.Errorf("flip at offset %d: last_error %+v, %v; want the damaged file named", off, le, err)
			}
		}
		st.Close()
	}
	if err := os.WriteFile(part, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of 200 view reads refused the damage; none served other bytes", failed)
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, v := range []View{ViewCSV, ViewParquet} {
		if got, err := readViewErr(st, name, v); err != nil || !bytes.Equal(got, want[v]) {
			t.Fatalf("after repair %s: %v", v.Ext(), err)
		}
	}
}

// TestMissingPartitionIsDamage: a partition file deleted by hand fails the
// read as damage (not "no such file", which the mount would show as a
// missing name), and last_error names the file.
func TestMissingPartitionIsDamage(t *testing.T) {
	dir, name, part := damageFixture(t)
	if err := os.Remove(part); err != nil {
		t.Fatal(err)
	}
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = readViewErr(st, name, ViewCSV)
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Base(part)) {
		t.Fatalf("read with a missing partition: %v; want ErrCorrupt naming the file", err)
	}
	le, err := metastore.ReadLastError(metastore.OS, st.datasetDir(name))
	if err != nil || le == nil || !strings.Contains(le.Error, filepath.Base(part)) {
		t.Fatalf("last_error %+v, %v; want the missing file named", le, err)
	}
}

// TestPartitionChecksumsMatchFile: the CRC32Cs a commit records (taken from
// the bytes as they were written) are those of the file's row groups and
// footer, over several row groups and partitions.
func TestPartitionChecksumsMatchFile(t *testing.T) {
	st := newTestStore(t, Options{})
	src := filepath.Join(t.TempDir(), "bars.csv")
	writeBars(t, src, 200_000, "yahoo", time.Date(2024, 1, 30, 0, 0, 0, 0, time.UTC))
	ingest(t, st, "bars", src, IngestOptions{})
	m, err := st.head("bars")
	if err != nil {
		t.Fatal(err)
	}
	groups := 0
	for _, p := range m.Partitions {
		data, err := os.ReadFile(filepath.Join(st.datasetDir("bars"), filepath.FromSlash(p.Path)))
		if err != nil {
			t.Fatal(err)
		}
		for j, rg := range p.RowGroups {
			groups++
			if rg.CRC32C == nil || *rg.CRC32C != *crc32c(data[rg.Offset : rg.Offset+rg.Length]) {
				t.Fatalf("%s row group %d: CRC32C %v does not match the file", p.Path, j, rg.CRC32C)
			}
		}
		last := p.RowGroups[len(p.RowGroups)-1]
		if p.FooterCRC32C == nil || *p.FooterCRC32C != *crc32c(data[last.Offset+last.Length:]) {
			t.Fatalf("%s footer CRC32C does not match the file", p.Path)
		}
	}
	if len(m.Partitions) < 2 || groups < 4 {
		t.Fatalf("%d partitions, %d row groups: the test wants several of each", len(m.Partitions), groups)
	}
}
