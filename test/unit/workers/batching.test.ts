import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADD, MLP, json, makeSpec, request, tempDir, testEngine, writeFixedModel, writeHandler } from './helpers.js';

const BATCH_REPORTER = `
export function postprocess(batch, context) {
  return batch.requests.map(() => ({ batchSize: context.batchSize }));
}
`;

test('8 concurrent requests with batchSize 4 and maxBatchDelay 50 run in batches > 1', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'report.mjs', BATCH_REPORTER);
  const { engine, metrics } = testEngine(t);
  const rt = await engine.create(
    makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'report.mjs', batchSize: 4, maxBatchDelayMs: 50 }),
  );
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => rt.submit(request([i, i, i, i]))));
  const sizes = answers.map((a) => (json(a.body) as { batchSize: number }).batchSize);
  assert.ok(sizes.some((s) => s > 1), `batch sizes ${sizes.join(',')}`);
  assert.ok(sizes.every((s) => s <= 4));
  assert.equal(metrics.batches.reduce((a, b) => a + b, 0), 8);
  assert.ok(Math.max(...metrics.batches) > 1);
});

test('a lone request waits at most maxBatchDelay for company', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'report.mjs', BATCH_REPORTER);
  const { engine } = testEngine(t);
  const rt = await engine.create(
    makeSpec({ serializedFile: ADD, modelDir: dir, handler: 'report.mjs', batchSize: 8, maxBatchDelayMs: 150 }),
  );
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const started = Date.now();
  const a = await rt.submit(request([1, 2, 3, 4]));
  const took = Date.now() - started;
  assert.deepEqual(json(a.body), { batchSize: 1 });
  assert.ok(took >= 140 && took < 2000, `took ${took} ms`);
});

test('stacked mlp batches answer each request with its own output', async (t) => {
  const { engine, metrics } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: MLP, batchSize: 8, maxBatchDelayMs: 30 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const inputs = Array.from({ length: 6 }, (_, k) => Array.from({ length: 784 }, (_, i) => ((i * (k + 1)) % 97) / 97 - 0.5));
  const single: number[][] = [];
  for (const x of inputs) single.push(json((await rt.submit(request(x))).body) as number[]);
  metrics.batches.length = 0;
  const batched = await Promise.all(inputs.map((x) => rt.submit(request(x))));
  assert.ok(Math.max(...metrics.batches) > 1, `batches ${metrics.batches.join(',')}`);
  batched.forEach((res, k) => {
    const got = json(res.body) as number[];
    got.forEach((v, i) => assert.ok(Math.abs(v - single[k]![i]!) < 1e-5, `request ${k} output ${i}`));
  });
});

test('a bad request in a batch fails alone', async (t) => {
  const { engine, metrics } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, batchSize: 4, maxBatchDelayMs: 30 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const results = await Promise.allSettled([
    rt.submit(request([1, 1, 1, 1])),
    rt.submit(request([1, 2, 3])),
    rt.submit(request([2, 2, 2, 2])),
  ]);
  assert.equal(metrics.batches.at(-1), 3);
  assert.equal(results[0]!.status, 'fulfilled');
  assert.deepEqual(json((results[0] as PromiseFulfilledResult<{ body: Uint8Array }>).value.body), [2, 2, 2, 2]);
  assert.equal(results[1]!.status, 'rejected');
  assert.equal(((results[1] as PromiseRejectedResult).reason as { status: number }).status, 400);
  assert.deepEqual(json((results[2] as PromiseFulfilledResult<{ body: Uint8Array }>).value.body), [3, 3, 3, 3]);
});

test('a model without a batch dimension runs one request at a time', async (t) => {
  const dir = tempDir(t);
  const file = writeFixedModel(dir);
  const { engine, metrics } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: file, batchSize: 4, maxBatchDelayMs: 200 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  const started = Date.now();
  const answers = await Promise.all([rt.submit(request([1, 2, 3])), rt.submit(request([4, 5, 6]))]);
  assert.deepEqual(answers.map((a) => json(a.body)), [
    [2, 4, 6],
    [8, 10, 12],
  ]);
  assert.deepEqual(metrics.batches, [1, 1]);
  assert.ok(Date.now() - started < 1000, 'no batch delay for per-request models');
});
