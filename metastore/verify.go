package metastore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
)

// VerifyPartition checks that partition file p exists in the dataset dir
// with the recorded size and SHA-256 (bcfs verify), reading it in full,
// streaming. A mismatch wraps ErrCorrupt.
func VerifyPartition(fsys FS, dir string, p *Partition) error {
	f, err := fsys.Open(filepath.Join(dir, filepath.FromSlash(p.Path)))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, io.LimitReader(f, p.Size+1), make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", p.Path, err)
	}
	if n != p.Size {
		return fmt.Errorf("%s: size %d, manifest says %d: %w", p.Path, n, p.Size, ErrCorrupt)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("%s: sha256 %s, manifest says %s: %w", p.Path, got, p.SHA256, ErrCorrupt)
	}
	return nil
}
