// Non-libpq PostgreSQL client for tests/e2e/test_pgsql_e2e.py: porsager/postgres (the npm
// `postgres` package) limited to ONE connection (max: 1), so the 50 queries of the
// Promise.all below are pipelined on it (written with write()/writev(), never sendto()).
//
//   node pg_client.js URL APP_NAME
// Prints {"pid": N} and waits for a line "go" on stdin; then runs the workload, prints its
// tally as one JSON line and keeps the connection open until the line "quit" (so the test can
// compare the connection gauge with pg_stat_activity), then closes it and exits 0.
// Tally: calls {sql: completed}, errors {sql: failed}, sqlstates {code: n}, transactions n.
'use strict';
const readline = require('readline');
const postgres = require('postgres');

const [url, appName] = process.argv.slice(2);
const tally = { calls: {}, errors: {}, sqlstates: {}, transactions: 0 };
const inc = (obj, k, n = 1) => { obj[k] = (obj[k] || 0) + n; };

async function run(sql, text, params, prepare) {
  try {
    const rows = await sql.unsafe(text, params, { prepare });
    inc(tally.calls, text);
    return rows;
  } catch (e) {
    if (!e.code) throw e;  // not a server error: a bug in the test
    inc(tally.errors, text);
    inc(tally.sqlstates, e.code);
    return null;
  }
}

async function workload(sql) {
  const jobs = [];
  // 50 concurrent statements on one connection: named (prepare: true) and unnamed statements.
  for (let i = 0; i < 20; i++) {
    jobs.push(run(sql, 'SELECT id, name FROM e2e_pg.items WHERE id = $1', [i + 1], true));
  }
  for (let i = 0; i < 15; i++) {
    jobs.push(run(sql, 'SELECT count(*) FROM e2e_pg.log WHERE item_id < $1', [i], false));
  }
  for (let i = 0; i < 10; i++) {
    jobs.push(run(sql, 'INSERT INTO e2e_pg.log (item_id, note) VALUES ($1, $2)', [i, 'node'], true));
  }
  for (let i = 0; i < 4; i++) {
    jobs.push(run(sql, 'UPDATE e2e_pg.items SET qty = qty + 1 WHERE id = $1', [60 + i], false));
  }
  // ... and one error in the middle of the pipeline (22012); the others still complete.
  jobs.push(run(sql, 'SELECT 10 / $1::int AS boom', [0], true));
  if (jobs.length !== 50) throw new Error(`plan has ${jobs.length} queries, not 50`);
  await Promise.all(jobs);

  // A unique violation (23505), a simple-protocol query, a transaction.
  await run(sql, 'INSERT INTO e2e_pg.items (id, name) VALUES ($1, $2)', [1, 'node-dup'], true);
  await run(sql, 'SELECT 42 AS answer', [], false);
  await sql.begin(async (tx) => {
    await run(tx, 'UPDATE e2e_pg.items SET qty = qty + $1 WHERE id = $2', [1, 70], true);
    await run(tx, 'SELECT qty FROM e2e_pg.items WHERE id = $1', [70], true);
  });
  inc(tally.calls, 'BEGIN');
  inc(tally.calls, 'COMMIT');
  tally.transactions += 1;
}

async function main() {
  process.stdout.write(JSON.stringify({ pid: process.pid }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  const lines = rl[Symbol.asyncIterator]();
  const next = async () => { const r = await lines.next(); return r.done ? 'quit' : r.value.trim(); };
  if ((await next()) !== 'go') return 0;
  const sql = postgres(url, {
    max: 1,                 // one connection: concurrent queries pipeline on it
    fetch_types: false,     // no catalog query at connect: every statement is the test's
    idle_timeout: 0,
    connection: { application_name: appName },
    onnotice: () => {},
  });
  await workload(sql);
  process.stdout.write(JSON.stringify(tally) + '\n');
  while ((await next()) !== 'quit') { /* wait */ }
  await sql.end({ timeout: 5 });
  rl.close();
  return 0;
}

main().then((rc) => process.exit(rc), (e) => {
  process.stderr.write(`pg_client.js: ${e && e.stack || e}\n`);
  process.exit(1);
});
