package fusefs

import (
	"encoding/binary"
	"hash/fnv"
	"path"
	"strings"

	"bcfs/store"
)

// joinPath joins a folder path ("" for the root) and a child name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// splitDataset returns the folder and base name of a dataset name.
func splitDataset(name string) (dir, base string) {
	dir, base = path.Split(name)
	return strings.TrimSuffix(dir, "/"), base
}

// inoFlag marks inode numbers computed by hashing so that they never collide
// with the real inode numbers of scratch files (which are small).
const inoFlag = 1 << 63

// hashIno derives a stable inode number from a kind tag and a key.
func hashIno(kind string, key string, extra ...int64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var buf [8]byte
	for _, x := range extra {
		binary.LittleEndian.PutUint64(buf[:], uint64(x))
		h.Write(buf[:])
	}
	ino := h.Sum64() | inoFlag
	if ino == inoFlag|1 {
		ino++ // 1 is the root's number in go-fuse; keep away from it
	}
	return ino
}

// viewIno is the inode number of one (dataset, version, view). The commit time
// is mixed in so that a dataset deleted and re-created at the same version
// number never reuses an inode whose pages the kernel may still cache.
func viewIno(e store.Entry, v store.View) uint64 {
	return hashIno("view", e.Name, e.Version, int64(v), e.Committed.UnixNano())
}
