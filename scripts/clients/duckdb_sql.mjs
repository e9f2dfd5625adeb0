// Runs SQL statements with DuckDB, one per argument, in one in-memory
// database; prints nothing on success, the error (exit 1) on failure.
// Usage: node duckdb_sql.mjs "COPY (...) TO '/mnt/ES.parquet'" ...
import { DuckDBInstance } from '@duckdb/node-api';

const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
for (const sql of process.argv.slice(2)) {
  try {
    await conn.run(sql);
  } catch (e) {
    console.error(`${sql}: ${e.message}`);
    process.exit(1);
  }
}
