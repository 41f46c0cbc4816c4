/**
 * Issue #5 "Done when", black box against the real CLI: dynamic batching observed (a custom
 * handler reports the batch size it was given; the tensor handler stacks concurrent requests and
 * splits the answers back, as the batch-size histogram shows) and a full job queue answering 503
 * with a message saying so and Retry-After. One server for the whole file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedModelBytes } from '../fixtures/archive-builder.js';
import { httpRequest, makeWorkspace, startBackground } from '../helpers/tsserve.js';
import { addToStore, assertTsError, cleanupScope, clientFor, waitModelsReady, type Client } from './inference-support.js';

/** Answers each request with the size of the batch it arrived in. */
const BATCH_REPORTER = `
export function preprocess(requests) {
  return requests;
}
export function inference(requests, context) {
  return requests.map((r) => ({ id: r.body.id, batchSize: context.batchSize, workerId: context.workerId }));
}
`;

/** Takes 300 ms per request, without blocking the worker's thread. */
const SLOW_HANDLER = `
export async function handle(requests) {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return requests.map(() => 'done');
}
`;

/** Sum and count of the tsserve_batch_size histogram of one model in a Prometheus text. */
function batchHistogram(text: string, model: string): { sum: number; count: number } {
  const read = (suffix: string) => {
    const re = new RegExp(`^tsserve_batch_size_${suffix}\\{[^}]*model_name="${model}"[^}]*\\} (\\S+)$`, 'm');
    const m = re.exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { sum: read('sum'), count: read('count') };
}

describe('batching and the job queue on the real server', () => {
  const scope = cleanupScope();
  let c: Client;

  before(async () => {
    const ws = makeWorkspace(scope);
    const args = [
      await addToStore(ws, {
        name: 'reporter',
        model: await sharedModelBytes('add.onnx'),
        handler: 'reporter.mjs',
        handlerSource: BATCH_REPORTER,
        yaml: 'minWorkers: 1\nmaxWorkers: 1\nbatchSize: 4\nmaxBatchDelay: 200\n',
      }),
      await addToStore(ws, {
        name: 'addbatch',
        model: await sharedModelBytes('add.onnx'),
        yaml: 'minWorkers: 1\nmaxWorkers: 1\nbatchSize: 4\nmaxBatchDelay: 200\n',
      }),
      await addToStore(ws, {
        name: 'slow',
        model: await sharedModelBytes('add.onnx'),
        handler: 'slow.mjs',
        handlerSource: SLOW_HANDLER,
        yaml: 'minWorkers: 1\nmaxWorkers: 1\njobQueueSize: 1\n',
      }),
    ];
    const server = await startBackground(scope, ws, ['--ncs', '--models', ...args]);
    c = clientFor(ws, server);
    await waitModelsReady(c, ['reporter', 'addbatch', 'slow']);
  });
  after(() => scope.run());

  test('batch_size 4, max_batch_delay 200: 8 concurrent requests arrive in batches larger than 1', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, (_, id) => c.postJson('/predictions/reporter', { id })));
    const bodies = answers.map((res, id) => {
      assert.equal(res.status, 200, `request ${id}: ${res.text}`);
      return res.json<{ id: number; batchSize: number; workerId: string }>();
    });
    bodies.forEach((b, id) => assert.equal(b.id, id, 'each request gets its own answer'));
    const sizes = bodies.map((b) => b.batchSize);
    assert.ok(sizes.every((s) => s >= 1 && s <= 4), `batch sizes within batch_size: ${sizes}`);
    assert.ok(sizes.some((s) => s > 1), `some requests were batched: ${sizes}`);
    assert.equal(new Set(bodies.map((b) => b.workerId)).size, 1, 'one worker');
  });

  test('the tensor handler stacks concurrent requests and splits the answers back', async () => {
    const inputs = Array.from({ length: 8 }, (_, k) => [k, 10 * k, -k, 0.5]);
    const answers = await Promise.all(inputs.map((x) => c.postJson('/predictions/addbatch', x)));
    answers.forEach((res, k) => {
      assert.equal(res.status, 200, `request ${k}: ${res.text}`);
      assert.deepEqual(res.json(), inputs[k]!.map((v) => v + 1), `request ${k} gets its own row`);
    });
    assert.ok(c.metrics, 'metrics listener');
    const metrics = await httpRequest(`${c.metrics}/metrics`);
    assert.equal(metrics.status, 200);
    const h = batchHistogram(metrics.text, 'addbatch');
    assert.equal(h.sum, 8, `8 requests ran: ${JSON.stringify(h)}`);
    assert.ok(h.count < 8, `in fewer than 8 batches: ${JSON.stringify(h)}`);
  });

  test('a malformed request batched with good ones fails alone with 400; the others are answered', async () => {
    const bodies = ['[1, 1, 1, 1]', '[1, 2]', '[2, 2, 2, 2]', '[3, 3, 3', '{"input": [4, 4, 4, 4]}', '["x", 1, 2, 3]'];
    const answers = await Promise.all(bodies.map((b) => c.postJson('/predictions/addbatch', b)));
    assert.deepEqual(answers.map((r) => r.status), [200, 400, 200, 400, 200, 400], answers.map((r) => r.text).join('\n'));
    assert.deepEqual([0, 2, 4].map((k) => answers[k]!.json()), [[2, 2, 2, 2], [3, 3, 3, 3], [5, 5, 5, 5]]);
    assert.match(assertTsError(answers[1]!, 400, 'BadRequestException', 'short'), /^Input "input" expects float32 \[N,4\]: got 2 values per sample, expected 4$/);
    assert.match(assertTsError(answers[3]!, 400, 'BadRequestException', 'bad JSON'), /^Invalid JSON body/);
    assert.match(assertTsError(answers[5]!, 400, 'BadRequestException', 'string'), /element 0 is "x", not a number/);
  });

  test('job_queue_size 1 with one slow worker: concurrent requests beyond the queue get 503 queue full with Retry-After', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => c.infer('/predictions/slow', { body: 'x', headers: { 'content-type': 'text/plain' } })));
    const ok = answers.filter((r) => r.status === 200);
    const full = answers.filter((r) => r.status === 503);
    assert.equal(ok.length + full.length, 8, `every request answered 200 or 503: ${answers.map((r) => r.status)}`);
    assert.ok(ok.length >= 1, 'some were served');
    assert.ok(full.length >= 1, 'some were refused');
    for (const r of ok) assert.equal(r.text, 'done');
    for (const r of full) {
      const msg = assertTsError(r, 503, 'ServiceUnavailableException', 'queue full');
      assert.match(msg, /^Model "slow" Version "1\.0" job queue is full/);
      assert.doesNotMatch(msg, /has no worker/);
      assert.equal(r.headers['retry-after'], '1');
    }
    // Once the queue drains, the model serves again.
    const again = await c.infer('/predictions/slow', { body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.text, 'done');

    // The same over OIP: TorchServe's core error keeps its status, in OIP's shape.
    const v2 = await Promise.all(Array.from({ length: 8 }, () => c.postJson('/v2/models/slow/infer', { inputs: [] })));
    const v2full = v2.filter((r) => r.status === 503);
    assert.ok(v2full.length >= 1, `some v2 requests were refused: ${v2.map((r) => r.status)}`);
    for (const r of v2full) {
      assert.match(r.json<{ error: string }>().error, /job queue is full/);
      assert.equal(r.headers['retry-after'], '1');
    }
  });
});
