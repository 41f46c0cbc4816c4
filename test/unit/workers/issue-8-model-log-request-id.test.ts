/**
 * Issue #8: what a handler prints while serving a batch reaches the model log with model,
 * version, worker id and the request ids of that batch, so it can be matched with the access
 * and server log lines of the same requests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADD, captureLogger, makeSpec, request, tempDir, testEngine, waitFor, writeHandler } from './helpers.js';

const TALKER = `
export function initialize(context) {
  console.log('loading', context.modelName);
}
export function preprocess(requests, context) {
  console.log('batch of', requests.length);
  context.log.info('via context.log');
  return requests.map((r) => String(r.body));
}
export function inference(data) { return data; }
export function postprocess(data) { return data; }
`;

async function talker(t: Parameters<typeof tempDir>[0] & { after(fn: () => Promise<void> | void): void }, batchSize: number) {
  const dir = tempDir(t);
  writeHandler(dir, 'talker.mjs', TALKER);
  const capture = captureLogger();
  const { engine } = testEngine(t, { modelLog: capture.log });
  const rt = await engine.create(makeSpec({ name: 'talk', version: '2.0', serializedFile: ADD, modelDir: dir, handler: 'talker.mjs', batchSize, maxBatchDelayMs: 500 }));
  t.after(() => rt.close(0));
  await rt.scale(1, 1, true);
  return { rt, lines: capture.lines };
}

test('console output while serving a request carries its id, model, version and worker', async (t) => {
  const { rt, lines } = await talker(t, 1);
  const req = request('x', { contentType: 'text/plain' });
  req.id = 'client-id-42';
  await rt.submit(req);
  await waitFor(() => lines.some((l) => l.msg === 'via context.log'), 5000, 'handler lines');
  const printed = lines.find((l) => l.msg === 'batch of 1')!;
  assert.equal(printed.reqId, 'client-id-42');
  assert.equal(printed.model, 'talk');
  assert.equal(printed.version, '2.0');
  assert.equal(printed.workerId, '9000');
  assert.equal(printed.worker, 'W-9000-talk_2.0');
  assert.equal(printed.stream, 'stdout');
  assert.equal(lines.find((l) => l.msg === 'via context.log')!.reqId, 'client-id-42');
  // Printed while loading, outside any request: no id.
  const loading = lines.find((l) => l.msg === 'loading talk')!;
  assert.equal(loading.reqId, undefined);
  assert.equal(loading.worker, 'W-9000-talk_2.0');
});

test('a batch of several requests logs all their ids, comma-separated', async (t) => {
  const { rt, lines } = await talker(t, 2);
  const a = request('a', { contentType: 'text/plain' });
  const b = request('b', { contentType: 'text/plain' });
  a.id = 'id-a';
  b.id = 'id-b';
  await Promise.all([rt.submit(a), rt.submit(b)]);
  await waitFor(() => lines.some((l) => l.msg === 'batch of 2'), 5000, 'batch line');
  assert.equal(lines.find((l) => l.msg === 'batch of 2')!.reqId, 'id-a,id-b');
  // The next batch's lines carry only its own id.
  const c = request('c', { contentType: 'text/plain' });
  c.id = 'id-c';
  await rt.submit(c);
  await waitFor(() => lines.some((l) => l.msg === 'batch of 1'), 5000, 'single line');
  assert.equal(lines.find((l) => l.msg === 'batch of 1')!.reqId, 'id-c');
});
