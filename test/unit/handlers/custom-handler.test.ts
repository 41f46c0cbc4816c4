import assert from 'node:assert/strict';
import { test } from 'node:test';
import { customSteps, splitEntry } from '../../../src/handlers/load-handler.js';
import { MLP, ADD, canonicalInput, json, makeSpec, request, tempDir, testEngine, text, writeHandler } from '../workers/helpers.js';

/** The worked example of docs/handlers.md: argmax of the mlp output, with the request id. */
const ARGMAX = `
let calls = 0;
export function initialize(context) {
  context.log.info('argmax handler for %s %s', context.modelName, context.modelVersion);
}
export function preprocess(requests, context) {
  calls++;
  const data = new Float32Array(requests.length * 784);
  requests.forEach((r, i) => data.set(r.data ?? r.body, i * 784));
  return new context.ort.Tensor('float32', data, [requests.length, 784]);
}
export async function postprocess(outputs, context) {
  const out = outputs.output.data;
  return context.requestIds.map((id, i) => {
    const row = Array.from(out.subarray(i * 10, i * 10 + 10));
    context.setResponseHeader(i, 'x-calls', String(calls));
    context.setResponseContentType(i, 'application/json');
    if (context.getRequestHeader(i, 'x-teapot') === 'yes') context.setResponseStatus(i, 418);
    return { id, class: row.indexOf(Math.max(...row)) };
  });
}
`;

test('a custom ES module handler: ORT tensors, request headers, response status and headers', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'argmax.mjs', ARGMAX);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: MLP, modelDir: dir, handler: 'argmax.mjs' }));
  t.after(() => rt.close(0));
  const x = Array.from(canonicalInput(784));
  const req = request(x, { headers: { 'x-teapot': 'yes' } });
  const res = await rt.submit(req);
  assert.equal(res.status, 418);
  assert.equal(res.contentType, 'application/json');
  assert.equal(res.headers!['x-calls'], '1');
  assert.deepEqual(json(res.body), { id: req.id, class: 1 });
});

test('default-export objects and classes, `module:function` entry points', async (t) => {
  const dir = tempDir(t);
  writeHandler(dir, 'obj.mjs', 'export default { postprocess(batch) { return batch.requests.map(() => "from object"); } };\n');
  writeHandler(
    dir,
    'cls.js',
    'export default class H { initialize() { this.greeting = "from class"; } postprocess(b) { return b.requests.map(() => this.greeting); } }\n',
  );
  writeHandler(dir, 'entry.mjs', 'export function run(requests, ctx) { return requests.map((r) => "entry " + ctx.batchSize); }\n');
  const { engine } = testEngine(t);
  for (const [handler, want] of [
    ['obj.mjs', 'from object'],
    ['cls.js', 'from class'],
    ['entry.mjs:run', 'entry 1'],
  ] as const) {
    const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler }));
    t.after(() => rt.close(0));
    assert.equal(text((await rt.submit(request([1, 2, 3, 4]))).body), want, handler);
  }
});

test('handler files must exist and stay inside the model directory', async (t) => {
  const dir = tempDir(t);
  const { engine } = testEngine(t);
  for (const handler of ['../outside.mjs', 'missing.mjs', 'handler.py']) {
    const rt = await engine.create(makeSpec({ serializedFile: ADD, modelDir: dir, handler, minWorkers: 0, maxWorkers: 0 }));
    t.after(() => rt.close(0));
    await assert.rejects(rt.scale(1, 1, true), (err: unknown) => {
      assert.match(String((err as { cause?: Error }).cause?.message), /not found|outside|unknown handler/);
      return true;
    });
  }
});

test('customSteps and splitEntry', () => {
  const steps = customSteps({ preprocess: () => 1, default: { postprocess: () => 2, preprocess: () => 3 } });
  assert.equal(steps.preprocess?.(), 1, 'named exports win over the default export');
  assert.equal(steps.postprocess?.(), 2);
  assert.deepEqual(splitEntry('h.mjs:handle'), { file: 'h.mjs', entry: 'handle' });
  assert.deepEqual(splitEntry('C:\\m\\h.mjs'), { file: 'C:\\m\\h.mjs' });
  assert.deepEqual(splitEntry('h.mjs'), { file: 'h.mjs' });
});
