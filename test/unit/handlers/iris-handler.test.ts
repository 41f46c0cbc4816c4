/**
 * The custom handler of the bundled example (scripts/iris_handler.mjs, shipped in
 * model_store/iris.mar; docs/handlers.md "Worked example: class names"), run by the real engine on
 * the extracted archive: class names on /predictions and KServe v1, the raw tensor on OIP v2,
 * errors untouched.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { openModel } from '../../../src/archive/open-model.js';
import { TsServeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import { REPO_ROOT } from '../../helpers/repo.js';
import { json, makeSpec, request, testEngine } from '../workers/helpers.js';

const SETOSA = [5.1, 3.5, 1.4, 0.2];
const VIRGINICA = [6.7, 3.0, 5.2, 2.3];

async function irisRuntime(t: TestContext) {
  const work = await mkdtemp(path.join(os.tmpdir(), 'tsserve-iris-handler-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const model = await openModel('iris.mar', {
    modelStore: path.join(REPO_ROOT, 'model_store'),
    workRoot: work,
    limits: { maxEntries: 100, maxUncompressedBytes: 10_000_000 },
    log: silentLogger(),
  });
  t.after(() => model.close());
  assert.equal(model.handler.kind, 'js');
  const { engine } = testEngine(t);
  const rt = await engine.create(
    makeSpec({ serializedFile: model.serializedFile, modelDir: model.dir, handler: 'iris_handler.mjs', batchSize: 8, maxBatchDelayMs: 20 }),
  );
  t.after(() => rt.close(0));
  return rt;
}

/** Keys in answer order with their values; asserts a probability distribution. */
function ranked(answer: unknown): string[] {
  const entries = Object.entries(answer as Record<string, number>);
  assert.deepEqual(entries.map(([k]) => k).sort(), ['setosa', 'versicolor', 'virginica']);
  const values = entries.map(([, v]) => v);
  assert.deepEqual([...values].sort((a, b) => b - a), values, 'ordered by probability');
  assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  return entries.map(([k]) => k);
}

test('/predictions answers {class: probability}, most probable first, pretty-printed', async (t) => {
  const rt = await irisRuntime(t);
  // Concurrent requests share a batch: each still gets its own row.
  const [a, b] = await Promise.all([rt.submit(request(SETOSA)), rt.submit(request(VIRGINICA))]);
  assert.equal(a.status, 200);
  const body = Buffer.from(a.body).toString('utf8');
  assert.equal(body, JSON.stringify(JSON.parse(body), null, 2));
  assert.equal(ranked(json(a.body))[0], 'setosa');
  assert.ok((json(a.body) as Record<string, number>).setosa > 0.999);
  assert.equal(ranked(json(b.body))[0], 'virginica');
});

test('KServe v1 predictions carry class names; OIP v2 keeps the raw tensor', async (t) => {
  const rt = await irisRuntime(t);
  const v1 = await rt.submit(request({ instances: [VIRGINICA, SETOSA] }, { protocol: 'kserve-v1' }));
  assert.equal(v1.status, 200);
  assert.equal(v1.contentType, 'application/json');
  const predictions = (json(v1.body) as { predictions: unknown[] }).predictions;
  assert.deepEqual(predictions.map((p) => ranked(p)[0]), ['virginica', 'setosa']);

  const v2 = await rt.submit(
    request({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: SETOSA }] }, { protocol: 'oip-v2' }),
  );
  assert.equal(v2.status, 200);
  const out = json(v2.body) as { model_name: string; outputs: { name: string; datatype: string; shape: number[]; data: number[] }[] };
  assert.equal(out.model_name, 'm');
  assert.equal(out.outputs.length, 1);
  const [tensor] = out.outputs;
  assert.deepEqual([tensor!.name, tensor!.datatype, tensor!.shape], ['probabilities', 'FP32', [1, 3]]);
  assert.ok(tensor!.data[0]! > 0.999);
});

test('a malformed request still answers the tensor handler error', async (t) => {
  const rt = await irisRuntime(t);
  await assert.rejects(rt.submit(request([5.1, 3.5])), (err: unknown) => {
    assert.ok(err instanceof TsServeError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.message, 'Input "input" expects float32 [N,4]: got 2 values per sample, expected 4');
    return true;
  });
});

test('docs/handlers.md shows the handler verbatim', async () => {
  const source = await readFile(path.join(REPO_ROOT, 'scripts', 'iris_handler.mjs'), 'utf8');
  const doc = await readFile(path.join(REPO_ROOT, 'docs', 'handlers.md'), 'utf8');
  assert.ok(doc.includes('```js\n' + source + '```\n'), 'update the worked example in docs/handlers.md');
});
