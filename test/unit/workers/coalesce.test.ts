/**
 * Coalesced dispatch (worker-thread.ts, worker-pool.ts): batches dispatched in one event-loop
 * turn travel to the worker in one message, yet each still runs as its own handler batch and
 * every request gets its own answer.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import type { WireResult } from '../../../src/workers/messages.js';
import { FAST_BATCH_MILLIS, MAX_REQUESTS_PER_MESSAGE, SLOW_BATCHES_PER_WORKER, WAKE_AFTER_REQUESTS, WorkerSlot, type Job } from '../../../src/workers/worker-pool.js';
import { WorkerThread } from '../../../src/workers/worker-thread.js';
import type { ModelSpec } from '../../../src/workers/types.js';
import { QueueFullError } from '../../../src/errors.js';
import { ADD, json, makeSpec, request, tempDir, testEngine, waitFor, writeHandler, writeModel } from './helpers.js';

const REPORTER = `
export function postprocess(_output, context) {
  return context.requests.map((r) => ({ batchSize: context.batchSize, id: r.id }));
}
`;

test('batches queued in one turn go out together and each runs as its own batch', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'report.mjs', REPORTER);
  const { engine } = testEngine(t);
  const io = await engine.inspect(ADD);
  const spec = makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'report.mjs', batchSize: 4 });
  const results = new Map<number, WireResult[]>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const thread = new WorkerThread(
    { mode: 'serve', workerId: '1', spec, io },
    {
      onReady: () => ready(),
      onResult: (batchId, r) => results.set(batchId, r),
    },
  );
  t.after(() => thread.terminate());
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('worker not ready')), 20_000)));
  await Promise.race([isReady, timeout]).finally(() => clearTimeout(timer));

  const batches = [
    [request([1, 1, 1, 1]), request([2, 2, 2, 2])],
    [request([3, 3, 3, 3])],
    [request([4, 4, 4, 4]), request([5, 5, 5, 5]), request([6, 6, 6, 6])],
  ];
  const ids = batches.map((b) => b.map((r) => r.id));
  batches.forEach((b, i) => thread.run(i + 1, b));
  // Nothing is posted until the end of the turn: one message then carries all three.
  assert.equal(thread.pendingBatches, 3);
  await new Promise((r) => setImmediate(r));
  assert.equal(thread.pendingBatches, 0);

  const deadline = Date.now() + 10_000;
  while (results.size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(results.size, 3);
  for (let i = 0; i < 3; i++) {
    const r = results.get(i + 1)!;
    assert.equal(r.length, ids[i]!.length);
    assert.deepEqual(
      r.map((x) => (x.ok ? json(x.response.body) : x.error)),
      ids[i]!.map((id) => ({ batchSize: ids[i]!.length, id })),
    );
  }
});

test('a burst with batchSize 1 runs as batches of one, each request answered with its own output', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'report.mjs', REPORTER);
  const { engine, metrics } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'report.mjs', batchSize: 1 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  // Warm up, so the worker counts as fast and holds several batches (coalescing kicks in).
  for (let i = 0; i < 5; i++) await rt.submit(request([0, 0, 0, 0]));
  const reqs = Array.from({ length: 40 }, (_, i) => request([i, i, i, i]));
  const answers = await Promise.all(reqs.map((r) => rt.submit(r)));
  assert.deepEqual(
    answers.map((a) => json(a.body)),
    reqs.map((r) => ({ batchSize: 1, id: r.id })),
  );
  assert.equal(metrics.batches.length, 45);
  assert.ok(metrics.batches.every((s) => s === 1));
});

test('the tensor handler answers a coalesced burst in request order with the right sums', async (t) => {
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, batchSize: 1 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const one = json((await rt.submit(request([1, 2, 3, 4]))).body);
  const answers = await Promise.all(Array.from({ length: 30 }, () => rt.submit(request([1, 2, 3, 4]))));
  for (const a of answers) assert.deepEqual(json(a.body), one);
  const distinct = await Promise.all([0, 1, 2, 3, 4, 5].map((k) => rt.submit(request([k, k, k, k]))));
  const singles: unknown[] = [];
  for (const k of [0, 1, 2, 3, 4, 5]) singles.push(json((await rt.submit(request([k, k, k, k]))).body));
  assert.deepEqual(
    distinct.map((a) => json(a.body)),
    singles,
  );
});

test('a worker holds more batches only while its batches are fast', () => {
  const slot = new WorkerSlot('9000', pino({ level: 'silent' }));
  assert.equal(slot.capacity, SLOW_BATCHES_PER_WORKER, 'before the first answer');
  assert.equal(slot.isFast, false);
  slot.batchMillis = FAST_BATCH_MILLIS / 10;
  assert.equal(slot.isFast, true);
  assert.equal(slot.capacity, MAX_REQUESTS_PER_MESSAGE);
  slot.batchMillis = FAST_BATCH_MILLIS * 10;
  assert.equal(slot.capacity, SLOW_BATCHES_PER_WORKER);
});

test("a fast worker's message holds the requests the pool allows, and at least one batch", () => {
  let batchSize = 4;
  let messageRequests = 12;
  const slot = new WorkerSlot('9000', pino({ level: 'silent' }), { batchSize: () => batchSize, messageRequests: () => messageRequests });
  slot.batchMillis = FAST_BATCH_MILLIS / 10;
  assert.equal(slot.capacity, 3);
  messageRequests = MAX_REQUESTS_PER_MESSAGE;
  assert.equal(slot.capacity, MAX_REQUESTS_PER_MESSAGE / 4);
  batchSize = MAX_REQUESTS_PER_MESSAGE * 4;
  assert.equal(slot.capacity, 1);
});

test('a fast worker is preferred to an idle one only until its message holds WAKE_AFTER_REQUESTS', () => {
  const slot = new WorkerSlot('9000', pino({ level: 'silent' }));
  slot.batchMillis = FAST_BATCH_MILLIS / 10;
  const job = {} as Job;
  const batch = (n: number, id: number) => ({ id, jobs: Array.from({ length: n }, () => job), timer: undefined, sentNs: 0n });
  slot.inflight = [batch(WAKE_AFTER_REQUESTS - 1, 1)];
  assert.ok(slot.isPreferred);
  slot.inflight.push(batch(1, 2));
  assert.equal(slot.heldRequests, WAKE_AFTER_REQUESTS);
  assert.ok(!slot.isPreferred);
  slot.batchMillis = FAST_BATCH_MILLIS * 10;
  slot.inflight = [];
  assert.ok(!slot.isPreferred, 'a slow worker is never preferred');
});

test('a batch that cannot be sent fails alone; the others of its turn still run', async (t) => {
  const { engine } = testEngine(t);
  const io = await engine.inspect(ADD);
  const spec = makeSpec({ serializedFile: ADD, batchSize: 1 });
  const results = new Map<number, WireResult[]>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const thread = new WorkerThread({ mode: 'serve', workerId: '1', spec, io }, { onReady: () => ready(), onResult: (id, r) => results.set(id, r) });
  t.after(() => thread.terminate());
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('worker not ready')), 20_000)));
  await Promise.race([isReady, timeout]).finally(() => clearTimeout(timer));

  const bad = request([1, 1, 1, 1]);
  (bad.headers as Record<string, unknown>).fn = () => 1; // functions cannot be sent
  const failed: number[] = [];
  thread.run(1, [request([1, 2, 3, 4])], () => failed.push(1));
  thread.run(2, [bad], () => failed.push(2));
  thread.run(3, [request([5, 6, 7, 8])], () => failed.push(3));
  const deadline = Date.now() + 10_000;
  while (results.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(failed, [2]);
  assert.deepEqual([...results.keys()].sort(), [1, 3]);
  assert.ok([...results.values()].every((r) => r.length === 1 && r[0]!.ok));
});

/** y = data[idx] with data = [10, 20, 30]: an index out of range fails ONNX Runtime's run. */
function writeGatherModel(dir: string): string {
  return writeModel(path.join(dir, 'gather.onnx'), {
    nodes: [{ opType: 'Gather', input: ['data', 'idx'], output: ['y'] }],
    inputs: [['idx', 'INT64', ['N', 1]]],
    outputs: [['y', 'FLOAT', ['N', 1]]],
    initializers: [{ name: 'data', dims: [3], floatData: [10, 20, 30] }],
  });
}

async function readyThread(t: TestContext, spec: ModelSpec, onResult: (batchId: number, results: WireResult[]) => void): Promise<WorkerThread> {
  const { engine } = testEngine(t);
  const io = await engine.inspect(spec.serializedFile);
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const thread = new WorkerThread({ mode: 'serve', workerId: '1', spec, io }, { onReady: () => ready(), onResult });
  t.after(() => thread.terminate());
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('worker not ready')), 20_000)));
  await Promise.race([isReady, timeout]).finally(() => clearTimeout(timer));
  return thread;
}

test('a built-in handler answers the batches of one message together, each request on its own', async (t) => {
  const dir = tempDir(t);
  const spec = makeSpec({ serializedFile: writeGatherModel(dir), modelDir: dir, batchSize: 1 });
  // Callbacks of one message run back to back; a microtask queued by each runs after the last.
  const events: string[] = [];
  const results = new Map<number, WireResult[]>();
  const thread = await readyThread(t, spec, (id, r) => {
    results.set(id, r);
    events.push(`result ${id}`);
    queueMicrotask(() => events.push('turn'));
  });
  thread.run(1, [request([0])]);
  thread.run(2, [request([7])]); // out of range: fails its own request only
  thread.run(3, [request([2])]);
  await waitFor(() => results.size === 3, 10_000, 'three results');
  assert.deepEqual(events, ['result 1', 'result 2', 'result 3', 'turn', 'turn', 'turn']);
  const answer = (id: number) => results.get(id)!.map((r) => (r.ok ? json(r.response.body) : { status: r.error.status, message: r.error.message }));
  assert.deepEqual(answer(1), [[10]]);
  assert.deepEqual(answer(3), [[30]]);
  const [failed] = answer(2) as { status: number; message: string }[];
  assert.equal(failed!.status, 500);
  assert.match(failed!.message, /out of (data )?bounds|out of range|indices/i);
});

test('a sample the model rejects fails alone inside a stacked batch', async (t) => {
  const dir = tempDir(t);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: writeGatherModel(dir), modelDir: dir, batchSize: 4, maxBatchDelayMs: 200 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const settled = await Promise.allSettled([[1], [5], [0], [2]].map((x) => rt.submit(request(x))));
  assert.deepEqual(
    settled.map((s) => (s.status === 'fulfilled' ? json(s.value.body) : 'failed')),
    [[20], 'failed', [10], [30]],
  );
});

test('a fast worker takes no new message until it has answered the one it holds', () => {
  const slot = new WorkerSlot('9000', pino({ level: 'silent' }));
  const thread = { pendingBatches: 0 };
  slot.thread = thread as unknown as WorkerThread;
  slot.batchMillis = FAST_BATCH_MILLIS / 10;
  const batch = { id: 1, jobs: [], timer: undefined, sentNs: 0n };
  slot.inflight = [batch];
  thread.pendingBatches = 1; // the message is still being assembled in this turn
  assert.ok(slot.hasRoom && slot.isFast);
  thread.pendingBatches = 0; // posted
  assert.ok(!slot.hasRoom);
  slot.inflight = Array.from({ length: MAX_REQUESTS_PER_MESSAGE }, (_, i) => ({ ...batch, id: i }));
  thread.pendingBatches = MAX_REQUESTS_PER_MESSAGE;
  assert.ok(!slot.hasRoom, 'a full message');
  // A slow worker holds one batch more than it runs, posted or not.
  slot.batchMillis = FAST_BATCH_MILLIS * 10;
  slot.inflight = [batch];
  thread.pendingBatches = 0;
  assert.ok(slot.hasRoom && !slot.isFast);
  slot.inflight = [batch, { ...batch, id: 2 }];
  assert.ok(!slot.hasRoom);
});

test('requests a fast worker holds for its next message count against job_queue_size', async (t) => {
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, batchSize: 1, jobQueueSize: 4 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  // A few answers make the worker fast (it then takes work ahead into its next message).
  for (let i = 0; i < 3; i++) await rt.submit(request([1, 2, 3, 4]));
  // One turn: the first request is the batch the worker runs, four more may wait; the rest are
  // refused at once, as TorchServe's queue of 4 would.
  const burst = Array.from({ length: 12 }, () => rt.submit(request([1, 2, 3, 4])));
  assert.deepEqual(rt.queueStatus(), { remainingCapacity: 0, pendingRequests: 4 });
  const settled = await Promise.allSettled(burst);
  const served = settled.filter((s) => s.status === 'fulfilled').length;
  const refused = settled.filter((s) => s.status === 'rejected' && s.reason instanceof QueueFullError).length;
  assert.deepEqual({ served, refused }, { served: 5, refused: 7 });
  assert.deepEqual(rt.queueStatus(), { remainingCapacity: 4, pendingRequests: 0 });
});
