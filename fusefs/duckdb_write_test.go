package fusefs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestDuckDBCopyOntoDataset: DuckDB's COPY ... TO an existing dataset's
// NAME.parquet or NAME.csv (default settings: it writes tmp_NAME and
// renames it over NAME) merges into the dataset and leaves no tmp_ dataset.
func TestDuckDBCopyOntoDataset(t *testing.T) {
	dir := clientsDir(t)
	needClient(t, filepath.Join(dir, "node_modules", "@duckdb", "node-api"), "npm ci --prefix scripts/clients")
	node := need(t, "node", "apt-get install -y nodejs")
	src := writeFile(t, t.TempDir(), "in.csv", esChanges(t))
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) {
			m := esMount(t)
			dst := filepath.Join(m.mnt, "ES."+format)
			run(t, node, filepath.Join(dir, "duckdb_sql.mjs"), fmt.Sprintf(
				"COPY (SELECT * FROM read_csv(%s, timestampformat='%%Y-%%m-%%d %%H:%%M:%%S')) TO %s (FORMAT %s)",
				sqlQuote(src), sqlQuote(dst), format))
			checkMerged(t, m)
			list, err := m.st.List()
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 {
				t.Fatalf("datasets after COPY: %+v, want ES alone", list)
			}
		})
	}
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
