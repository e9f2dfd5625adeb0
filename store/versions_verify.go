package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"bcfs/metastore"
)

// VerifyVersions checks every retained version of every dataset (headOnly:
// the head only, as Verify does): each partition file once, however many
// versions share it (size, SHA-256, row groups, rows), and each version's
// Parquet view size. A manifest that does not decode is a problem too,
// except a torn one above the head (a crashed commit that never published).
func (s *Store) VerifyVersions(ctx context.Context, headOnly bool) ([]Problem, error) {
	if headOnly {
		return s.Verify(ctx)
	}
	names, err := s.datasetNames()
	if err != nil {
		return nil, err
	}
	var out []Problem
	for _, n := range names {
		dir := s.datasetDir(n)
		head, err := metastore.Head(s.fs, dir)
		if err != nil {
			out = append(out, Problem{Dataset: n, File: "_log", Problem: err.Error()})
			continue
		}
		vs, err := metastore.Versions(s.fs, dir)
		if err != nil {
			return out, err
		}
		checked := map[string]string{} // partition path -> problem ("" = fine)
		for _, v := range vs {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			if v > head.Version {
				continue
			}
			m, err := metastore.Load(s.fs, dir, v)
			if errors.Is(err, metastore.ErrNotFound) {
				continue // dropped by retention meanwhile
			}
			if err != nil {
				out = append(out, Problem{Dataset: n, File: filepath.Join(dir, filepath.FromSlash(metastore.ManifestName(v))), Problem: err.Error()})
				continue
			}
			bad := false
			for i := range m.Partitions {
				pt := &m.Partitions[i]
				msg, seen := checked[pt.Path]
				if !seen {
					msg = s.verifyPartition(dir, pt)
					checked[pt.Path] = msg
					if msg != "" {
						out = append(out, Problem{Dataset: n, File: filepath.Join(dir, filepath.FromSlash(pt.Path)),
							Problem: fmt.Sprintf("%s (version %d)", msg, v)})
					}
				}
				bad = bad || msg != ""
			}
			if bad {
				continue
			}
			file := fmt.Sprintf("%s version %d .parquet", n, v)
			if size, err := s.parquetViewSize(dir, m); err != nil {
				out = append(out, Problem{Dataset: n, File: file, Problem: err.Error()})
			} else if size != m.ParquetSize {
				out = append(out, Problem{Dataset: n, File: file, Problem: fmt.Sprintf("view is %d bytes, manifest says %d", size, m.ParquetSize)})
			}
		}
	}
	return out, nil
}
