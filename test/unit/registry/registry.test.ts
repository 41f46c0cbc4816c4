import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NO_PRINCIPAL } from '../../../src/auth/principal.js';
import { makeConfig } from '../../../src/config/load.js';
import { isTsServeError, type TsServeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import { NOOP_METRICS } from '../../../src/metrics/types.js';
import { Registry } from '../../../src/registry/registry.js';
import { manifestJson, sharedModelBytes, writeModelDir } from '../../fixtures/archive-builder.js';
import { ADMIN, BOB, FakeEngine, FakeGroups, setup, within } from './fakes.js';

/** Asserts that `p` rejects with a TsServeError of this status and message. */
async function rejects(p: Promise<unknown>, status: number, message: string | RegExp, type?: string): Promise<TsServeError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(isTsServeError(caught), `expected a TsServeError, got ${String(caught)}`);
  assert.equal(caught.status, status, caught.message);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  if (type) assert.equal(caught.type, type);
  return caught;
}

test('synchronous registration (the default) waits for the workers and answers 200', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  const r = await h.registry.register({ url: 'add.mar' }, NO_PRINCIPAL);
  assert.deepEqual(r, { name: 'add', version: '1.0', minWorkers: 1, accepted: false, message: 'Model "add" Version: 1.0 registered with 1 initial workers' });
  const [runtime] = h.engine.created;
  assert.deepEqual(runtime!.scaleCalls, [{ min: 1, max: 1, wait: true }]);
  const entry = h.registry.get('add');
  assert.equal(entry.url, 'add.mar');
  assert.equal(entry.loadedAtStartup, false);
  assert.match(entry.sha256, /^[0-9a-f]{64}$/);
  assert.equal(entry.spec.handler, 'tensor');
  assert.ok(h.registry.isDefault(entry));
  assert.deepEqual(h.registry.names(), ['add']);
});

test('initial_workers=0 registers without workers (200 and TorchServe\'s hint)', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  const r = await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  assert.equal(r.accepted, false);
  assert.equal(r.message, 'Model "add" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model.');
  assert.deepEqual(h.engine.created[0]!.scaleCalls, []);
});

test('asynchronous registration answers at once (202 Processing worker updates...)', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  const r = await h.registry.register({ url: 'add.mar', initialWorkers: 2, synchronous: false }, NO_PRINCIPAL);
  assert.equal(r.accepted, true);
  assert.equal(r.message, 'Processing worker updates...');
  assert.deepEqual(h.engine.created[0]!.scaleCalls, [{ min: 2, max: 2, wait: false }]);
});

test('workers that fail to start undo the registration (500) and leave nothing behind', async (t) => {
  for (const mode of ['incomplete', 'reject'] as const) {
    const groups = new FakeGroups();
    const h = await setup(t, {}, { groups });
    h.engine.failWorkersOf.add('add');
    h.engine.failMode = mode;
    await h.mar('add.mar');
    await rejects(h.registry.register({ url: 'add.mar', initialWorkers: 1 }, NO_PRINCIPAL), 500, 'Failed to start workers for model add version: 1.0', 'InternalServerException');
    assert.deepEqual(h.registry.names(), []);
    assert.equal(h.engine.live().length, 0);
    assert.deepEqual(await h.extracted(), []);
    assert.equal(groups.reservations.length, 1);
    assert.equal(groups.reservations[0]!.released, true);
    assert.equal(groups.reservations[0]!.committed, false);
    assert.deepEqual(await h.snapshotFiles(), []);
  }
});

test('an engine that cannot create the runtime leaves nothing behind', async (t) => {
  const h = await setup(t);
  h.engine.createError = new Error('ort says no');
  await h.mar('add.mar');
  await assert.rejects(h.registry.register({ url: 'add.mar' }, NO_PRINCIPAL), /ort says no/);
  assert.deepEqual(h.registry.names(), []);
  assert.deepEqual(await h.extracted(), []);
});

test('the same name and version twice is 409; the first stays untouched', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  await h.mar('copy.mar');
  await h.registry.register({ url: 'add.mar' }, NO_PRINCIPAL);
  await rejects(h.registry.register({ url: 'copy.mar' }, NO_PRINCIPAL), 409, 'Model version 1.0 is already registered for model add', 'ConflictStatusException');
  assert.equal(h.registry.get('add').url, 'add.mar');
  assert.equal(h.engine.live().length, 1);
  assert.equal((await h.extracted()).length, 1);
});

test('two concurrent registrations of one name and version: one wins, the other is 409, no leftovers', async (t) => {
  const h = await setup(t);
  await h.mar('a.mar');
  await h.mar('b.mar');
  let open!: () => void;
  h.engine.scaleGate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const first = h.registry.register({ url: 'a.mar' }, NO_PRINCIPAL);
  const second = h.registry.register({ url: 'b.mar' }, NO_PRINCIPAL);
  setTimeout(open, 50);
  const results = await within(Promise.allSettled([first, second]));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(ok.length, 1);
  assert.equal(failed.length, 1);
  assert.equal((failed[0]!.reason as TsServeError).status, 409);
  assert.equal(h.engine.live().length, 1);
  assert.equal(h.engine.created.length, 1, 'the loser never reached the engine');
  assert.equal((await h.extracted()).length, 1);
  assert.equal(h.registry.versions('add').length, 1);
});

test('model_name overrides the manifest name; no name at all is 400 on the API', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  await h.registry.register({ url: 'add.mar', modelName: 'renamed', initialWorkers: 0 }, NO_PRINCIPAL);
  assert.deepEqual(h.registry.names(), ['renamed']);
  await h.mar('noname.mar', { modelName: undefined });
  await rejects(h.registry.register({ url: 'noname.mar' }, NO_PRINCIPAL), 400, 'Model name is not defined.', 'InvalidModelException');
  assert.deepEqual(await h.extracted().then((d) => d.length), 1);
});

test('location errors have TorchServe\'s 404 messages', async (t) => {
  const h = await setup(t);
  const noStore = new Registry({ config: makeConfig({}, { cwd: h.dir }), log: silentLogger(), engine: new FakeEngine(), metrics: NOOP_METRICS, snapshots: false });
  t.after(() => noStore.close());
  await rejects(noStore.register({ url: 'add.mar' }, NO_PRINCIPAL), 404, 'Model store has not been configured.', 'ModelNotFoundException');
  await rejects(h.registry.register({ url: '' }, NO_PRINCIPAL), 404, 'empty url');
  await rejects(h.registry.register({ url: '../add.mar' }, NO_PRINCIPAL), 404, 'Relative path is not allowed in url: ../add.mar');
  await rejects(h.registry.register({ url: 'missing.mar' }, NO_PRINCIPAL), 404, 'Model not found at: missing.mar');
});

test('nothing outside the model store can be registered: absolute paths and symlinks are refused', async (t) => {
  const h = await setup(t);
  const outside = path.join(h.dir, 'outside');
  await mkdir(outside);
  const { buildMar } = await import('../../fixtures/archive-builder.js');
  await writeFile(path.join(outside, 'evil.mar'), await buildMar());
  await rejects(h.registry.register({ url: path.join(outside, 'evil.mar') }, NO_PRINCIPAL), 404, `Model not found at: ${path.join(outside, 'evil.mar')}`);
  await symlink(path.join(outside, 'evil.mar'), path.join(h.store, 'link.mar'));
  await rejects(h.registry.register({ url: 'link.mar' }, NO_PRINCIPAL), 404, 'Model not found at: link.mar');
  await symlink(outside, path.join(h.store, 'linkdir'));
  await rejects(h.registry.register({ url: 'linkdir/evil.mar' }, NO_PRINCIPAL), 404, 'Model not found at: linkdir/evil.mar');
  assert.deepEqual(h.registry.names(), []);
  // An absolute path inside the store is fine.
  await h.mar('inside.mar');
  await h.registry.register({ url: path.join(h.store, 'inside.mar'), initialWorkers: 0 }, NO_PRINCIPAL);
  assert.deepEqual(h.registry.names(), ['add']);
});

test('a model directory (no-archive format) registers too', async (t) => {
  const h = await setup(t);
  await writeModelDir(path.join(h.store, 'adddir'), { 'MAR-INF/MANIFEST.json': manifestJson({ modelName: 'adddir' }), 'add.onnx': await sharedModelBytes('add.onnx') });
  await h.registry.register({ url: 'adddir', initialWorkers: 0 }, NO_PRINCIPAL);
  assert.equal(h.registry.get('adddir').url, 'adddir');
});

test('versions: the first is default; set-default; describe all; deleting the default with others is 403', async (t) => {
  const h = await setup(t, { enable_model_api: 'true' });
  await h.mar('add1.mar', { modelVersion: '1.0' });
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.registry.register({ url: 'add1.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  assert.equal(h.registry.get('add').version, '1.0');
  assert.equal(h.registry.get('add', '2.0').version, '2.0');
  assert.deepEqual((await h.registry.describe('add', 'all')).map((d) => d.modelVersion), ['1.0', '2.0']);
  assert.deepEqual((await h.registry.describe('add', '2.0')).map((d) => d.modelVersion), ['2.0']);
  assert.deepEqual(await h.registry.list(), { models: [{ modelName: 'add', modelUrl: 'add1.mar' }] });

  await rejects(h.registry.unregister('add'), 403, 'Cannot remove default version for model add', 'InvalidModelVersionException');
  await rejects(h.registry.unregister('add', '1.0'), 403, 'Cannot remove default version for model add');
  await rejects(h.registry.setDefault('add', '3.0'), 404, 'Model version 3.0 does not exist for model add', 'ModelVersionNotFoundException');
  await rejects(h.registry.setDefault('nope', '1.0'), 404, 'Model not found: nope', 'ModelNotFoundException');

  const s = await h.registry.setDefault('add', '2.0');
  assert.equal(s.message, 'Default version successfully updated for model "add" to "2.0"');
  assert.equal(h.registry.get('add').version, '2.0');
  assert.deepEqual(await h.registry.list(), { models: [{ modelName: 'add', modelUrl: 'add2.mar' }] });

  const removed = h.engine.created[0]!;
  const u = await h.registry.unregister('add', '1.0');
  assert.equal(u.message, 'Model "add" unregistered');
  assert.equal(removed.closedWith, h.config.unregisterModelTimeoutSec * 1000);
  await rejects(Promise.resolve().then(() => h.registry.get('add', '1.0')), 404, 'Model version: 1.0 does not exist for model: add');
  assert.equal((await h.extracted()).length, 1);
  // The last version: the name disappears.
  await h.registry.unregister('add');
  assert.deepEqual(h.registry.names(), []);
  assert.deepEqual(await h.extracted(), []);
  await rejects(h.registry.unregister('add'), 404, 'Model not found: add');
});

test('describe: unknown model and version are TorchServe\'s 404s', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  await rejects(h.registry.describe('nope', undefined), 404, 'Model not found: nope');
  await rejects(h.registry.describe('add', '9.9'), 404, 'Model version: 9.9 does not exist for model: add');
  await rejects(h.registry.unregister('add', '9.9'), 404, 'Model version: 9.9 does not exist for model: add');
  await rejects(h.registry.scale('add', '9.9', 1, 1, false), 404, 'Model version: 9.9 does not exist for model: add');
});

test('describe: TorchServe\'s fields in order, then sha256, inputs, outputs', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  await h.registry.register({ url: 'add.mar', initialWorkers: 1 }, NO_PRINCIPAL);
  const [d] = await h.registry.describe('add', undefined);
  assert.deepEqual(Object.keys(d!), [
    'modelName', 'modelVersion', 'modelUrl', 'runtime', 'minWorkers', 'maxWorkers', 'batchSize', 'maxBatchDelay',
    'responseTimeout', 'startupTimeout', 'maxRetryTimeoutInSec', 'clientTimeoutInMills', 'parallelType', 'parallelLevel',
    'deviceType', 'continuousBatching', 'useJobTicket', 'useVenv', 'stateful', 'sequenceMaxIdleMSec', 'sequenceTimeoutMSec',
    'maxNumSequence', 'maxSequenceJobQueueSize', 'loadedAtStartup', 'workers', 'jobQueueStatus', 'sha256', 'inputs', 'outputs',
  ]);
  assert.equal(d!.modelName, 'add');
  assert.equal(d!.runtime, 'python');
  assert.equal(d!.batchSize, 1);
  assert.equal(d!.maxBatchDelay, 100);
  assert.equal(d!.responseTimeout, 120);
  assert.equal(d!.startupTimeout, 120);
  assert.equal(d!.deviceType, 'cpu');
  assert.deepEqual(d!.jobQueueStatus, { remainingCapacity: 100, pendingRequests: 0 });
  assert.equal(d!.workers.length, 1);
  const w = d!.workers[0]!;
  assert.deepEqual(Object.keys(w), ['id', 'startTime', 'status', 'memoryUsage', 'pid', 'gpu', 'gpuUsage']);
  assert.match(w.id, /^\d+$/);
  assert.equal(w.startTime, '2025-01-02T03:04:05.006Z');
  assert.equal(w.status, 'READY');
  assert.equal(w.pid, process.pid);
  assert.equal(w.gpu, false);
  assert.equal(w.gpuUsage, 'N/A');
  assert.deepEqual(d!.inputs, [{ name: 'input', dtype: 'float32', shape: ['N', 4] }]);
  assert.equal(d!.sha256, h.registry.get('add').sha256);
});

test('scale: async 202 by default, sync 200 with TorchServe\'s message, checks in TorchServe\'s order', async (t) => {
  const h = await setup(t);
  await h.mar('add.mar');
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  const runtime = h.engine.created[0]!;

  assert.deepEqual(await h.registry.scale('add', undefined, 2, 3, false), { accepted: true, message: 'Processing worker updates...' });
  assert.deepEqual(runtime.scaleCalls.at(-1), { min: 2, max: 3, wait: false });
  let [d] = await h.registry.describe('add', undefined);
  assert.equal(d!.minWorkers, 2);
  assert.equal(d!.maxWorkers, 3);

  assert.deepEqual(await h.registry.scale('add', undefined, 1, 1, true), { accepted: false, message: 'Workers scaled to 1 for model: add' });
  assert.deepEqual(await h.registry.scale('add', '1.0', 0, 0, true), { accepted: false, message: 'Workers scaled to 0 for model: add, version: 1.0' });
  [d] = await h.registry.describe('add', undefined);
  assert.equal(d!.minWorkers, 0);

  // max < min is checked before the model exists.
  await rejects(h.registry.scale('nope', undefined, 3, 2, false), 400, 'max_worker cannot be less than min_worker.', 'BadRequestException');
  await rejects(h.registry.scale('nope', undefined, 1, 1, false), 404, 'Model not found: nope');
  await rejects(h.registry.scale('add', undefined, -1, 1, false), 400, /min_worker/);

  h.engine.failWorkersOf.add('add');
  await rejects(h.registry.scale('add', undefined, 2, 2, true), 500, 'Failed to start workers for model add version: 1.0');
  assert.deepEqual(h.registry.names(), ['add'], 'a failed scale keeps the model');
});

test('list: sorted by code point, TorchServe\'s pagination and limits', async (t) => {
  const h = await setup(t);
  const names = ['b', 'a', 'C', 'e', 'd'];
  for (const n of names) {
    await h.mar(`${n}.mar`, { modelName: n });
    await h.registry.register({ url: `${n}.mar`, initialWorkers: 0 }, NO_PRINCIPAL);
  }
  const page = async (limit?: number, token?: number) => {
    const r = await h.registry.list(limit, token);
    return { token: r.nextPageToken, names: r.models.map((m) => m.modelName) };
  };
  assert.deepEqual(await page(2, 0), { token: '2', names: ['C', 'a'] });
  assert.deepEqual(await page(2, 2), { token: '4', names: ['b', 'd'] });
  assert.deepEqual(await page(2, 4), { token: undefined, names: ['e'] });
  // QUIRK kept: a token appears when the page ends exactly at the last model.
  assert.deepEqual(await page(5, 0), { token: '5', names: ['C', 'a', 'b', 'd', 'e'] });
  assert.deepEqual(await page(), { token: undefined, names: ['C', 'a', 'b', 'd', 'e'] });
  assert.deepEqual(await page(101, 0), { token: undefined, names: ['C', 'a', 'b', 'd', 'e'] });
  assert.deepEqual(await page(-1, 0), { token: undefined, names: ['C', 'a', 'b', 'd', 'e'] });
  assert.deepEqual(await page(2, -5), { token: '2', names: ['C', 'a'] });
  assert.deepEqual(await page(0, 0), { token: '0', names: [] });
  assert.deepEqual(await page(2, 10), { token: undefined, names: [] });
  // A client's pagination loop visits every model once.
  const seen: string[] = [];
  let token: number | undefined = 0;
  for (let i = 0; i < 10 && token !== undefined; i++) {
    const r = await h.registry.list(2, token);
    seen.push(...r.models.map((m) => m.modelName));
    token = r.nextPageToken === undefined ? undefined : Number(r.nextPageToken);
  }
  assert.deepEqual(seen, ['C', 'a', 'b', 'd', 'e']);
});

test('operations on one model are serialised: unregister waits for a scale in progress', async (t) => {
  const h = await setup(t, { enable_model_api: 'true' });
  await h.mar('add.mar');
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  let open!: () => void;
  h.engine.scaleGate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const order: string[] = [];
  const scaling = h.registry.scale('add', undefined, 1, 1, true).then(() => order.push('scale'));
  const removing = h.registry.unregister('add').then(() => order.push('unregister'));
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(order, []);
  assert.equal(h.engine.created[0]!.closed, false, 'unregister did not start while scale held the lock');
  open();
  await within(Promise.all([scaling, removing]));
  assert.deepEqual(order, ['scale', 'unregister']);
});

test('settings precedence: register params, archive yaml, models JSON and defaults (spec §2.7)', async (t) => {
  const yaml = [
    'batchSize: 4',
    'maxBatchDelay: 50',
    'responseTimeout: 30',
    'minWorkers: 2',
    'maxWorkers: 3',
    'jobQueueSize: 7',
    'onnxruntime:',
    '  intraOpNumThreads: 2',
    '  graphOptimizationLevel: basic',
    'warmup:',
    '  body: {"input": [[1, 2, 3, 4]]}',
    'custom_key: kept',
  ].join('\n');
  const models = JSON.stringify({ add: { '1.0': { batchSize: 9, maxBatchDelay: 9, responseTimeout: 9, startupTimeout: 45, minWorkers: 5 } } });
  const h = await setup(t, { models });
  await h.mar('add.mar', { configFile: 'model-config.yaml' }, { 'model-config.yaml': yaml });
  await h.registry.register({ url: 'add.mar', batchSize: 8, responseTimeoutSec: 10, startupTimeoutSec: 11, initialWorkers: 1 }, NO_PRINCIPAL);
  const spec = h.registry.get('add').spec;
  assert.equal(spec.batchSize, 8, 'register param beats yaml');
  assert.equal(spec.maxBatchDelayMs, 50, 'yaml beats models JSON');
  assert.equal(spec.responseTimeoutSec, 30, 'yaml beats the register param for timeouts');
  assert.equal(spec.startupTimeoutSec, 45, 'models JSON beats the register param for timeouts');
  assert.equal(spec.minWorkers, 2, 'valid yaml workers beat initial_workers');
  assert.equal(spec.maxWorkers, 3);
  assert.equal(spec.jobQueueSize, 7);
  assert.deepEqual(spec.session, { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'basic', executionProviders: ['cpu'] });
  assert.equal(spec.modelYamlConfig.custom_key, 'kept');
  assert.ok(spec.warmup);
  assert.equal(new TextDecoder().decode(spec.warmup.params[0]!.value), '{"input":[[1,2,3,4]]}');
  assert.equal(spec.warmup.headers['content-type'], 'application/json');
});

test('settings: models JSON, then default_workers_per_model, then the engine\'s layout', async (t) => {
  const models = JSON.stringify({ m1: { '1.0': { batchSize: 3, minWorkers: 2, maxWorkers: 4, responseTimeout: 60, maxBatchDelay: -1 } } });
  const h = await setup(t, { models, job_queue_size: '12' }, { workerLayout: () => ({ workers: 3, intraOpNumThreads: 2 }) });
  await h.mar('m1.mar', { modelName: 'm1' });
  await h.mar('m2.mar', { modelName: 'm2' });
  await h.registry.register({ url: 'm1.mar', responseTimeoutSec: 10 }, NO_PRINCIPAL);
  let spec = h.registry.get('m1').spec;
  assert.deepEqual([spec.batchSize, spec.maxBatchDelayMs, spec.minWorkers, spec.maxWorkers, spec.responseTimeoutSec, spec.jobQueueSize], [3, 100, 2, 4, 60, 12]);
  await h.registry.register({ url: 'm2.mar', startupTimeoutSec: 15 }, NO_PRINCIPAL);
  spec = h.registry.get('m2').spec;
  assert.deepEqual([spec.minWorkers, spec.maxWorkers, spec.session.intraOpNumThreads, spec.startupTimeoutSec], [3, 3, 2, 15], 'layout when nothing says');

  const h2 = await setup(t, { default_workers_per_model: '2' }, { workerLayout: () => ({ workers: 3, intraOpNumThreads: 1 }) });
  await h2.mar('m2.mar', { modelName: 'm2' });
  await h2.registry.register({ url: 'm2.mar' }, NO_PRINCIPAL);
  assert.equal(h2.registry.get('m2').spec.minWorkers, 2, 'default_workers_per_model beats the layout');
});

test('groups: reservation params, one group per model name, commit, access control hides models', async (t) => {
  const groups = new FakeGroups();
  const h = await setup(t, { enable_model_api: 'true' }, { groups });
  assert.ok(groups.counter, 'the registry gave groups a model counter');
  await h.mar('add1.mar', { modelVersion: '1.0' });
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.registry.register({ url: 'add1.mar', initialWorkers: 0, modelGroupId: 'g1', accessMode: 'restricted', backendRoles: ['hr'], addAllBackendRoles: false, description: 'd' }, ADMIN);
  assert.deepEqual(groups.reservations[0]!.req, { modelName: 'add', modelGroupId: 'g1', accessMode: 'restricted', backendRoles: ['hr'], addAllBackendRoles: false, description: 'd' });
  assert.equal(groups.reservations[0]!.principal, ADMIN);
  assert.equal(groups.reservations[0]!.committed, true);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 0 }, ADMIN);
  assert.equal(groups.reservations[1]!.req.existingGroupId, 'g1', 'later versions go to the same group');
  assert.equal(h.registry.get('add', '2.0').groupId, 'g1');
  assert.equal(groups.counter!('g1'), 2);
  assert.equal((await h.registry.describe('add', undefined, ADMIN))[0]!.modelGroupId, 'g1');

  groups.denied.add('g1');
  await rejects(h.registry.describe('add', undefined, BOB), 404, 'Model not found: add');
  await rejects(h.registry.scale('add', undefined, 1, 1, false, BOB), 404, 'Model not found: add');
  await rejects(h.registry.setDefault('add', '2.0', BOB), 404, 'Model not found: add');
  await rejects(h.registry.unregister('add', '2.0', BOB), 404, 'Model not found: add');
  await rejects(h.registry.modelReady('add', BOB), 404, 'Model not found: add');
  assert.deepEqual((await h.registry.list(100, 0, BOB)).models, []);
  assert.deepEqual((await h.registry.list(100, 0, ADMIN)).models.map((m) => m.modelName), ['add']);
  assert.equal(h.registry.versions('add').length, 2, 'nothing changed');

  await h.registry.unregister('add', '2.0', ADMIN);
  await h.registry.unregister('add', undefined, ADMIN);
  assert.deepEqual(groups.removed, [{ groupId: 'g1', remaining: 1 }, { groupId: 'g1', remaining: 0 }]);
});

test('groups: a refused reservation registers nothing', async (t) => {
  const groups = new FakeGroups();
  const h = await setup(t, {}, { groups });
  groups.reserveError = new Error('no permission');
  await h.mar('add.mar');
  await assert.rejects(h.registry.register({ url: 'add.mar' }, BOB), /no permission/);
  assert.deepEqual(h.registry.names(), []);
  assert.equal(h.engine.created.length, 0);
  assert.deepEqual(await h.extracted(), []);
});

test('startup: load_models=all loads archives and directories of the store, skips what fails', async (t) => {
  const h = await setup(t, { load_models: 'all' });
  await h.mar('add.mar');
  await h.mar('my-model.mar', { modelName: undefined });
  await h.mar('.hidden.mar', { modelName: 'hidden' });
  await writeFile(path.join(h.store, 'broken.mar'), 'not a zip');
  await writeFile(path.join(h.store, 'notes.txt'), 'ignored');
  await writeModelDir(path.join(h.store, 'dirmodel'), { 'MAR-INF/MANIFEST.json': manifestJson({ modelName: 'dirmodel' }), 'add.onnx': await sharedModelBytes('add.onnx') });
  const r = await h.registry.loadStartupModels();
  assert.deepEqual(r.failed, ['broken.mar']);
  assert.deepEqual(h.registry.names(), ['add', 'dirmodel', 'my_model']);
  for (const name of h.registry.names()) {
    const e = h.registry.get(name);
    assert.equal(e.loadedAtStartup, true);
    assert.deepEqual((e.runtime as unknown as { scaleCalls: unknown[] }).scaleCalls, [{ min: 1, max: 1, wait: false }], 'startup scaling is asynchronous');
  }
  assert.deepEqual(await h.snapshotFiles(), [], 'startup loading writes no snapshot');
});

test('startup: load_models entries with names; a model that fails is skipped', async (t) => {
  const h = await setup(t, { load_models: 'first=add.mar, missing.mar,second=add.mar' });
  await h.mar('add.mar');
  const r = await h.registry.loadStartupModels();
  assert.deepEqual(h.registry.names(), ['first', 'second']);
  assert.deepEqual(r.failed, ['missing.mar']);
});

test('close: unregisters everything, keeps archives, refuses new work', async (t) => {
  const h = await setup(t);
  await h.mar('add1.mar', { modelVersion: '1.0' });
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.registry.register({ url: 'add1.mar', initialWorkers: 1 }, NO_PRINCIPAL);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 1 }, NO_PRINCIPAL);
  await h.registry.close();
  assert.deepEqual(h.registry.names(), []);
  assert.equal(h.engine.live().length, 0);
  assert.deepEqual(await h.extracted(), []);
  assert.deepEqual((await readdir(h.store)).sort(), ['add1.mar', 'add2.mar']);
  await rejects(h.registry.register({ url: 'add1.mar' }, NO_PRINCIPAL), 503, 'The server is shutting down');
});
