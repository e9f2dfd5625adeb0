package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"bcfs/backend"
	"bcfs/metastore"
)

// BackupProblem is one piece of damage found on a target.
type BackupProblem struct {
	Target  string `json:"target"`
	Dataset string `json:"dataset"`
	Version int64  `json:"version"`
	File    string `json:"file"` // the object on the target
	Problem string `json:"problem"`
	// Repaired: RepairBackup stored an intact copy from the store.
	Repaired bool `json:"repaired,omitempty"`
}

func (p BackupProblem) String() string {
	return fmt.Sprintf("%s: dataset %s version %d: %s: %s", p.Target, p.Dataset, p.Version, p.File, p.Problem)
}

// BackupCheck is the outcome of VerifyBackup on one target.
type BackupCheck struct {
	Target    string          `json:"target"`
	URL       string          `json:"url"`
	OK        bool            `json:"ok"`
	Error     string          `json:"error,omitempty"` // the target could not be checked
	Versions  int             `json:"versions"`
	Files     int             `json:"files"`
	BytesRead int64           `json:"bytes_read"`
	Problems  []BackupProblem `json:"problems"`
}

// VerifyBackup checks that every manifest on the target decodes and every
// file it references is there with the recorded size; with readData every
// file is read back and its SHA-256 checked (once, however many versions
// reference it).
func VerifyBackup(ctx context.Context, t metastore.BackupTarget, open OpenFunc, readData bool, pr *Progress) (c BackupCheck) {
	if open == nil {
		open = OpenURL
	}
	if pr == nil {
		pr = new(Progress)
	}
	c = BackupCheck{Target: t.Name, URL: t.URL, Problems: []BackupProblem{}}
	defer func() { c.OK = c.Error == "" && len(c.Problems) == 0 }()
	b, err := open(ctx, t.URL, false)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	if _, err := b.Stat(ctx, backupMarker); err != nil {
		c.Error = fmt.Sprintf("%s holds no bcfs backup: %v", b.Location(), err)
		return c
	}
	sizes, err := listSizes(ctx, b, backupData)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	keys, err := listSizes(ctx, b, backupDatasets)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	var manifests []string
	for k := range keys {
		if isManifestKey(k) {
			manifests = append(manifests, k)
		}
	}
	sort.Strings(manifests)
	type use struct {
		dataset string
		version int64
		p       metastore.Partition
	}
	uses := map[string][]use{} // data key -> versions referencing it
	for _, k := range manifests {
		ds, v, _ := parseManifestKey(k)
		m, err := loadTargetManifest(ctx, b, ds, v)
		if err != nil {
			c.Problems = append(c.Problems, BackupProblem{Target: t.Name, Dataset: ds, Version: v, File: k, Problem: err.Error()})
			continue
		}
		c.Versions++
		for _, p := range m.Partitions {
			dk := dataKey(p.SHA256)
			size, ok := sizes[dk]
			switch {
			case !ok:
				c.Problems = append(c.Problems, BackupProblem{Target: t.Name, Dataset: ds, Version: v, File: dk,
					Problem: fmt.Sprintf("missing (partition %s)", p.Path)})
			case size != p.Size:
				c.Problems = append(c.Problems, BackupProblem{Target: t.Name, Dataset: ds, Version: v, File: dk,
					Problem: fmt.Sprintf("%d bytes, manifest says %d (partition %s)", size, p.Size, p.Path)})
			default:
				uses[dk] = append(uses[dk], use{ds, v, p})
			}
		}
	}
	c.Files = len(uses)
	if !readData {
		return c
	}
	dks := make([]string, 0, len(uses))
	for dk := range uses {
		dks = append(dks, dk)
		pr.TotalFiles.Add(1)
		pr.TotalBytes.Add(uses[dk][0].p.Size)
	}
	sort.Strings(dks)
	for _, dk := range dks {
		if err := ctx.Err(); err != nil {
			c.Error = err.Error()
			return c
		}
		u := uses[dk]
		got, n, err := hashObject(ctx, b, dk, pr)
		c.BytesRead += n
		pr.Files.Add(1)
		msg := ""
		switch {
		case err != nil:
			msg = "unreadable: " + err.Error()
		case got != u[0].p.SHA256:
			msg = fmt.Sprintf("SHA-256 %s, manifest says %s", got, u[0].p.SHA256)
		}
		if msg == "" {
			continue
		}
		for _, x := range u {
			c.Problems = append(c.Problems, BackupProblem{Target: t.Name, Dataset: x.dataset, Version: x.version, File: dk,
				Problem: fmt.Sprintf("%s (partition %s)", msg, x.p.Path)})
		}
	}
	sort.SliceStable(c.Problems, func(i, j int) bool {
		a, b := c.Problems[i], c.Problems[j]
		if a.Dataset != b.Dataset {
			return a.Dataset < b.Dataset
		}
		return a.Version < b.Version
	})
	return c
}

// loadTargetManifest reads and decodes one manifest from a target.
func loadTargetManifest(ctx context.Context, b backend.Backend, dataset string, v int64) (*metastore.Manifest, error) {
	raw, err := backend.ReadAll(ctx, b, manifestKey(dataset, v), maxManifest)
	if err != nil {
		return nil, err
	}
	m, err := metastore.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("manifest does not decode: %w", err)
	}
	if m.Version != v {
		return nil, fmt.Errorf("manifest holds version %d: %w", m.Version, metastore.ErrCorrupt)
	}
	return m, nil
}

// hashObject reads an object whole and returns its SHA-256.
func hashObject(ctx context.Context, b backend.Backend, key string, pr *Progress) (string, int64, error) {
	o, err := b.Open(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer o.Close()
	h := sha256.New()
	n, err := backend.Copy(progressWriter{h, &pr.Bytes}, o)
	if err != nil {
		return "", n, err
	}
	if n != o.Size() {
		return "", n, errors.New("short read")
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

type progressWriter struct {
	w interface{ Write([]byte) (int, error) }
	n interface{ Add(int64) int64 }
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n.Add(int64(n))
	return n, err
}

// RepairBackup replaces what VerifyBackup found damaged or missing on a
// target with the store's own intact copy, where the store still has one: a
// partition file (checked against its SHA-256 as it is stored) or a
// manifest. It only ever puts correct bytes, so a target stays restorable
// at every step. It marks the problems it fixed and returns how many.
func (s *Store) RepairBackup(ctx context.Context, t metastore.BackupTarget, open OpenFunc, probs []BackupProblem) (int, error) {
	if open == nil {
		open = OpenURL
	}
	b, err := open(ctx, t.URL, false)
	if err != nil {
		return 0, err
	}
	names, err := s.datasetNames()
	if err != nil {
		return 0, err
	}
	type source struct {
		dir string
		p   metastore.Partition
	}
	files := map[string]source{}     // data key -> a local partition with that content
	manifests := map[string][]byte{} // manifest key -> its bytes
	for _, n := range names {
		vs, err := s.localVersions(n)
		if err != nil {
			continue
		}
		for _, sv := range vs {
			manifests[manifestKey(n, sv.version)] = sv.raw
			for _, p := range sv.m.Partitions {
				files[dataKey(p.SHA256)] = source{s.datasetDir(n), p}
			}
		}
	}
	done := map[string]bool{}
	fixed := 0
	for i := range probs {
		k := probs[i].File
		if !done[k] {
			if raw, ok := manifests[k]; ok {
				err = b.Put(ctx, k, backend.Bytes(raw))
			} else if src, ok := files[k]; ok {
				err = s.putLocalFile(ctx, b, k, src.dir, src.p)
			} else {
				continue // the store no longer has it
			}
			if err != nil {
				return fixed, fmt.Errorf("repair %s: %w", k, err)
			}
			done[k] = true
		}
		probs[i].Repaired = true
		fixed++
	}
	return fixed, nil
}

func (s *Store) putLocalFile(ctx context.Context, b backend.Backend, key, dir string, p metastore.Partition) error {
	f, err := s.fs.Open(filepath.Join(dir, filepath.FromSlash(p.Path)))
	if err != nil {
		return err
	}
	defer f.Close()
	return b.Put(ctx, key, backend.Blob{R: f, Size: p.Size, SHA256: p.SHA256})
}
