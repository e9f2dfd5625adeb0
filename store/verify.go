package store

import (
	"context"
	"fmt"
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
		for i := range m.Partitions {
			pt := &m.Partitions[i]
			if msg := s.verifyPartition(dir, pt); msg != "" {
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

// verifyPartition checks one partition file's size and SHA-256
// (metastore), then that its row groups and row counts match the manifest.
func (s *Store) verifyPartition(dir string, pt *metastore.Partition) string {
	if err := metastore.VerifyPartition(s.fs, dir, pt); err != nil {
		return err.Error()
	}
	f, err := s.fs.Open(filepath.Join(dir, filepath.FromSlash(pt.Path)))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	pr, err := formats.OpenPartition(f, pt.Size)
	if err != nil {
		return err.Error()
	}
	rgs := pt.RowGroups
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
	if total != pt.Rows {
		return fmt.Sprintf("%d rows, manifest says %d", total, pt.Rows)
	}
	return ""
}
