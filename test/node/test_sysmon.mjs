// sysmon in Node.js (@duckdb/node-api, pinned in the Makefile, installed in ./node_modules by
// `make configure`). Run by `make test-node`:
//   SYSMON_EXTENSION=<built file> SYSMON_REPOSITORY=<make repository's folder> node --test test/node/test_sysmon.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join, normalize, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';

const EXTENSION = resolve(process.env.SYSMON_EXTENSION ?? 'build/release/sysmon.duckdb_extension');
const REPOSITORY = resolve(process.env.SYSMON_REPOSITORY ?? 'build/repository');

const text = (s) => `'${s.replaceAll("'", "''")}'`;

/** A temporary folder, removed when the test ends. */
function tempDir(t, prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A connection to a new in-memory database whose extensions live in `extensionDirectory`. */
async function connect(t) {
  const instance = await DuckDBInstance.create(':memory:', {
    allow_unsigned_extensions: 'true',
    extension_directory: tempDir(t, 'sysmon-node-ext-'),
  });
  const con = await instance.connect();
  t.after(() => {
    con.closeSync();
    instance.closeSync();
  });
  return con;
}

async function loaded(t) {
  const con = await connect(t);
  await con.run(`LOAD ${text(EXTENSION)}`);
  return con;
}

async function rows(con, sql) {
  return (await con.runAndReadAll(sql)).getRowObjectsJson();
}

test('INSTALL sysmon FROM the repository, then LOAD by name', async (t) => {
  const con = await connect(t);
  await con.run(`INSTALL sysmon FROM ${text(REPOSITORY)}`);
  await con.run('LOAD sysmon');
  const [ext] = await rows(con, "SELECT loaded, installed_from FROM duckdb_extensions() WHERE extension_name = 'sysmon'");
  assert.deepEqual(ext, { loaded: true, installed_from: REPOSITORY });
  const [info] = await rows(con, 'SELECT count(*) AS n FROM system_info()');
  assert.equal(info.n, '1');
});

/** An http server on 127.0.0.1 serving REPOSITORY's files, closed when the test ends. */
async function serveRepository(t) {
  const asked = [];
  const server = createServer((req, res) => {
    asked.push(req.url);
    const file = join(REPOSITORY, normalize(decodeURIComponent(req.url)).replace(/^(\.\.[/\\])+/, ''));
    let ok = false;
    try {
      ok = statSync(file).isFile();
    } catch {}
    if (!ok) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => new Promise((done) => server.close(done)));
  return { url: `http://127.0.0.1:${server.address().port}`, asked };
}

test('INSTALL sysmon FROM the repository served over http', async (t) => {
  const { url, asked } = await serveRepository(t);
  const con = await connect(t);
  await con.run(`INSTALL sysmon FROM ${text(url)}`);
  await con.run('LOAD sysmon');
  const [v] = await rows(con, "SELECT library_version AS v, (SELECT platform FROM pragma_platform()) AS p FROM pragma_version()");
  assert.ok(asked.includes(`/${v.v}/${v.p}/sysmon.duckdb_extension.gz`), asked.join(' '));
  const [info] = await rows(con, 'SELECT count(*) AS n FROM system_info()');
  assert.equal(info.n, '1');
});

test('every live table answers with its declared columns', async (t) => {
  const con = await loaded(t);
  const functions = (await rows(con, `
    SELECT DISTINCT function_name FROM duckdb_functions()
    WHERE function_type = 'table' AND function_name LIKE 'system\\_%' ESCAPE '\\'
    ORDER BY function_name`)).map((r) => r.function_name);
  for (const f of ['system_info', 'system_metrics', 'system_cpus', 'system_processes']) {
    assert.ok(functions.includes(f), `${f} in ${functions}`);
  }
  for (const f of functions) {
    const described = (await rows(con, `DESCRIBE SELECT * FROM ${f}()`)).map((r) => r.column_name);
    const reader = await con.runAndReadAll(`SELECT * FROM ${f}()`);
    assert.deepEqual(reader.columnNames(), described, f);
    for (const row of reader.getRowObjectsJson()) {
      if ('hostname' in row) assert.equal(row.hostname, hostname(), f);
    }
  }
  for (const f of ['system_info', 'system_metrics', 'system_cpus', 'system_processes']) {
    const [r] = await rows(con, `SELECT count(*) AS n FROM ${f}()`);
    assert.ok(Number(r.n) >= 1, `${f} has rows`);
  }
});

test('the two things a Node user trips on: UBIGINT is a BigInt, TIMESTAMPTZ a Date cut to ms', async (t) => {
  const con = await loaded(t);
  const reader = await con.runAndReadAll('SELECT mem_total_bytes, ts, epoch_us(ts) AS ts_us FROM system_metrics()');
  const [js] = reader.getRowObjectsJS();
  assert.equal(typeof js.mem_total_bytes, 'bigint');
  assert.throws(() => JSON.stringify(js), TypeError);
  // The Date keeps milliseconds only; getRowObjectsJson() keeps the microseconds as text.
  assert.ok(js.ts instanceof Date);
  assert.equal(BigInt(js.ts.getTime()), js.ts_us / 1000n);
  const [json] = reader.getRowObjectsJson();
  assert.equal(BigInt(json.mem_total_bytes), js.mem_total_bytes);
  assert.equal(json.ts_us, String(js.ts_us));
  assert.match(json.ts, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/);
  const [cast] = await rows(con, 'SELECT mem_total_bytes::DOUBLE AS m FROM system_metrics()');
  assert.equal(typeof cast.m, 'number');
});

test('record for two seconds and read the Parquet back', async (t) => {
  const con = await loaded(t);
  const dir = tempDir(t, 'sysmon-node-rec-');
  const t0 = Date.now();
  const [started] = await rows(con, `
    SELECT id FROM record_metrics(${text(dir)}, INTERVAL '100 milliseconds',
                                  tables := ['metrics', 'cpus'], flush_interval := INTERVAL '200 milliseconds')`);
  // Two seconds of ticks (longer on a loaded machine), waited for with a deadline.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [r] = await rows(con, `SELECT samples_taken FROM recordings() WHERE id = ${started.id}`);
    if (Number(r.samples_taken) >= 20) break;
    assert.ok(Date.now() < deadline, `samples_taken ${r.samples_taken} after 60 s`);
    await sleep(50);
  }
  const [stopped] = await rows(con, `SELECT state, samples_taken FROM stop_recording(${started.id})`);
  const elapsed = (Date.now() - t0) / 1000;
  assert.equal(stopped.state, 'stopped');
  const samples = Number(stopped.samples_taken);
  // At most one per 100 ms slot of the time it ran (a late tick is not made up by a burst).
  assert.ok(samples >= 20 && samples <= elapsed / 0.1 + 3, `samples_taken ${samples} in ${elapsed} s`);
  const [metrics] = await rows(con, `
    SELECT count(*) AS n, count(DISTINCT host) AS hosts, any_value(host) AS host, min(cpu_busy_pct) >= 0 AS ok
    FROM read_parquet(${text(join(dir, 'metrics/**/*.parquet'))}, hive_partitioning := true)`);
  assert.deepEqual(metrics, { n: String(samples), hosts: '1', host: hostname(), ok: true });
  const [cpus] = await rows(con, `
    SELECT count(DISTINCT ts) AS samples FROM read_parquet(${text(join(dir, 'cpus/**/*.parquet'))})`);
  assert.equal(cpus.samples, String(samples));
});
