package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bcfs/store"
)

func TestTrashCommands(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "store")
	for i, day := range []string{"02", "03"} {
		p := filepath.Join(dir, "in"+day+".csv")
		if err := os.WriteFile(p, []byte("Date,Open,High,Low,Close,Volume\n2024-01-"+day+",1,2,0.5,1.5,10\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, errOut, code := bcfs(t, st, "ingest", "-d", "ES", p); code != 0 {
			t.Fatalf("ingest %d: %s", i, errOut)
		}
	}
	s, err := store.Open(st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("ES"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, errOut, code := bcfs(t, st, "trash", "ls", "--json")
	var list []store.TrashEntry
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Name != "ES" || list[0].Versions != 2 || list[0].Rows != 2 {
		t.Fatalf("trash ls --json: code %d %q %s", code, out, errOut)
	}
	if _, errOut, code := bcfs(t, st, "trash", "restore", "--as", "ES2", "ES.csv"); code != 0 {
		t.Fatalf("restore: %s", errOut)
	}
	out, _, code = bcfs(t, st, "export", "ES2")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("export of restored dataset: %d %q", code, out)
	}
	if _, errOut, code := bcfs(t, st, "trash", "restore", "ES"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("second restore: code %d %s", code, errOut)
	}
	if _, errOut, code := bcfs(t, st, "trash", "empty", "--older-than", "7x"); code != 1 || !strings.Contains(errOut, "7d") {
		t.Fatalf("bad --older-than: code %d %s", code, errOut)
	}
}
