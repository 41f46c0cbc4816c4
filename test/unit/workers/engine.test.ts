import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { InvalidArchiveError, NoWorkerError, QueueFullError, TsServeError } from '../../../src/errors.js';
import {
  ADD,
  MLP,
  canonicalInput,
  json,
  makeSpec,
  request,
  tempDir,
  testEngine,
  text,
  waitFor,
  writeHandler,
} from './helpers.js';

test('inspect reads names, dtypes and symbolic shapes', async (t) => {
  const { engine } = testEngine(t);
  const io = await engine.inspect(MLP);
  assert.deepEqual(io, {
    inputs: [{ name: 'input', dtype: 'float32', shape: ['N', 784] }],
    outputs: [{ name: 'output', dtype: 'float32', shape: ['N', 10] }],
  });
});

test('inspect rejects a file ONNX Runtime cannot load, with its message', async (t) => {
  const dir = tempDir(t);
  const bad = path.join(dir, 'bad.onnx');
  writeFileSync(bad, 'this is not a protobuf');
  const { engine } = testEngine(t);
  await assert.rejects(engine.inspect(bad), (err: unknown) => {
    assert.ok(err instanceof InvalidArchiveError);
    assert.match(err.message, /^Invalid ONNX model bad\.onnx: .*protobuf parsing failed/i);
    assert.ok(!err.message.includes(dir), 'no server paths in the message');
    return true;
  });
  await assert.rejects(engine.inspect(path.join(dir, 'missing.onnx')), InvalidArchiveError);
});

test('mlp answers the reference output for JSON and octet-stream bodies', async (t) => {
  const { engine, metrics } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: MLP }));
  t.after(() => rt.close(0));
  const x = canonicalInput(784);

  // Submitted before the worker is ready: waits in the queue, no 503 (spec §8.4).
  const res = await rt.submit(request(Array.from(x)));
  assert.equal(res.status, 200);
  assert.equal(res.contentType, undefined, 'TorchServe sends no content type unless the handler sets one');
  const out = json(res.body) as number[];
  assert.equal(out.length, 10);
  assert.ok(Math.abs(out[0]! - -0.036352) < 1e-3, `first value ${out[0]}`);
  assert.equal(out.indexOf(Math.max(...out)), 1);
  assert.ok(text(res.body).startsWith('[\n  '), 'pretty JSON with indent 2');

  const raw = new Uint8Array(x.buffer.slice(0));
  const res2 = await rt.submit(request(raw, { contentType: 'application/octet-stream' }));
  assert.deepEqual(json(res2.body), out);

  const ws = rt.workers();
  assert.equal(ws.length, 1);
  assert.equal(ws[0]!.id, '9000');
  assert.equal(ws[0]!.state, 'READY');
  assert.equal(ws[0]!.restarts, 0);
  assert.ok(ws[0]!.memoryUsage > 0);
  assert.deepEqual(metrics.loaded, ['W-9000-m_1.0']);
  assert.ok(rt.isHealthy());
});

test('add: object keyed by input name, and a request body in a "data" form field', async (t) => {
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD }));
  t.after(() => rt.close(0));
  const a = await rt.submit(request({ input: [1, 2, 3, 4] }));
  assert.deepEqual(json(a.body), [2, 3, 4, 5]);
  const b = await rt.submit(request([0, 0, 0, 1], { name: 'data' }));
  assert.deepEqual(json(b.body), [1, 1, 1, 2]);
  // text/plain JSON is parsed too.
  const c = await rt.submit(request('[1,1,1,1]', { contentType: 'text/plain' }));
  assert.deepEqual(json(c.body), [2, 2, 2, 2]);
});

test('zero workers → NoWorkerError; scale up with wait; scale down to zero', async (t) => {
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, minWorkers: 0, maxWorkers: 0 }));
  t.after(() => rt.close(0));
  assert.deepEqual(rt.workers(), []);
  await assert.rejects(rt.submit(request([1, 2, 3, 4])), (err: unknown) => {
    assert.ok(err instanceof NoWorkerError);
    assert.equal(err.status, 503);
    assert.equal(err.headers['Retry-After'], '1');
    return true;
  });

  const up = await rt.scale(2, 2, true);
  assert.deepEqual(up, { ready: 2, complete: true });
  assert.deepEqual(rt.workers().map((w) => w.state), ['READY', 'READY']);
  assert.equal(rt.spec.minWorkers, 2);
  assert.deepEqual(json((await rt.submit(request([1, 2, 3, 4]))).body), [2, 3, 4, 5]);

  const down = await rt.scale(0, 0, true);
  assert.equal(down.ready, 0);
  assert.deepEqual(rt.workers(), []);
  await assert.rejects(rt.submit(request([1, 2, 3, 4])), NoWorkerError);
});

const SLOW_HANDLER = `
export async function preprocess(requests) {
  await new Promise((r) => setTimeout(r, 300));
  return requests;
}
export function inference(data) { return data; }
export function postprocess(data) { return data.map(() => 'ok'); }
`;

test('a full queue answers QueueFullError at once; queued requests still complete', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'slow.mjs', SLOW_HANDLER);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'slow.mjs', jobQueueSize: 1 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  // As TorchServe: one request runs, one waits, the third finds the queue full. The busy worker
  // already holds the second behind the running one (pipelining), but it still counts as queued.
  const accepted = [rt.submit(request('a'))];
  await waitFor(() => rt.queueStatus().pendingRequests === 0, 5000, 'first request dispatched');
  assert.deepEqual(rt.queueStatus(), { remainingCapacity: 1, pendingRequests: 0 });
  accepted.push(rt.submit(request('b')));
  assert.deepEqual(rt.queueStatus(), { remainingCapacity: 0, pendingRequests: 1 });
  const started = Date.now();
  await assert.rejects(rt.submit(request('c')), (err: unknown) => {
    assert.ok(err instanceof QueueFullError);
    assert.equal(err.status, 503);
    assert.equal(err.type, 'ServiceUnavailableException');
    assert.equal(err.headers['Retry-After'], '1');
    return true;
  });
  assert.ok(Date.now() - started < 100, 'rejected at once');
  for (const a of await Promise.all(accepted)) assert.equal(text(a.body), 'ok');
});

test('close() drains queued and in-flight requests, then refuses new ones', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'slow.mjs', SLOW_HANDLER);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'slow.mjs' }));
  await rt.scale(1, 1, true);
  const pending = [rt.submit(request('1')), rt.submit(request('2')), rt.submit(request('3'))];
  const closed = rt.close(10_000);
  await assert.rejects(rt.submit(request('4')), (err: unknown) => err instanceof TsServeError && err.status === 503);
  const answers = await Promise.all(pending);
  assert.deepEqual(answers.map((a) => text(a.body)), ['ok', 'ok', 'ok']);
  await closed;
  assert.deepEqual(rt.workers(), []);
});

test('close() with a short timeout fails what is left; nothing hangs', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'slow.mjs', SLOW_HANDLER);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'slow.mjs' }));
  await rt.scale(1, 1, true);
  // A busy worker holds at most one batch behind the running one (pipelining, docs/engine.md):
  // request 1 runs, request 2 may or may not have been handed to the worker yet, request 3 is
  // certainly still queued.
  const pending = Promise.allSettled([rt.submit(request('1')), rt.submit(request('2')), rt.submit(request('3'))]);
  await rt.close(50);
  const settled = await pending;
  const reasons = settled.map((s) => {
    assert.equal(s.status, 'rejected');
    return (s as PromiseRejectedResult).reason as TsServeError;
  });
  assert.equal(reasons[0]!.message, 'Worker died.');
  assert.ok(reasons[1]!.message === 'Worker died.' || reasons[1]!.status === 503, reasons[1]!.message);
  assert.equal(reasons[2]!.status, 503);
});
