/**
 * Black-box proof of issue #6's "state that survives restarts" (spec §11): config snapshots
 * written after each change, restored on a start without --ts-config, none with --ncs, and a
 * corrupt newest snapshot skipped for the one before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeVersionedModels } from '../fixtures/archive-builder.js';
import { httpRequest, makeWorkspace, runTsserve, startBackground, type Workspace } from '../helpers/tsserve.js';

type Json = Record<string, unknown>;


function snapshotDir(ws: Workspace): string {
  return path.join(ws.dir, 'logs', 'config');
}

function snapshots(ws: Workspace): string[] {
  const dir = snapshotDir(ws);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort() : [];
}

/** The value of `key` in a Java properties file (enough of the syntax for what the server writes). */
function propertyOf(text: string, key: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${key}=`));
  if (line === undefined) return undefined;
  return line.slice(key.length + 1).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

function readSnapshot(ws: Workspace, name: string): { text: string; models: Json; modelCount: number } {
  const text = fs.readFileSync(path.join(snapshotDir(ws), name), 'utf8');
  const snap = JSON.parse(propertyOf(text, 'model_snapshot') ?? 'null') as { name: string; modelCount: number; models: Json };
  assert.equal(snap.name, name);
  return { text, models: snap.models, modelCount: snap.modelCount };
}

/** Escapes a value for a properties file (what Java's Properties#store does to the characters used here). */
function propertyValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/:/g, '\\:').replace(/=/g, '\\=');
}

function api(base: string) {
  return async (method: string, url: string): Promise<{ status: number; body: unknown }> => {
    const res = await httpRequest(`${base}${url}`, { method });
    return { status: res.status, body: res.text === '' ? undefined : res.json() };
  };
}

/** Describe of every version of `names`, without what legitimately differs between two processes. */
async function describeState(mgmt: string, names: string[]): Promise<Json[]> {
  const out: Json[] = [];
  for (const name of names) {
    const res = await httpRequest(`${mgmt}/models/${name}/all`);
    assert.equal(res.status, 200, res.text);
    for (const d of res.json<Json[]>()) {
      const { workers, loadedAtStartup: _ignored, ...rest } = d;
      out.push({ ...rest, workers: (workers as Json[]).map((w) => w.status) });
    }
  }
  return out.sort((a, b) => `${a.modelName}/${a.modelVersion}`.localeCompare(`${b.modelName}/${b.modelVersion}`));
}

async function waitFor<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function predict(base: string, url: string, input: unknown): Promise<number[]> {
  const res = await httpRequest(`${base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) });
  assert.equal(res.status, 200, res.text);
  return res.json<unknown[]>().flat(3) as number[];
}


test('snapshots follow every change, and a restart without --models restores models, versions, default and workers', async (t) => {
  const ws = makeWorkspace(t);
  await writeVersionedModels(ws.modelStore);
  const first = await startBackground(t, ws, ['--dt', '--enable-model-api']);
  const call = api(first.addresses.management);
  const startup = snapshots(ws);
  assert.equal(startup.length, 1);
  assert.match(startup[0], /^\d{17}-startup\.cfg$/);

  let seen = snapshots(ws).length;
  const expectNewSnapshot = (what: string): string => {
    const all = snapshots(ws);
    assert.equal(all.length, seen + 1, `one snapshot after ${what}: ${all.join(', ')}`);
    seen = all.length;
    const newest = all[all.length - 1];
    assert.match(newest, /^\d{17}-snapshot\.cfg$/, what);
    return newest;
  };

  assert.equal((await call('POST', '/models?url=add.mar&initial_workers=1')).status, 200);
  const afterRegister = readSnapshot(ws, expectNewSnapshot('register'));
  assert.deepEqual(afterRegister.models, {
    add: {
      '1.0': {
        defaultVersion: true, marName: 'add.mar', minWorkers: 1, maxWorkers: 1, batchSize: 1, maxBatchDelay: 100,
        responseTimeout: 120, startupTimeout: 120, runtimeType: 'python',
        ...pick((afterRegister.models.add as Json)['1.0'] as Json, 'modelGroupId'),
      },
    },
  });
  const lines = afterRegister.text.split('\n');
  assert.equal(lines[0], '#Saving snapshot');
  assert.match(lines[1], /^#\w{3} \w{3} \d\d \d\d:\d\d:\d\d \S+ \d{4}$/, 'Java Date#toString comment');
  assert.equal(propertyOf(afterRegister.text, 'enable_model_api'), 'true', 'CLI-set properties are kept');
  assert.equal(propertyOf(afterRegister.text, 'model_store'), ws.modelStore);

  assert.equal((await call('POST', '/models?url=m-1.mar&initial_workers=1&batch_size=3&max_batch_delay=9')).status, 200);
  expectNewSnapshot('register m 1.0');
  assert.equal((await call('POST', '/models?url=m-2.mar&initial_workers=1')).status, 200);
  expectNewSnapshot('register m 2.0');
  assert.equal((await call('PUT', '/models/add?min_worker=2&synchronous=true')).status, 200);
  expectNewSnapshot('scale');
  assert.equal((await call('PUT', '/models/m/2.0/set-default')).status, 200);
  const newest = readSnapshot(ws, expectNewSnapshot('set-default'));
  assert.equal(newest.modelCount, 3, 'model versions');
  assert.deepEqual(
    Object.fromEntries(Object.entries(newest.models).flatMap(([name, versions]) =>
      Object.entries(versions as Record<string, Json>).map(([v, r]) => [`${name}/${v}`, [r.defaultVersion, r.marName, r.minWorkers, r.maxWorkers, r.batchSize, r.maxBatchDelay]]))),
    { 'add/1.0': [true, 'add.mar', 2, 2, 1, 100], 'm/1.0': [false, 'm-1.mar', 1, 1, 3, 9], 'm/2.0': [true, 'm-2.mar', 1, 1, 1, 100] },
  );
  // A refused change writes nothing.
  assert.equal((await call('POST', '/models?url=add.mar&initial_workers=0')).status, 409);
  assert.equal(snapshots(ws).length, seen);

  const before = await describeState(first.addresses.management, ['add', 'm']);
  const list = (await call('GET', '/models')).body;
  assert.equal((await first.stop()).code, 0);
  assert.match(snapshots(ws)[snapshots(ws).length - 1], /-shutdown\.cfg$/);

  // Restart without --models, --ts-config, --enable-model-api or --dt: the newest snapshot is the
  // configuration (and ./config.properties is gone, so nothing else could supply it).
  fs.rmSync(ws.configFile);
  const second = await startBackground(t, ws, []);
  const mgmt = second.addresses.management;
  const after = await waitFor(
    'workers restored',
    () => describeState(mgmt, ['add', 'm']),
    (state) => JSON.stringify(state.map((d) => d.workers)) === JSON.stringify(before.map((d) => d.workers)),
  );
  assert.deepEqual(after, before, 'describe before = after');
  assert.deepEqual((await api(mgmt)('GET', '/models')).body, list);
  const [restored] = (await api(mgmt)('GET', '/models/add')).body as Json[];
  assert.equal(restored.loadedAtStartup, true);
  assert.equal(argmax(await predict(second.addresses.inference, '/predictions/m', [canonicalInput(784)])), 1, 'default version m/2.0 (mlp)');
  assert.deepEqual(await predict(second.addresses.inference, '/predictions/m/1.0', [[1, 2, 3, 4]]), [2, 3, 4, 5]);
  const count = snapshots(ws).length;
  assert.equal((await api(mgmt)('DELETE', '/models/add')).status, 200, 'enable_model_api came back from the snapshot');
  const afterDelete = snapshots(ws);
  assert.equal(afterDelete.length, count + 1, 'unregister writes a snapshot');
  assert.deepEqual(Object.keys(readSnapshot(ws, afterDelete[afterDelete.length - 1]).models), ['m']);
  assert.equal((await second.stop()).code, 0);
});

test('--ncs writes no snapshot and ignores existing ones', async (t) => {
  const ws = makeWorkspace(t);
  await writeVersionedModels(ws.modelStore);
  // A snapshot that would register "add" if it were read.
  fs.mkdirSync(snapshotDir(ws), { recursive: true });
  const stale = '20200101000000000-snapshot.cfg';
  fs.writeFileSync(path.join(snapshotDir(ws), stale), snapshotText(ws, stale, { add: { '1.0': torchServeRecord('add.mar', true) } }));

  const server = await startBackground(t, ws, ['--ncs', '--dt', '--enable-model-api']);
  const call = api(server.addresses.management);
  assert.deepEqual((await call('GET', '/models')).body, { models: [] }, 'the existing snapshot was ignored');
  assert.equal((await call('POST', '/models?url=add.mar&initial_workers=1')).status, 200);
  assert.equal((await call('PUT', '/models/add?min_worker=2&synchronous=true')).status, 200);
  assert.equal((await call('POST', '/models?url=m-1.mar&initial_workers=0')).status, 200);
  assert.equal((await call('DELETE', '/models/m')).status, 200);
  assert.equal((await server.stop()).code, 0);
  assert.deepEqual(snapshots(ws), [stale], 'no startup, snapshot or shutdown file was written');
});

test('corrupt or empty newest snapshots fall back to the previous one with a warning; a missing archive stops the start', async (t) => {
  const ws = makeWorkspace(t);
  await writeVersionedModels(ws.modelStore);
  fs.mkdirSync(snapshotDir(ws), { recursive: true });
  // The previous snapshot, in the shape TorchServe itself writes (spec §11).
  const good = '20240101000000000-snapshot.cfg';
  fs.writeFileSync(
    path.join(snapshotDir(ws), good),
    snapshotText(ws, good, { add: { '1.0': { ...torchServeRecord('add.mar', true), minWorkers: 2, maxWorkers: 2 } }, m: { '1.0': torchServeRecord('m-1.mar', false), '2.0': torchServeRecord('m-2.mar', true) } }),
  );
  // The newest one, cut off mid-way.
  const corrupt = '20250101000000000-shutdown.cfg';
  const full = snapshotText(ws, corrupt, { add: { '1.0': torchServeRecord('add.mar', true) } });
  fs.writeFileSync(path.join(snapshotDir(ws), corrupt), full.slice(0, full.indexOf('"models"') + 20));
  // Newer still: an empty file (a copy or a disk that gave up); it must not become the configuration.
  const empty = '20250102000000000-snapshot.cfg';
  fs.writeFileSync(path.join(snapshotDir(ws), empty), '');
  fs.rmSync(ws.configFile);

  const server = await startBackground(t, ws, []);
  assert.ok(server.stderr.includes(`Warning: snapshot ${path.join(snapshotDir(ws), empty)} is unreadable (no model_snapshot property); trying the previous one`), server.stderr);
  assert.ok(server.stderr.includes(`Warning: snapshot ${path.join(snapshotDir(ws), corrupt)} is unreadable (`), server.stderr);
  const mgmt = server.addresses.management;
  const state = await waitFor(
    'restored from the previous snapshot',
    () => describeState(mgmt, ['add', 'm']),
    (s) => JSON.stringify(s.map((d) => d.workers)) === JSON.stringify([['READY', 'READY'], ['READY'], ['READY']]),
  );
  assert.deepEqual(state.map((d) => [d.modelName, d.modelVersion, d.minWorkers, d.maxWorkers, d.modelUrl]), [
    ['add', '1.0', 2, 2, 'add.mar'], ['m', '1.0', 1, 1, 'm-1.mar'], ['m', '2.0', 1, 1, 'm-2.mar'],
  ]);
  assert.equal(((await api(mgmt)('GET', '/models/m')).body as Json[])[0].modelVersion, '2.0', 'defaultVersion restored');
  assert.equal((await api(mgmt)('DELETE', '/models/add')).status, 405, 'the model API stays off: the snapshot did not enable it');
  assert.equal((await server.stop()).code, 0);
  assert.match(fs.readFileSync(path.join(ws.dir, 'logs', 'ts_log.log'), 'utf8'), /is unreadable .*trying the previous one/);

  // Every marName must still be in the store (spec §11), else the start fails.
  fs.rmSync(path.join(ws.modelStore, 'm-1.mar'));
  fs.rmSync(path.join(snapshotDir(ws), corrupt));
  fs.rmSync(path.join(snapshotDir(ws), empty));
  for (const name of snapshots(ws).filter((n) => n !== good)) fs.rmSync(path.join(snapshotDir(ws), name));
  const refused = await runTsserve(ws, ['--start', '--model-store', ws.modelStore]);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout + refused.stderr, /Model archive file for model :m, version :1\.0 not found in model store/);
});

// ---- helpers for hand-written snapshots -----------------------------------------------------------

function torchServeRecord(marName: string, defaultVersion: boolean): Json {
  return { defaultVersion, marName, minWorkers: 1, maxWorkers: 1, batchSize: 1, maxBatchDelay: 100, responseTimeout: 120, startupTimeout: 120, runtimeType: 'python' };
}

/** A snapshot file as TorchServe writes it: a comment header, sorted properties, model_snapshot as JSON. */
function snapshotText(ws: Workspace, name: string, models: Record<string, Record<string, Json>>): string {
  const modelCount = Object.values(models).reduce((n, v) => n + Object.keys(v).length, 0);
  const snapshot = JSON.stringify({ name, modelCount, created: 1_700_000_000_000, models }, null, 2);
  const props: Record<string, string> = {
    inference_address: 'http://127.0.0.1:0',
    management_address: 'http://127.0.0.1:0',
    metrics_address: 'http://127.0.0.1:0',
    disable_token_authorization: 'true',
    model_store: ws.modelStore,
    model_snapshot: snapshot,
    number_of_netty_threads: '32',
    tsConfigFile: 'config.properties',
  };
  const body = Object.keys(props).sort().map((k) => `${k}=${propertyValue(props[k])}`).join('\n');
  return `#Saving snapshot\n#Mon Jan 01 00:00:00 UTC 2024\n${body}\n`;
}

function pick(o: Json, key: string): Json {
  return key in o ? { [key]: o[key] } : {};
}

function canonicalInput(n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i % 255) / 255 - 0.5);
}

function argmax(values: number[]): number {
  return values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
}
