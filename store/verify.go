package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"

	"bcfs/formats"
	"bcfs/metastore"
)

// Problem is one damaged file found by Verify.
type Problem struct {
	Dataset string `json:"dataset"`
	File    string `json:"file"`
	Problem string `json:"problem"`
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Dataset, p.File, p.Problem) }

// Verify re-reads every partition of every dataset's head version and checks
// size, SHA-256, row groups and row counts against the manifest, and that the
// Parquet view's footer can be rebuilt at the recorded size.
func (s *Store) Verify(ctx context.Context) ([]Problem, error) {
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	var out []Problem
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		m, err := s.head(n)
		if err != nil {
			out = append(out, Problem{Dataset: n, File: "_log", Problem: err.Error()})
			continue
		}
		dir := s.datasetDir(n)
		bad := false
		for _, pt := range m.Partitions {
			if msg := s.verifyPartition(dir, pt.Path, pt.Size, pt.SHA256, pt.Rows, pt.RowGroups); msg != "" {
				out = append(out, Problem{Dataset: n, File: filepath.Join(dir, filepath.FromSlash(pt.Path)), Problem: msg})
				bad = true
			}
		}
		if !bad {
			if size, err := s.parquetViewSize(dir, m); err != nil {
				out = append(out, Problem{Dataset: n, File: n + ".parquet", Problem: err.Error()})
			} else if size != m.ParquetSize {
				out = append(out, Problem{Dataset: n, File: n + ".parquet", Problem: fmt.Sprintf("view is %d bytes, manifest says %d", size, m.ParquetSize)})
			}
		}
	}
	return out, nil
}

func (s *Store) verifyPartition(dir, rel string, size int64, sum string, rows int64, rgs []metastore.RowGroup) string {
	f, err := s.fs.Open(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err.Error()
	}
	if n != size {
		return fmt.Sprintf("size %d, manifest says %d", n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Sprintf("sha256 %s, manifest says %s", got, sum)
	}
	pr, err := formats.OpenPartition(f, size)
	if err != nil {
		return err.Error()
	}
	if pr.NumRowGroups() != len(rgs) {
		return fmt.Sprintf("%d row groups, manifest says %d", pr.NumRowGroups(), len(rgs))
	}
	var total int64
	for i, rg := range pr.RowGroups() {
		if rg.Rows != rgs[i].Rows || rg.Offset != rgs[i].Offset || rg.Length != rgs[i].Length {
			return fmt.Sprintf("row group %d is %+v, manifest says %+v", i, rg, rgs[i])
		}
		b, err := pr.ReadRowGroup(i)
		if err != nil {
			return fmt.Sprintf("row group %d: %v", i, err)
		}
		if int64(b.Len()) != rg.Rows {
			return fmt.Sprintf("row group %d holds %d rows, footer says %d", i, b.Len(), rg.Rows)
		}
		total += int64(b.Len())
	}
	if total != rows {
		return fmt.Sprintf("%d rows, manifest says %d", total, rows)
	}
	return ""
}
