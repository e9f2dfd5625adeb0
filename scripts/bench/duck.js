// duck.js runs SQL statements in one in-memory DuckDB instance and exits.
// bench.sh starts one process per measured step so that /usr/bin/time reports
// DuckDB's own peak RSS for that step. Threads are left at DuckDB's default
// (all cores): that is the fair peer for bcfs.
//
// Usage: node duck.js 'SQL' ['SQL' ...]
// Each argument may hold several statements separated by ';'. Rows returned by
// the last statement are printed as tab-separated lines (handy for checks).
'use strict';

const { DuckDBInstance } = require('@duckdb/node-api');

async function main(statements) {
  if (statements.length === 0) {
    throw new Error('usage: node duck.js SQL [SQL ...]');
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    let last = null;
    for (const sql of statements) {
      last = await conn.runAndReadAll(sql);
    }
    if (last !== null) {
      for (const row of last.getRowsJS()) {
        process.stdout.write(row.map(String).join('\t') + '\n');
      }
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`duck.js: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
