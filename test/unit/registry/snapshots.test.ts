/**
 * Config snapshots (spec §11): naming, content, atomic writes, when they are written, and a restart
 * through the real config loader restoring models, versions, defaults and worker counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NO_PRINCIPAL } from '../../../src/auth/principal.js';
import { loadConfig, makeConfig, SNAPSHOT_FILE_PATTERN } from '../../../src/config/load.js';
import { parseProperties, toPropertyMap } from '../../../src/config/properties.js';
import { silentLogger } from '../../../src/logger.js';
import { SnapshotRestoreError } from '../../../src/registry/registry.js';
import { formatSnapshot, javaDateString, snapshotFileName, Snapshots } from '../../../src/store/snapshots.js';
import { setup, type FakeRuntime } from './fakes.js';

async function tempDir(t: { after(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tsserve-snap-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function readSnapshot(text: string): { props: Map<string, string>; snapshot: Record<string, any> } {
  const props = new Map([...toPropertyMap(parseProperties(text))].map(([k, e]) => [k, e.value]));
  return { props, snapshot: JSON.parse(props.get('model_snapshot') ?? 'null') };
}

test('file names: <yyyyMMddHHmmssSSS>-<type>.cfg in local time', () => {
  const d = new Date(2020, 2, 29, 4, 53, 34, 828);
  assert.equal(snapshotFileName(d, 'startup'), '20200329045334828-startup.cfg');
  assert.equal(snapshotFileName(new Date(2021, 0, 2, 3, 4, 5, 6), 'shutdown'), '20210102030405006-shutdown.cfg');
  assert.match(snapshotFileName(new Date(), 'snapshot'), SNAPSHOT_FILE_PATTERN);
  assert.match(javaDateString(d), /^Sun Mar 29 04:53:34 \S+ 2020$/);
});

test('content: TorchServe\'s header, every property, model_snapshot as pretty JSON', () => {
  const date = new Date(2020, 2, 29, 4, 53, 34, 828);
  const models = {
    noop: {
      '1.11': {
        defaultVersion: true, marName: 'noop.mar', minWorkers: 4, maxWorkers: 4, batchSize: 1, maxBatchDelay: 100,
        responseTimeout: 120, startupTimeout: 120, runtimeType: 'python',
      },
    },
  };
  const text = formatSnapshot(
    { inference_address: 'http://127.0.0.1:8443', model_store: '/m', model_snapshot: 'stale' },
    { name: '20200329045334828-startup.cfg', modelCount: 1, created: date.getTime(), models },
    date,
  );
  const lines = text.split('\n');
  assert.equal(lines[0], '#Saving snapshot');
  assert.equal(lines[1], `#${javaDateString(date)}`);
  assert.ok(lines.includes('inference_address=http\\://127.0.0.1\\:8443'), text);
  assert.match(text, /^model_snapshot=\{\\n  "name"\\: "20200329045334828-startup.cfg",\\n  "modelCount"\\: 1,/m);
  const { props, snapshot } = readSnapshot(text);
  assert.equal(props.get('model_store'), '/m');
  assert.deepEqual(snapshot, { name: '20200329045334828-startup.cfg', modelCount: 1, created: date.getTime(), models });
});

test('writes are atomic, serialised, and never reuse a name', async (t) => {
  const dir = await tempDir(t);
  const fixed = new Date(2024, 4, 6, 7, 8, 9, 10);
  const snaps = new Snapshots({ dir: path.join(dir, 'config'), properties: { a: '1' }, log: silentLogger(), now: () => fixed });
  const written = await Promise.all([snaps.write('startup', {}), snaps.write('snapshot', {}), snaps.write('snapshot', {})]);
  assert.deepEqual(written.map((p) => path.basename(p!)), [
    '20240506070809010-startup.cfg',
    '20240506070809011-snapshot.cfg',
    '20240506070809012-snapshot.cfg',
  ]);
  assert.deepEqual((await readdir(path.join(dir, 'config'))).sort(), written.map((p) => path.basename(p!)), 'no temp files left');
  // A file already there (e.g. from another process) is not overwritten.
  const other = new Snapshots({ dir: path.join(dir, 'config'), properties: {}, log: silentLogger(), now: () => fixed });
  const p = await other.write('startup', {});
  assert.equal(path.basename(p!), '20240506070809011-startup.cfg');
  assert.equal(readSnapshot(await readFile(written[0]!, 'utf8')).snapshot.name, '20240506070809010-startup.cfg');
  // An unwritable directory is logged, not thrown.
  await writeFile(path.join(dir, 'file'), '');
  const broken = new Snapshots({ dir: path.join(dir, 'file', 'config'), properties: {}, log: silentLogger() });
  assert.equal(await broken.write('snapshot', {}), undefined);
});

test('the registry writes a snapshot after register, scale, set-default and unregister', async (t) => {
  const h = await setup(t, { enable_model_api: 'true' });
  await h.mar('add1.mar', { modelVersion: '1.0' });
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.registry.register({ url: 'add1.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  assert.equal((await h.snapshotFiles()).length, 1);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  await h.registry.scale('add', undefined, 2, 3, false);
  await h.registry.setDefault('add', '2.0');
  await h.registry.unregister('add', '1.0');
  const files = await h.snapshotFiles();
  assert.equal(files.length, 5);
  assert.ok(files.every((f) => /-snapshot\.cfg$/.test(f)));
  const { snapshot } = readSnapshot(await readFile(path.join(h.dir, 'logs', 'config', files.at(-2)!), 'utf8'));
  assert.equal(snapshot.name, files.at(-2));
  assert.equal(snapshot.modelCount, 2);
  assert.deepEqual(snapshot.models.add['1.0'], {
    defaultVersion: false, marName: 'add1.mar', minWorkers: 2, maxWorkers: 3, batchSize: 1, maxBatchDelay: 100,
    responseTimeout: 120, startupTimeout: 120, runtimeType: 'python',
  });
  assert.equal(snapshot.models.add['2.0'].defaultVersion, true);
  const last = readSnapshot(await readFile(path.join(h.dir, 'logs', 'config', files.at(-1)!), 'utf8')).snapshot;
  assert.deepEqual(Object.keys(last.models.add), ['2.0']);

  const named = await h.registry.writeSnapshot('shutdown');
  assert.match(path.basename(named!), /-shutdown\.cfg$/);
});

test('--ncs: no snapshot is ever written', async (t) => {
  const h = await setup(t);
  const config = makeConfig({ model_store: h.store }, { cwd: h.dir, cli: { noConfigSnapshots: true } });
  const registry = h.newRegistry(config);
  await h.mar('add.mar');
  await registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  assert.equal(await registry.writeSnapshot('startup'), undefined);
  assert.deepEqual(await h.snapshotFiles(), []);
});

test('restart: the newest snapshot restores models, versions, defaults and worker counts', async (t) => {
  const h = await setup(t, { enable_model_api: 'true' });
  await h.mar('add1.mar', { modelVersion: '1.0' });
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.mar('other.mar', { modelName: 'other' });
  await h.registry.register({ url: 'add1.mar', initialWorkers: 1, batchSize: 4, maxBatchDelayMs: 7, responseTimeoutSec: 33 }, NO_PRINCIPAL);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  await h.registry.register({ url: 'other.mar', initialWorkers: 1 }, NO_PRINCIPAL);
  await h.registry.scale('add', '2.0', 2, 3, false);
  await h.registry.setDefault('add', '2.0');
  await h.registry.writeSnapshot('shutdown');
  await h.registry.close();

  // The server's own loader finds the newest snapshot in <cwd>/logs/config.
  const { config } = loadConfig({ cli: { modelStore: h.store }, env: {}, cwd: h.dir });
  assert.ok(config.modelSnapshot);
  assert.equal(config.enableModelApi, true, 'snapshot properties are the configuration');
  const restarted = h.newRegistry(config);
  const result = await restarted.loadStartupModels();
  assert.deepEqual(result.failed, []);
  assert.deepEqual(restarted.names(), ['add', 'other']);
  assert.equal(restarted.get('add').version, '2.0', 'default version restored');
  const v1 = restarted.get('add', '1.0');
  assert.deepEqual([v1.spec.batchSize, v1.spec.maxBatchDelayMs, v1.spec.responseTimeoutSec, v1.spec.minWorkers], [4, 7, 33, 1]);
  const v2 = restarted.get('add', '2.0');
  assert.deepEqual([v2.spec.minWorkers, v2.spec.maxWorkers], [2, 3]);
  assert.deepEqual((v2.runtime as FakeRuntime).scaleCalls, [{ min: 2, max: 3, wait: false }]);
  assert.equal(v2.loadedAtStartup, true);
  assert.equal(v2.url, 'add2.mar');
});

test('restore: a missing archive stops the start; an empty snapshot loads nothing', async (t) => {
  const h = await setup(t);
  const snapshot = JSON.stringify({
    name: 'x', modelCount: 1, created: 1,
    models: { gone: { '1.0': { defaultVersion: true, marName: 'gone.mar', minWorkers: 1, maxWorkers: 1, batchSize: 1, maxBatchDelay: 100, responseTimeout: 120, startupTimeout: 120, runtimeType: 'python' } } },
  });
  const registry = h.newRegistry(makeConfig({ model_store: h.store, model_snapshot: snapshot, load_models: 'all' }, { cwd: h.dir }));
  await assert.rejects(registry.loadStartupModels(), (err: unknown) => {
    assert.ok(err instanceof SnapshotRestoreError);
    assert.equal(err.message, 'Model archive file for model :gone, version :1.0 not found in model store');
    return true;
  });

  await h.mar('add.mar');
  const empty = h.newRegistry(makeConfig({ model_store: h.store, model_snapshot: JSON.stringify({ name: 'x', modelCount: 0, created: 1, models: {} }), load_models: 'all' }, { cwd: h.dir }));
  assert.deepEqual(await empty.loadStartupModels(), { loaded: [], failed: [] });
  assert.deepEqual(empty.names(), [], 'load_models is ignored when a snapshot is restored');
});
