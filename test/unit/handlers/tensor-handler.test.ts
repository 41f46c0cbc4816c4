import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TsServeError } from '../../../src/errors.js';
import { InferenceError } from '../../../src/workers/inference-error.js';
import type { ModelRuntime } from '../../../src/workers/types.js';
import {
  ADD,
  MLP,
  json,
  makeSpec,
  request,
  tempDir,
  testEngine,
  text,
  writeMultiModel,
  writeSumModel,
} from '../workers/helpers.js';

async function rejects400(rt: ModelRuntime, req: Parameters<ModelRuntime['submit']>[0], pattern: RegExp): Promise<void> {
  await assert.rejects(rt.submit(req), (err: unknown) => {
    assert.ok(err instanceof TsServeError, String(err));
    assert.equal(err.status, 400, err.message);
    assert.equal(err.type, 'BadRequestException');
    assert.match(err.message, pattern);
    return true;
  });
}

test('malformed inputs answer 400 naming the expected input; the worker survives', async (t) => {
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: MLP }));
  t.after(() => rt.close(0));
  const x = Array.from({ length: 784 }, () => 0.1);

  await rejects400(rt, request(x.slice(1)), /^Input "input" expects float32 \[N,784\]: got 783 values per sample, expected 784$/);
  await rejects400(rt, request('{"input": [1, 2'), /^Invalid JSON body \(.*\); the model expects input "input" \(float32 \[N,784\]\)/);
  await rejects400(rt, request([...x.slice(1), 'a']), /^Input "input" expects float32 \[N,784\]: element 783 is "a", not a number$/);
  await rejects400(rt, request([x.slice(0, 392), x.slice(0, 391)]), /nested arrays have unequal lengths/);
  await rejects400(rt, request({ inputs: x }), /^Unknown input "inputs"; the model expects input "input" \(float32 \[N,784\]\)/);
  await rejects400(rt, request({}), /^Missing input "input"; the model expects input "input" \(float32 \[N,784\]\)/);
  await rejects400(rt, request({ input: x, extra: 1 }), /^Unknown input "extra"/);
  await rejects400(
    rt,
    request(new Uint8Array(100), { contentType: 'application/octet-stream' }),
    /^Input "input" expects float32 \[N,784\]: got 100 bytes per sample, expected 3136/,
  );
  await rejects400(rt, request(new Uint8Array(0), { contentType: 'application/octet-stream' }), /has no body/);

  const ok = await rt.submit(request(x));
  assert.equal((json(ok.body) as number[]).length, 10);
  assert.equal(rt.workers()[0]!.restarts, 0);
});

test('multi-input models take an object keyed by input name', async (t) => {
  const dir = tempDir(t);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: writeSumModel(dir) }));
  t.after(() => rt.close(0));
  assert.deepEqual(json((await rt.submit(request({ a: [1, 2], b: [10, 20] }))).body), [11, 22]);
  await rejects400(rt, request([1, 2]), /^Expected a JSON object keyed by input name; the model expects inputs "a" \(float32 \[N,2\]\), "b" \(float32 \[N,2\]\)/);
  await rejects400(rt, request({ a: [1, 2] }), /^Missing input "b"/);
  await rejects400(rt, request(new Uint8Array(8), { contentType: 'application/octet-stream' }), /single-input model/);
});

test('multi-output models answer an object keyed by output name; dtypes round-trip', async (t) => {
  const dir = tempDir(t);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: writeMultiModel(dir) }));
  t.after(() => rt.close(0));
  const res = await rt.submit(request({ f: [1.5, -2], i: [1, '9007199254740993', -3], b: true }));
  assert.equal(
    text(res.body),
    '{\n  "fo": [\n    1.5,\n    -2\n  ],\n  "io": [\n    1,\n    9007199254740993,\n    -3\n  ],\n  "bo": false\n}',
  );
  await rejects400(rt, request({ f: [1, 2], i: [1.5, 2, 3], b: true }), /^Input "i" expects int64 \[N,3\]: element 0 is 1\.5, not a 64-bit integer$/);
  await rejects400(rt, request({ f: [1, 2], i: [1, 2, 3], b: 'yes' }), /^Input "b" expects bool \[N\]: got "yes", not a boolean$/);
});

test('KServe v1: {"instances": [...]} → {"predictions": [...]}', async (t) => {
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: ADD, batchSize: 4, maxBatchDelayMs: 20 }));
  t.after(() => rt.close(0));
  const res = await rt.submit(request({ instances: [[1, 2, 3, 4], { input: [0, 0, 0, 0] }] }, { protocol: 'kserve-v1' }));
  assert.equal(res.contentType, 'application/json');
  assert.deepEqual(json(res.body), { predictions: [[2, 3, 4, 5], [1, 1, 1, 1]] });
  await rejects400(rt, request({ instances: [[1, 2, 3, 4], [1]] }, { protocol: 'kserve-v1' }), /^Instance 1: Input "input" expects float32 \[N,4\]/);
  await rejects400(rt, request([1, 2, 3, 4], { protocol: 'kserve-v1' }), /^Expected \{"instances": \[\.\.\.\]\}/);
});

test('OIP v2 JSON: shapes, FP32 / INT64 / BOOL, id echoed, requested outputs', async (t) => {
  const dir = tempDir(t);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: writeMultiModel(dir), name: 'multi', version: '2.0' }));
  t.after(() => rt.close(0));
  const body = {
    id: 'abc',
    inputs: [
      { name: 'f', shape: [2, 2], datatype: 'FP32', data: [[1, 2], [3, 4.5]] },
      { name: 'i', shape: [2, 3], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6] },
      { name: 'b', shape: [2], datatype: 'BOOL', data: [true, false] },
    ],
  };
  const res = await rt.submit(request(body, { protocol: 'oip-v2' }));
  assert.equal(res.contentType, 'application/json');
  assert.deepEqual(json(res.body), {
    model_name: 'multi',
    model_version: '2.0',
    id: 'abc',
    outputs: [
      { name: 'fo', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4.5] },
      { name: 'io', datatype: 'INT64', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
      { name: 'bo', datatype: 'BOOL', shape: [2], data: [false, true] },
    ],
  });
  const some = await rt.submit(request({ ...body, id: undefined, outputs: [{ name: 'bo' }] }, { protocol: 'oip-v2' }));
  assert.deepEqual(json(some.body), {
    model_name: 'multi',
    model_version: '2.0',
    outputs: [{ name: 'bo', datatype: 'BOOL', shape: [2], data: [false, true] }],
  });
});

test('OIP v2 binary extension in and out', async (t) => {
  const dir = tempDir(t);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: writeMultiModel(dir) }));
  t.after(() => rt.close(0));
  const f = new Float32Array([1, 2, 3, 4]);
  const i = new BigInt64Array([1n, -2n, 3n, 2n ** 62n, 5n, 6n]);
  const header = JSON.stringify({
    inputs: [
      { name: 'f', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } },
      { name: 'i', shape: [2, 3], datatype: 'INT64', parameters: { binary_data_size: 48 } },
      { name: 'b', shape: [2], datatype: 'BOOL', data: [false, true] },
    ],
    outputs: [{ name: 'io', parameters: { binary_data: true } }, { name: 'fo' }],
  });
  const h = Buffer.from(header);
  const bodyBytes = Buffer.concat([h, Buffer.from(f.buffer), Buffer.from(i.buffer)]);
  const res = await rt.submit(
    request(new Uint8Array(bodyBytes), {
      protocol: 'oip-v2',
      contentType: 'application/octet-stream',
      headers: { 'inference-header-content-length': String(h.byteLength) },
    }),
  );
  assert.equal(res.contentType, 'application/octet-stream');
  const n = Number(res.headers!['Inference-Header-Content-Length']);
  const body = Buffer.from(res.body);
  const head = JSON.parse(body.subarray(0, n).toString('utf8')) as { outputs: Record<string, unknown>[] };
  assert.deepEqual(head.outputs, [
    { name: 'io', datatype: 'INT64', shape: [2, 3], parameters: { binary_data_size: 48 } },
    { name: 'fo', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] },
  ]);
  const raw = body.subarray(n);
  assert.equal(raw.byteLength, 48);
  assert.deepEqual(Array.from(new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + 48))), Array.from(i));

  // Everything in binary with binary_data_output.
  const all = await rt.submit(
    request(
      {
        parameters: { binary_data_output: true },
        inputs: [
          { name: 'f', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
          { name: 'i', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] },
          { name: 'b', shape: [1], datatype: 'BOOL', data: [true] },
        ],
      },
      { protocol: 'oip-v2' },
    ),
  );
  const m = Number(all.headers!['Inference-Header-Content-Length']);
  assert.equal(all.body.byteLength, m + 8 + 24 + 1);
  assert.equal(all.body[all.body.byteLength - 1], 0, 'bo = not true');
});

test('OIP v2 malformed requests → 400 with the KServe messages', async (t) => {
  const dir = tempDir(t);
  const { engine } = testEngine(t);
  const rt = await engine.create(makeSpec({ serializedFile: writeMultiModel(dir), name: 'multi' }));
  t.after(() => rt.close(0));
  const good = [
    { name: 'f', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
    { name: 'i', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] },
    { name: 'b', shape: [1], datatype: 'BOOL', data: [true] },
  ];
  const oip = (body: unknown) => request(body, { protocol: 'oip-v2' });
  const cases: [unknown, RegExp][] = [
    ['{"inputs": [', /^Unrecognized request format: /],
    [{ inputs: 'x' }, /^Unrecognized request format: "inputs" must be an array/],
    [{ inputs: [good[0], good[1]] }, /^Missing input "b": model "multi" expects "f" \(FP32 \[-1,2\]\), "i" \(INT64 \[-1,3\]\), "b" \(BOOL \[-1\]\)$/],
    [{ inputs: [...good, { name: 'zz', shape: [1], datatype: 'FP32', data: [1] }] }, /^Unknown input "zz"/],
    [{ inputs: [{ ...good[0], datatype: 'FP64' }, good[1], good[2]] }, /^Input "f" expects FP32 \[-1,2\]: got datatype FP64$/],
    [{ inputs: [{ ...good[0], datatype: 'FLOAT' }, good[1], good[2]] }, /^invalid datatype FLOAT in the input/],
    [{ inputs: [{ ...good[0], shape: [1, 3] }, good[1], good[2]] }, /^Input "f" expects FP32 \[-1,2\]: got shape \[1,3\]$/],
    [{ inputs: [{ ...good[0], data: [1, 2, 3] }, good[1], good[2]] }, /^Input "f" expects FP32 \[-1,2\]: shape \[1,2\] needs 2 values, got 3$/],
    [{ inputs: [{ name: 'f', shape: [1, 2], datatype: 'FP32' }, good[1], good[2]] }, /^'data' field is missing for input 'f' for model 'multi'$/],
    [{ inputs: [good[0], { ...good[1], shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, good[2]] }, /^Inputs disagree on the batch dimension/],
    [{ inputs: good, outputs: [{ name: 'nope' }] }, /^Unknown output "nope"/],
  ];
  for (const [body, pattern] of cases) {
    await assert.rejects(rt.submit(oip(body)), (err: unknown) => {
      assert.ok(err instanceof InferenceError, String(err));
      assert.equal(err.status, 400, err.message);
      assert.match(err.message, pattern);
      assert.equal(err.protocol, 'oip-v2');
      assert.deepEqual(err.body(), { error: err.message }, 'OIP error body');
      return true;
    });
  }
  const ok = await rt.submit(oip({ inputs: good }));
  assert.equal(ok.status, 200);
});
