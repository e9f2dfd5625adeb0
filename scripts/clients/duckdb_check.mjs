// Reads one Parquet file with DuckDB and prints, as JSON, the figures the
// fusefs tests compare with the store: row count, min/max timestamp (ns since
// the epoch) and the sums of the price and volume columns.
// Usage: node duckdb_check.mjs FILE.parquet
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
if (!file) {
  console.error('usage: node duckdb_check.mjs FILE.parquet');
  process.exit(2);
}
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
const lit = "'" + file.replaceAll("'", "''") + "'";
const reader = await conn.runAndReadAll(`
  SELECT count(*)::VARCHAR AS rows,
         epoch_ns(min(timestamp))::VARCHAR AS min_ts,
         epoch_ns(max(timestamp))::VARCHAR AS max_ts,
         sum(open)::DOUBLE AS sum_open,
         sum(high)::DOUBLE AS sum_high,
         sum(low)::DOUBLE AS sum_low,
         sum(close)::DOUBLE AS sum_close,
         sum(volume)::DOUBLE AS sum_volume
  FROM read_parquet(${lit})`);
const row = reader.getRowObjectsJson()[0];
console.log(JSON.stringify(row));
