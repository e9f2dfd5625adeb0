package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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

// readSnapshotView reads all of view v of sn in 128 KiB reads, as the
// mount does.
func readSnapshotView(sn *Snapshot, v View) ([]byte, error) {
	var out []byte
	buf := make([]byte, 128<<10)
	for off := int64(0); ; {
		n, err := sn.ReadAt(v, buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// flipInPlace flips one bit of the file at off through a descriptor opened
// for writing (the inode stays the same) and returns a function that flips
// it back the same way.
func flipInPlace(t *testing.T, path string, off int64) func() {
	t.Helper()
	flip := func() {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x10
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	flip()
	return flip
}

// TestVerifiedOnceStillRefusesLaterDamage: the Parquet view verifies a row
// group once per file identity and then reads it straight from the page
// cache, without checking it again. A file damaged after that first
// verified read - in place, in the middle of an open snapshot, or replaced
// by another file - is never served: the snapshot that verified it and a
// new one both fail with ErrCorrupt. An unchanged file is not checked again
// by a new snapshot, and a repaired one reads again.
func TestVerifiedOnceStillRefusesLaterDamage(t *testing.T) {
	dir, name, part := damageFixture(t)
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := st.head(name)
	if err != nil {
		t.Fatal(err)
	}
	var rg metastore.RowGroup
	for _, p := range m.Partitions {
		if strings.HasSuffix(part, filepath.FromSlash(p.Path)) {
			rg = p.RowGroups[len(p.RowGroups)/2]
		}
	}
	if rg.Length == 0 {
		t.Fatalf("no row group found for %s", part)
	}
	sn, err := st.Pin(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	want, err := readSnapshotView(sn, ViewParquet)
	if err != nil || int64(len(want)) != sn.Size(ViewParquet) {
		t.Fatalf("first read: %d bytes, %v", len(want), err)
	}
	if !sn.src[0].leased() {
		t.Fatal("the snapshot holds no read lease: direct reads are not being tested")
	}
	// Verified once: a second snapshot of the unchanged files checks
	// nothing again, and reads the same bytes.
	before := verifyCount.Load()
	sn2, err := st.Pin(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readSnapshotView(sn2, ViewParquet); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("second snapshot: %v", err)
	}
	sn2.Release()
	if n := verifyCount.Load() - before; n != 0 {
		t.Fatalf("a second snapshot of unchanged files verified %d row groups again", n)
	}

	// Damage in place while the snapshot is open: opening the file for
	// writing breaks the lease first.
	unflip := flipInPlace(t, part, rg.Offset+rg.Length/2)
	for _, s := range []*Snapshot{sn, nil} {
		if s == nil {
			if s, err = st.Pin(name, 0); err != nil {
				t.Fatal(err)
			}
			defer s.Release()
		}
		got, err := readSnapshotView(s, ViewParquet)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read after in-place damage (same snapshot %v): %d bytes, %v; want ErrCorrupt", s == sn, len(got), err)
		}
		if !bytes.Equal(got, want[:len(got)]) {
			t.Fatalf("read after in-place damage served other bytes before failing")
		}
	}
	// Repaired (in place again): a new snapshot reads it, checked anew.
	unflip()
	before = verifyCount.Load()
	if got, err := readViewErr(st, name, ViewParquet); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after repair: %v", err)
	}
	if verifyCount.Load() == before {
		t.Fatal("the repaired file was served without being verified again")
	}

	// A replaced file (another inode under the name) is checked again.
	orig, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(orig)
	bad[rg.Offset+rg.Length/3] ^= 0x01
	tmp := part + ".tmp"
	if err := os.WriteFile(tmp, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, part); err != nil {
		t.Fatal(err)
	}
	if _, err := readViewErr(st, name, ViewParquet); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a replaced, damaged file: %v; want ErrCorrupt", err)
	}
}

// TestVerifiedBytesLeavingPageCacheAreCheckedAgain: a verified row group
// whose pages the page cache dropped is read from the disk again, so it
// is verified again before it is served (direct reads use RWF_NOWAIT).
func TestVerifiedBytesLeavingPageCacheAreCheckedAgain(t *testing.T) {
	dir, name, part := damageFixture(t)
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want, err := readViewErr(st, name, ViewParquet)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(part)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	mem, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	resident := make([]byte, (len(mem)+os.Getpagesize()-1)/os.Getpagesize())
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&resident[0])))
	unix.Munmap(mem)
	if errno != 0 {
		t.Fatal(errno)
	}
	if bytes.Count(resident, []byte{0}) == 0 {
		t.Skip("the page cache kept every page of the file (FADV_DONTNEED is not honoured here): nothing leaves it to test")
	}
	before := verifyCount.Load()
	if got, err := readViewErr(st, name, ViewParquet); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after the page cache dropped the file: %v", err)
	}
	if verifyCount.Load() == before {
		t.Fatal("bytes read back from the disk were served without being verified again")
	}
}
