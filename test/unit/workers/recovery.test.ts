import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TsServeError, WorkerStartError } from '../../../src/errors.js';
import { ADD, captureLogger, makeSpec, request, tempDir, testEngine, text, waitFor, writeHandler } from './helpers.js';

/** Misbehaves on demand: the request body says how. */
const CHAOS = `
export function preprocess(requests) {
  return requests.map((r) => String(r.body));
}
export function inference(data) {
  for (const cmd of data) {
    if (cmd === 'spin') { const end = Date.now() + 5000; while (Date.now() < end) {} }
    if (cmd === 'exit') process.exit(3);
    if (cmd === 'timer') setTimeout(() => { throw new Error('boom in a timer'); }, 0);
    if (cmd === 'throw') throw new Error('handler says no');
    if (cmd === 'status') { const e = new Error('teapot'); e.status = 418; throw e; }
  }
  return data;
}
export function postprocess(data, context) {
  if (data[0] === 'short') return [];
  if (data[0] === 'notarray') return 'nope';
  if (data[0] === 'log') console.log('hello from', context.workerId);
  if (data[0] === 'timer') return new Promise(() => {});
  return data.map((d) => 'done ' + d);
}
`;

async function chaosRuntime(t: Parameters<typeof tempDir>[0] & { after(fn: () => Promise<void> | void): void }, extra = {}) {
  const dir = tempDir(t);
  writeHandler(dir, 'chaos.mjs', CHAOS);
  const capture = captureLogger();
  const { engine, metrics } = testEngine(t, { modelLog: capture.log });
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'chaos.mjs', responseTimeoutSec: 1, ...extra }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  return { rt, metrics, lines: capture.lines };
}

function isWorkerDied(err: unknown): boolean {
  assert.ok(err instanceof TsServeError);
  assert.equal(err.status, 500);
  assert.equal(err.type, 'InternalServerException');
  assert.equal(err.message, 'Worker died.');
  return true;
}

test('response timeout → "Worker died." and a replacement worker serves the next request', async (t) => {
  const { rt, metrics } = await chaosRuntime(t);
  const started = Date.now();
  await assert.rejects(rt.submit(request('spin', { contentType: 'text/plain' })), isWorkerDied);
  assert.ok(Date.now() - started < 3000, 'failed at the 1 s timeout');
  const res = await rt.submit(request('fine', { contentType: 'text/plain' }));
  assert.equal(text(res.body), 'done fine');
  const [w] = rt.workers();
  assert.equal(w!.id, '9000', 'the replacement keeps the worker id');
  assert.equal(w!.restarts, 1);
  assert.equal(metrics.restarts, 1);
});

test('a worker that exits mid-request → 5xx, and it is replaced', async (t) => {
  const { rt } = await chaosRuntime(t);
  await assert.rejects(rt.submit(request('exit', { contentType: 'text/plain' })), isWorkerDied);
  assert.equal(text((await rt.submit(request('again', { contentType: 'text/plain' }))).body), 'done again');
  assert.equal(rt.workers()[0]!.restarts, 1);
});

test('an uncaught error in a handler timer kills the worker; requests fail, none hang', async (t) => {
  const { rt } = await chaosRuntime(t);
  await assert.rejects(rt.submit(request('timer', { contentType: 'text/plain' })), isWorkerDied);
  await waitFor(() => rt.workers()[0]?.state === 'READY' && rt.workers()[0]!.restarts === 1, 10_000, 'replacement');
  assert.equal(text((await rt.submit(request('ok', { contentType: 'text/plain' }))).body), 'done ok');
});

test('handler errors: thrown → 500 with its message; wrong list → 503; own status kept', async (t) => {
  const { rt, lines } = await chaosRuntime(t);
  await assert.rejects(rt.submit(request('throw', { contentType: 'text/plain' })), (err: unknown) => {
    assert.ok(err instanceof TsServeError);
    assert.equal(err.status, 500);
    assert.equal(err.code, 'PREDICTION_FAILED');
    assert.equal(err.message, 'Prediction failed: handler says no');
    return true;
  });
  assert.ok(lines.some((l) => String(l.msg).includes('handler says no') && String(l.msg).includes('chaos.mjs')), 'stack in model log');
  await assert.rejects(rt.submit(request('short', { contentType: 'text/plain' })), (err: unknown) => {
    assert.ok(err instanceof TsServeError);
    assert.equal(err.status, 503);
    assert.equal(err.message, 'number of batch response mismatched');
    return true;
  });
  await assert.rejects(rt.submit(request('notarray', { contentType: 'text/plain' })), /Invalid model predict output/);
  await assert.rejects(rt.submit(request('status', { contentType: 'text/plain' })), (err: unknown) => {
    assert.ok(err instanceof TsServeError);
    assert.equal(err.status, 418);
    assert.equal(err.message, 'teapot');
    return true;
  });
  assert.equal(rt.workers()[0]!.restarts, 0, 'handler errors do not kill the worker');
});

test('handler console output goes to the model log with model, version and worker id', async (t) => {
  const { rt, lines } = await chaosRuntime(t);
  await rt.submit(request('log', { contentType: 'text/plain' }));
  await waitFor(() => lines.some((l) => l.msg === 'hello from 9000'), 5000, 'log line');
  const line = lines.find((l) => l.msg === 'hello from 9000')!;
  assert.equal(line.model, 'm');
  assert.equal(line.version, '1.0');
  assert.equal(line.workerId, '9000');
  assert.equal(line.worker, 'W-9000-m_1.0');
});

test('explanations: base handler → 501; a custom explain export answers', async (t) => {
  const { rt } = await chaosRuntime(t);
  await assert.rejects(rt.submit(request('x', { explain: true, contentType: 'text/plain' })), (err: unknown) => {
    assert.ok(err instanceof TsServeError);
    assert.equal(err.status, 501);
    assert.match(err.message, /does not support explanations/);
    return true;
  });

  const dir = tempDir(t);
  writeHandler(dir, 'explain.mjs', 'export function explain(batch, ctx) { return batch.requests.map(() => ({ explained: true })); }\n');
  const { engine } = testEngine(t);
  const rt2 = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'explain.mjs' }));
  t.after(() => rt2.close(0));
  const res = await rt2.submit(request([1, 2, 3, 4], { explain: true }));
  assert.equal(text(res.body), '{\n  "explained": true\n}');
  // The same model still predicts through the base handler.
  assert.equal(text((await rt2.submit(request([1, 2, 3, 4]))).body), '[\n  2,\n  3,\n  4,\n  5\n]');
});

test('a worker that cannot load: scale(wait) rejects with WorkerStartError; the cause is logged', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'broken.mjs', 'export function initialize() { throw new Error("cannot initialise"); }\n');
  const capture = captureLogger();
  const { engine } = testEngine(t, { log: capture.log });
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'broken.mjs', minWorkers: 0, maxWorkers: 0 }));
  t.after(() => rt.close(0));
  await assert.rejects(rt.scale(1, 1, true), (err: unknown) => {
    assert.ok(err instanceof WorkerStartError);
    assert.equal(err.status, 500);
    assert.match(String((err as { cause?: Error }).cause?.message), /cannot initialise/);
    return true;
  });
  assert.ok(capture.lines.some((l) => l.reason === 'cannot initialise'));
  // It keeps retrying with back-off and stays "healthy" within the retry window (spec §8.1).
  assert.ok(rt.isHealthy());
  assert.notEqual(rt.workers()[0]!.state, 'READY');
});

test('startup timeout and warm-up', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'sleepy.mjs', 'export async function initialize() { await new Promise((r) => setTimeout(r, 3000)); }\n');
  const { engine } = testEngine(t);
  const rt = await engine.create(
    makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'sleepy.mjs', minWorkers: 0, maxWorkers: 0, startupTimeoutSec: 1 }),
  );
  t.after(() => rt.close(0));
  const started = Date.now();
  await assert.rejects(rt.scale(1, 1, true), WorkerStartError);
  assert.ok(Date.now() - started < 2500);

  // A warm-up that fails keeps the worker from READY; a good one lets it start.
  const bad = await engine.create(makeSpec({ serializedFile: ADD, minWorkers: 0, maxWorkers: 0, warmup: request([1, 2]) }));
  t.after(() => bad.close(0));
  await assert.rejects(bad.scale(1, 1, true), (err: unknown) => {
    assert.match(String((err as { cause?: Error }).cause?.message), /warm-up request failed: Input "input" expects float32/);
    return true;
  });
  const good = await engine.create(makeSpec({ serializedFile: ADD, minWorkers: 0, maxWorkers: 0, warmup: request([1, 2, 3, 4]) }));
  t.after(() => good.close(0));
  assert.deepEqual(await good.scale(1, 1, true), { ready: 1, complete: true });
});

test('scale down waits for the busy worker to finish its batch', async (t) => {
  const dir = tempDir(t);
  writeHandler(
    dir,
    'slow.mjs',
    'export async function inference(d) { await new Promise((r) => setTimeout(r, 400)); return d; }\nexport function postprocess(d) { return d.requests.map(() => "slow ok"); }\n',
  );
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'slow.mjs', minWorkers: 1, maxWorkers: 1 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const pending = rt.submit(request([1, 2, 3, 4]));
  await waitFor(() => rt.queueStatus().pendingRequests === 0, 5000, 'dispatch');
  const scaled = rt.scale(0, 0, true);
  assert.equal(rt.workers()[0]!.state, 'UNLOADING');
  assert.equal(text((await pending).body), 'slow ok');
  await scaled;
  assert.deepEqual(rt.workers(), []);
});

test('a worker stuck in ONNX Runtime calls is stopped without aborting the process', async (t) => {
  // Terminating a thread inside onnxruntime-node's native code aborts the process
  // (native-guard.ts); the pool must wait for the call to return.
  const dir = tempDir(t);
  writeHandler(
    dir,
    'ortloop.mjs',
    `export async function inference(batch, ctx) {
      const x = new ctx.ort.Tensor('float32', new Float32Array(4), [1, 4]);
      for (;;) await ctx.session.run({ input: x });
    }\n`,
  );
  const { engine } = testEngine(t);
  for (let round = 0; round < 3; round++) {
    const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'ortloop.mjs', responseTimeoutSec: 1 }));
    await rt.scale(1, 1, true);
    const pending = rt.submit(request([1, 2, 3, 4]));
    if (round === 0) await assert.rejects(pending, isWorkerDied);
    else {
      const settled = Promise.allSettled([pending]);
      await new Promise((r) => setTimeout(r, 50 * round));
      await rt.close(0);
      assert.equal((await settled)[0]!.status, 'rejected');
    }
    await rt.close(0);
  }
});
