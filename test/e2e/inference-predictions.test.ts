/**
 * Issue #5 "Done when", black box against the real CLI with token authorization on: predictions
 * for single- and multi-input models (JSON, raw float32, multipart), KServe v1, the Open Inference
 * Protocol v2 (metadata, readiness, infer round trip with FP32/INT64/BOOL, versions, the binary
 * extension, unknown model), explanations without an explainer, a custom JS handler, the image
 * classifier on a PNG made here, and every malformed-input case answering 400 that names the
 * expected input — after which the server keeps serving. One server for the whole file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { imageModel, encodeModel, MULTI_MODEL, SUM_PRODUCT_MODEL } from '../fixtures/onnx-models.js';
import { sharedModelBytes } from '../fixtures/archive-builder.js';
import { httpRequest, makeWorkspace, startBackground } from '../helpers/tsserve.js';
import {
  addToStore,
  assertTsError,
  canonicalInput,
  cleanupScope,
  clientFor,
  waitModelsReady,
  type Client,
} from './inference-support.js';

const MODELS = ['add', 'mlp', 'sumprod', 'multi', 'classifier', 'digits', 'strings', 'half'];

/** String (OIP BYTES) and float16 identities. */
const STRING_MODEL = encodeModel({
  nodes: [{ opType: 'Identity', input: ['s'], output: ['so'] }],
  inputs: [['s', 'STRING', ['N']]],
  outputs: [['so', 'STRING', ['N']]],
});
const HALF_MODEL = encodeModel({
  nodes: [{ opType: 'Identity', input: ['h'], output: ['ho'] }],
  inputs: [['h', 'FLOAT16', ['N', 2]]],
  outputs: [['ho', 'FLOAT16', ['N', 2]]],
});

/** The image model: mean colour per channel → logits red = R, green = G, blue = B, gray = 0. */
const IMAGE_CLASSES = 4;
const IMAGE_WEIGHTS = [1, 0, 0, 0, /* G */ 0, 1, 0, 0, /* B */ 0, 0, 1, 0];

/** A custom handler on mlp.onnx: own preprocess and postprocess, labels from model_config.yaml. */
const DIGITS_HANDLER = `
let initialized = 0;
export function initialize(context) {
  initialized++;
  context.log.info('digits handler for %s', context.modelName);
}
export function preprocess(requests, context) {
  const data = new Float32Array(requests.length * 784);
  requests.forEach((r, i) => {
    const body = r.data ?? r.body;
    const px = body && body.pixels;
    if (!Array.isArray(px) || px.length !== 784) {
      throw Object.assign(new Error('send {"pixels": [784 numbers]}'), { status: 400 });
    }
    data.set(px, i * 784);
  });
  return new context.ort.Tensor('float32', data, [requests.length, 784]);
}
export function postprocess(outputs, context) {
  const labels = context.modelYamlConfig.handler.labels;
  const out = outputs.output.data;
  return context.requestIds.map((id, i) => {
    const row = Array.from(out.subarray(i * 10, i * 10 + 10));
    const k = row.indexOf(Math.max(...row));
    context.setResponseContentType(i, 'application/json');
    context.setResponseHeader(i, 'x-handler', context.modelYamlConfig.handler.tag);
    return { label: labels[k], index: k, score: row[k], model: context.modelName, initialized, batch: context.batchSize };
  });
}
export function explain(data, context) {
  return Array.from({ length: context.batchSize }, () => ({ explained: true, rows: data.dims[0] }));
}
`;

const DIGITS_YAML = `minWorkers: 1
maxWorkers: 1
handler:
  tag: digits-v1
  labels: [zero, one, two, three, four, five, six, seven, eight, nine]
`;

/** A multipart/form-data body with one file part. */
function multipart(field: string, filename: string, contentType: string, data: Buffer): { body: Buffer; contentType: string } {
  const boundary = '----tsserve-e2e-boundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), data, Buffer.from(`\r\n--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function assertClose(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= tol, `${what}[${i}]: ${v} vs ${expected[i]}`));
}

describe('inference on the real server', () => {
  const scope = cleanupScope();
  let c: Client;

  before(async () => {
    const ws = makeWorkspace(scope, { default_workers_per_model: '1' });
    const args = [
      await addToStore(ws, { name: 'add', model: await sharedModelBytes('add.onnx') }),
      await addToStore(ws, { name: 'mlp', model: await sharedModelBytes('mlp.onnx') }),
      await addToStore(ws, { name: 'sumprod', model: encodeModel(SUM_PRODUCT_MODEL) }),
      await addToStore(ws, { name: 'multi', model: encodeModel(MULTI_MODEL) }),
      await addToStore(ws, {
        name: 'classifier',
        model: encodeModel(imageModel(224, IMAGE_WEIGHTS, IMAGE_CLASSES)),
        handler: 'image_classifier',
        yaml: 'handler:\n  topk: 3\n',
        extra: { 'index_to_name.json': JSON.stringify({ 0: ['n00000001', 'red'], 1: 'green', 2: 'blue', 3: 'gray' }) },
      }),
      await addToStore(ws, { name: 'strings', model: STRING_MODEL }),
      await addToStore(ws, { name: 'half', model: HALF_MODEL }),
      await addToStore(ws, { name: 'digits', model: await sharedModelBytes('mlp.onnx'), handler: 'digits.mjs', handlerSource: DIGITS_HANDLER, yaml: DIGITS_YAML }),
    ];
    const server = await startBackground(scope, ws, ['--ncs', '--models', ...args]);
    c = clientFor(ws, server);
    await waitModelsReady(c, MODELS);
  });
  after(() => scope.run());

  test('/ping is Healthy without a key; the inference routes need one', async () => {
    const ping = await httpRequest(`${c.inference}/ping`);
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.json(), { status: 'Healthy' });
    const noKey = await httpRequest(`${c.inference}/predictions/add`, { method: 'POST', body: '[1,2,3,4]', headers: { 'content-type': 'application/json' } });
    assert.equal(noKey.status, 400, 'token authorization is on');
  });

  test('single-input model: JSON nested array and raw float32 bytes give input + 1; mlp matches the reference', async () => {
    const json = await c.postJson('/predictions/add', [1, 2, 3, 4]);
    assert.equal(json.status, 200, json.text);
    assert.deepEqual(json.json(), [2, 3, 4, 5]);
    assert.equal(json.headers['content-type'], undefined, 'no Content-Type, as TorchServe');

    const raw = Buffer.from(new Float32Array([0.5, -1, 10, 100]).buffer);
    const bin = await c.infer('/predictions/add', { body: raw, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(bin.status, 200, bin.text);
    assert.deepEqual(bin.json(), [1.5, 0, 11, 101]);

    // Explicit version and the object form keyed by input name.
    const versioned = await c.postJson('/predictions/add/1.0', { input: [0, 0, 0, 0] });
    assert.equal(versioned.status, 200, versioned.text);
    assert.deepEqual(versioned.json(), [1, 1, 1, 1]);

    // No Content-Type at all (curl -T): the body is still read as JSON.
    const untyped = await c.infer('/predictions/add', { method: 'PUT', body: '[[4, 3, 2, 1]]' });
    assert.equal(untyped.status, 200, untyped.text);
    assert.deepEqual(untyped.json(), [5, 4, 3, 2]);

    const mlp = await c.postJson('/predictions/mlp', Array.from(canonicalInput(784)));
    assert.equal(mlp.status, 200, mlp.text);
    const out = mlp.json<number[]>();
    assert.equal(out.length, 10);
    assert.equal(out.indexOf(Math.max(...out)), 1, 'argmax');
    assertClose(out.slice(0, 5), [-0.036352, 0.10862, -0.089146, 0.070615, 0.000463], 1e-3, 'mlp reference output');

    const mlpRaw = await c.infer('/predictions/mlp', { body: Buffer.from(canonicalInput(784).buffer), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(mlpRaw.status, 200, mlpRaw.text);
    assertClose(mlpRaw.json<number[]>(), out, 1e-6, 'raw body gives the JSON answer');
  });

  test('multi-input, multi-output model: an object keyed by input name in, by output name out', async () => {
    const res = await c.postJson('/predictions/sumprod', { a: [1, 2, 3], b: [4, 5, 6] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), { sum: [5, 7, 9], product: [4, 10, 18] });

    // Mixed dtypes: FP32 [N,2], INT64 [N,3], BOOL [N] (a sample of b is a scalar).
    const multi = await c.postJson('/predictions/multi', { f: [1.5, -2], i: [1, -2, 3], b: true });
    assert.equal(multi.status, 200, multi.text);
    assert.deepEqual(multi.json(), { fo: [1.5, -2], io: [1, -2, 3], bo: false });

    // The sample may also arrive as the multipart field "data" (TorchServe's row.get("data")).
    const form = multipart('data', 'sample.json', 'application/json', Buffer.from(JSON.stringify({ a: [1, 1, 1], b: [2, 2, 2] })));
    const viaForm = await c.infer('/predictions/sumprod', { body: form.body, headers: { 'content-type': form.contentType } });
    assert.equal(viaForm.status, 200, viaForm.text);
    assert.deepEqual(viaForm.json(), { sum: [3, 3, 3], product: [2, 2, 2] });
  });

  test('KServe v1 :predict takes one sample per instance', async () => {
    const add = await c.postJson('/v1/models/add:predict', { instances: [[1, 2, 3, 4], [0, 0, 0, 0]] });
    assert.equal(add.status, 200, add.text);
    assert.match(String(add.headers['content-type']), /^application\/json/);
    assert.deepEqual(add.json(), { predictions: [[2, 3, 4, 5], [1, 1, 1, 1]] });

    const sp = await c.postJson('/v1/models/sumprod:predict', { instances: [{ a: [1, 2, 3], b: [1, 2, 3] }, { a: [0, 0, 0], b: [9, 9, 9] }] });
    assert.equal(sp.status, 200, sp.text);
    assert.deepEqual(sp.json(), { predictions: [{ sum: [2, 4, 6], product: [1, 4, 9] }, { sum: [9, 9, 9], product: [0, 0, 0] }] });

    const ready = await c.infer('/v1/models/add', { method: 'GET' });
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(ready.json(), { name: 'add', ready: true });
  });

  test('OIP v2: server metadata, model metadata with -1 dims, readiness', async () => {
    const server = await c.infer('/v2', { method: 'GET' });
    assert.equal(server.status, 200, server.text);
    const meta = server.json<{ name: string; version: string; extensions: string[] }>();
    assert.equal(meta.name, 'tsserve');
    assert.equal(typeof meta.version, 'string');
    assert.ok(Array.isArray(meta.extensions));

    assert.deepEqual((await httpRequest(`${c.inference}/v2/health/live`)).json(), { live: true });
    assert.deepEqual((await httpRequest(`${c.inference}/v2/health/ready`)).json(), { ready: true });

    const expected = {
      name: 'sumprod',
      versions: ['1.0'],
      platform: 'onnx_onnxv1',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 3] },
        { name: 'b', datatype: 'FP32', shape: [-1, 3] },
      ],
      outputs: [
        { name: 'sum', datatype: 'FP32', shape: [-1, 3] },
        { name: 'product', datatype: 'FP32', shape: [-1, 3] },
      ],
    };
    for (const url of ['/v2/models/sumprod', '/v2/models/sumprod/versions/1.0']) {
      const res = await c.infer(url, { method: 'GET' });
      assert.equal(res.status, 200, `${url}: ${res.text}`);
      assert.deepEqual(res.json(), expected, url);
    }
    const multi = await c.infer('/v2/models/multi', { method: 'GET' });
    assert.deepEqual(multi.json<{ inputs: unknown }>().inputs, [
      { name: 'f', datatype: 'FP32', shape: [-1, 2] },
      { name: 'i', datatype: 'INT64', shape: [-1, 3] },
      { name: 'b', datatype: 'BOOL', shape: [-1] },
    ]);

    for (const url of ['/v2/models/add/ready', '/v2/models/add/versions/1.0/ready']) {
      const res = await c.infer(url, { method: 'GET' });
      assert.equal(res.status, 200, `${url}: ${res.text}`);
      assert.deepEqual(res.json(), { name: 'add', ready: true });
    }
  });

  test('OIP v2 infer: shapes and datatypes round trip (FP32, INT64 exactly, BOOL), with and without /versions', async () => {
    const request = {
      id: 'req-42',
      inputs: [
        { name: 'f', shape: [2, 2], datatype: 'FP32', data: [[1.5, 2], [3, -4]] },
        { name: 'i', shape: [2, 3], datatype: 'INT64', data: [1, 2, 3, -4, 5, '9007199254740993'] },
        { name: 'b', shape: [2], datatype: 'BOOL', data: [true, false] },
      ],
    };
    for (const url of ['/v2/models/multi/infer', '/v2/models/multi/versions/1.0/infer']) {
      const res = await c.postJson(url, request);
      assert.equal(res.status, 200, `${url}: ${res.text}`);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      // 2^53 + 1 is not a JavaScript number: it must be written exactly.
      assert.match(res.text, /9007199254740993/, 'int64 written exactly');
      const body = JSON.parse(res.text.replace('9007199254740993', '"9007199254740993"')) as Record<string, unknown>;
      assert.deepEqual(body, {
        model_name: 'multi',
        model_version: '1.0',
        id: 'req-42',
        outputs: [
          { name: 'fo', datatype: 'FP32', shape: [2, 2], data: [1.5, 2, 3, -4] },
          { name: 'io', datatype: 'INT64', shape: [2, 3], data: [1, 2, 3, -4, 5, '9007199254740993'] },
          { name: 'bo', datatype: 'BOOL', shape: [2], data: [false, true] },
        ],
      });
    }

    // Requested outputs only, flat data on a batch of 2.
    const only = await c.postJson('/v2/models/sumprod/infer', {
      inputs: [
        { name: 'a', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
        { name: 'b', shape: [2, 3], datatype: 'FP32', data: [2, 2, 2, 2, 2, 2] },
      ],
      outputs: [{ name: 'product' }],
    });
    assert.equal(only.status, 200, only.text);
    assert.deepEqual(only.json(), {
      model_name: 'sumprod',
      model_version: '1.0',
      outputs: [{ name: 'product', datatype: 'FP32', shape: [2, 3], data: [2, 4, 6, 8, 10, 12] }],
    });
  });

  test('OIP v2 BYTES and FP16: strings as JSON and length-prefixed binary, half floats in binary only', async () => {
    const strings = await c.postJson('/v2/models/strings/infer', { inputs: [{ name: 's', shape: [2], datatype: 'BYTES', data: ['hello', 'wörld'] }] });
    assert.equal(strings.status, 200, strings.text);
    assert.deepEqual(strings.json<{ outputs: unknown }>().outputs, [{ name: 'so', datatype: 'BYTES', shape: [2], data: ['hello', 'wörld'] }]);
    const viaTs = await c.postJson('/predictions/strings', JSON.stringify('tsserve'));
    assert.equal(viaTs.status, 200, viaTs.text);
    assert.equal(viaTs.json(), 'tsserve');

    // Binary BYTES: each element is a 4-byte little-endian length and its UTF-8 bytes.
    const elems = ['a', 'bc'].map((x) => Buffer.from(x));
    const blob = Buffer.concat(elems.flatMap((e) => [Buffer.from(new Uint32Array([e.length]).buffer), e]));
    const bytesHeader = JSON.stringify({ inputs: [{ name: 's', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: blob.length } }] });
    const binStrings = await c.infer('/v2/models/strings/infer', {
      body: Buffer.concat([Buffer.from(bytesHeader), blob]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(Buffer.byteLength(bytesHeader)) },
    });
    assert.equal(binStrings.status, 200, binStrings.text);
    assert.deepEqual(binStrings.json<{ outputs: { data: string[] }[] }>().outputs[0]!.data, ['a', 'bc']);

    const halfJson = await c.postJson('/v2/models/half/infer', { inputs: [{ name: 'h', shape: [1, 2], datatype: 'FP16', data: [1.5, -2] }] });
    assert.equal(halfJson.status, 400, halfJson.text);
    assert.match(halfJson.json<{ error: string }>().error, /^Receiving FP16 data via JSON is not supported/);

    const half = Buffer.from(new Uint16Array([0x3e00, 0xc000, 0x3800, 0x7bff]).buffer); // 1.5, -2, 0.5, 65504
    const halfHeader = JSON.stringify({
      inputs: [{ name: 'h', shape: [2, 2], datatype: 'FP16', parameters: { binary_data_size: half.length } }],
      outputs: [{ name: 'ho', parameters: { binary_data: true } }],
    });
    const halfBin = await c.infer('/v2/models/half/infer', {
      body: Buffer.concat([Buffer.from(halfHeader), half]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(Buffer.byteLength(halfHeader)) },
    });
    assert.equal(halfBin.status, 200, halfBin.text);
    const n = Number(halfBin.headers['inference-header-content-length']);
    const head = JSON.parse(halfBin.body.subarray(0, n).toString('utf8')) as { outputs: unknown[] };
    assert.deepEqual(head.outputs, [{ name: 'ho', datatype: 'FP16', shape: [2, 2], parameters: { binary_data_size: 8 } }]);
    assert.ok(halfBin.body.subarray(n).equals(half), 'half floats come back bit for bit');

    // On /predictions, JSON numbers are converted to and from half precision.
    const viaPredictions = await c.postJson('/predictions/half', [1.5, -2]);
    assert.equal(viaPredictions.status, 200, viaPredictions.text);
    assert.deepEqual(viaPredictions.json(), [1.5, -2]);
  });

  test('OIP v2 binary tensor extension: raw tensors in and out', async () => {
    const input = new Float32Array([1, 2, 3, 4, 10, 20, 30, 40]);
    const header = JSON.stringify({
      inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    });
    const res = await c.infer('/v2/models/add/infer', {
      body: Buffer.concat([Buffer.from(header), Buffer.from(input.buffer)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(Buffer.byteLength(header)) },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    const n = Number(res.headers['inference-header-content-length']);
    assert.ok(n > 0 && n < res.body.length, `header length ${n}`);
    const head = JSON.parse(res.body.subarray(0, n).toString('utf8')) as { outputs: { name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }[] };
    assert.deepEqual(head.outputs, [{ name: 'output', datatype: 'FP32', shape: [2, 4], parameters: { binary_data_size: 32 } }]);
    const tail = res.body.subarray(n);
    assert.equal(tail.length, 32);
    const values = new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + 32));
    assert.deepEqual(Array.from(values), [2, 3, 4, 5, 11, 21, 31, 41]);

    // Binary in, JSON out.
    const jsonOut = await c.infer('/v2/models/add/infer', {
      body: Buffer.concat([Buffer.from(header.replace('"binary_data":true', '"binary_data":false')), Buffer.from(input.buffer)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(Buffer.byteLength(header.replace('"binary_data":true', '"binary_data":false'))) },
    });
    assert.equal(jsonOut.status, 200, jsonOut.text);
    assert.deepEqual(jsonOut.json<{ outputs: { data: number[] }[] }>().outputs[0]!.data, [2, 3, 4, 5, 11, 21, 31, 41]);
  });

  test('unknown model or version: 404 on every route, in each protocol\'s error shape', async () => {
    const notExist = { error: 'Model with name nosuch does not exist.' };
    for (const [method, url] of [
      ['GET', '/v2/models/nosuch'],
      ['GET', '/v2/models/nosuch/ready'],
      ['POST', '/v2/models/nosuch/infer'],
      ['POST', '/v2/models/nosuch/versions/1.0/infer'],
    ] as const) {
      const res = method === 'GET' ? await c.infer(url, { method }) : await c.postJson(url, { inputs: [] });
      assert.equal(res.status, 404, `${url}: ${res.text}`);
      assert.deepEqual(res.json(), notExist, url);
    }
    const badVersion = await c.postJson('/v2/models/add/versions/9.9/infer', { inputs: [] });
    assert.equal(badVersion.status, 404, badVersion.text);
    assert.match(badVersion.json<{ error: string }>().error, /^Model with name add does not exist\..*9\.9/);

    assert.equal(assertTsError(await c.postJson('/predictions/nosuch', [1]), 404, 'ModelNotFoundException', 'predictions'), 'Model not found: nosuch');
    assert.equal(
      assertTsError(await c.postJson('/predictions/add/9.9', [1, 2, 3, 4]), 404, 'ModelVersionNotFoundException', 'predictions version'),
      'Model version: 9.9 does not exist for model: add',
    );
    assertTsError(await c.postJson('/v1/models/nosuch:predict', { instances: [] }), 404, 'ModelNotFoundException', 'v1');
  });

  test('explanations on a handler that cannot explain: 501 naming model and handler', async () => {
    for (const url of ['/explanations/add', '/v1/models/add:explain']) {
      const msg = assertTsError(await c.postJson(url, url.startsWith('/v1') ? { instances: [[1, 2, 3, 4]] } : [1, 2, 3, 4]), 501, 'InternalServerException', url);
      assert.equal(msg, 'Model "add" handler "tensor" does not support explanations');
    }
    const v2 = await c.postJson('/v2/models/add/explain', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    assert.equal(v2.status, 501, v2.text);
    assert.deepEqual(v2.json(), { error: 'Model "add" handler "tensor" does not support explanations' });
  });

  test('custom JS handler: own preprocess/postprocess/explain, model_config.yaml via context, status from a thrown error', async () => {
    const pixels = Array.from(canonicalInput(784));
    const res = await c.postJson('/predictions/digits', { pixels });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'application/json', 'content type set by the handler');
    assert.equal(res.headers['x-handler'], 'digits-v1', 'header from model_config.yaml handler section');
    const body = res.json<{ label: string; index: number; score: number; model: string; initialized: number; batch: number }>();
    assert.equal(body.label, 'one');
    assert.equal(body.index, 1);
    assert.ok(Math.abs(body.score - 0.10862) <= 1e-3, `score ${body.score}`);
    assert.equal(body.model, 'digits');
    assert.equal(body.initialized, 1, 'initialize ran once in this worker');
    assert.equal(body.batch, 1);

    const explained = await c.postJson('/explanations/digits', { pixels });
    assert.equal(explained.status, 200, explained.text);
    assert.deepEqual(explained.json(), { explained: true, rows: 1 });

    // The handler throws an error carrying status 400: the client gets it, without a stack trace.
    const bad = await c.postJson('/predictions/digits', { pixels: [1, 2, 3] });
    const msg = assertTsError(bad, 400, 'BadRequestException', 'handler error with status');
    assert.equal(msg, 'send {"pixels": [784 numbers]}');
    assert.doesNotMatch(bad.text, /at preprocess|digits\.mjs/, 'no stack trace');
    assert.equal((await c.postJson('/predictions/digits', { pixels })).status, 200, 'the worker keeps serving');
  });

  test('image classifier: a PNG made here → top-k class names with softmax probabilities', async () => {
    const png = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
    // A uniform red image after ToTensor + Normalize: per-channel means are the logits.
    const logits = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225, 0];
    const probs = softmax(logits);
    const names = ['red', 'green', 'blue', 'gray'];
    const expected = [0, 3, 2].map((k) => [names[k]!, probs[k]!] as const);

    const check = (answer: Record<string, number>, what: string) => {
      assert.deepEqual(Object.keys(answer), expected.map(([n]) => n), `${what}: top 3 classes, most probable first`);
      for (const [n, p] of expected) assert.ok(Math.abs(answer[n]! - p) <= 1e-3, `${what}: ${n} ${answer[n]} vs ${p}`);
    };

    const raw = await c.infer('/predictions/classifier', { body: png, headers: { 'content-type': 'image/png' } });
    assert.equal(raw.status, 200, raw.text);
    check(raw.json(), 'raw body');

    const form = multipart('data', 'red.png', 'image/png', png);
    const viaForm = await c.infer('/predictions/classifier', { body: form.body, headers: { 'content-type': form.contentType } });
    assert.equal(viaForm.status, 200, viaForm.text);
    check(viaForm.json(), 'multipart');

    const v1 = await c.postJson('/v1/models/classifier:predict', { instances: [{ b64: png.toString('base64') }] });
    assert.equal(v1.status, 200, v1.text);
    const preds = v1.json<{ predictions: Record<string, number>[] }>().predictions;
    assert.equal(preds.length, 1);
    check(preds[0]!, 'KServe v1');

    const notImage = await c.infer('/predictions/classifier', { body: Buffer.from('not an image'), headers: { 'content-type': 'image/png' } });
    assert.equal(notImage.status, 400, notImage.text);
  });

  test('malformed input: 400 naming the expected input (name, dtype, shape); the server keeps working', async () => {
    const cases: { what: string; url: string; body: string | Buffer; contentType: string; expect: RegExp[] }[] = [
      { what: 'bad JSON', url: '/predictions/add', body: '[1, 2,', contentType: 'application/json', expect: [/^Invalid JSON body/, /"input" \(float32 \[N,4\]\)/] },
      { what: 'bad JSON (multi-input)', url: '/predictions/sumprod', body: '{"a": [1,2,3], ', contentType: 'application/json', expect: [/^Invalid JSON body/, /"a" \(float32 \[N,3\]\), "b" \(float32 \[N,3\]\)/] },
      { what: 'wrong shape', url: '/predictions/add', body: '[1, 2, 3]', contentType: 'application/json', expect: [/^Input "input" expects float32 \[N,4\]: got 3 values per sample, expected 4$/] },
      { what: 'wrong shape (nested)', url: '/predictions/sumprod', body: '{"a": [[1,2],[3,4]], "b": [1,2,3]}', contentType: 'application/json', expect: [/^Input "a" expects float32 \[N,3\]: got 4 values per sample, expected 3$/] },
      { what: 'ragged array', url: '/predictions/mlp', body: '[[1, 2], [3]]', contentType: 'application/json', expect: [/Input "input" expects float32 \[N,784\]/] },
      { what: 'wrong dtype (string)', url: '/predictions/add', body: '["a", "b", "c", "d"]', contentType: 'application/json', expect: [/^Input "input" expects float32 \[N,4\]: element 0 is "a", not a number$/] },
      { what: 'wrong dtype (float for int64)', url: '/predictions/multi', body: '{"f": [1, 2], "i": [1, 2.5, 3], "b": true}', contentType: 'application/json', expect: [/^Input "i" expects int64 \[N,3\]: element 1 is 2\.5, not a 64-bit integer$/] },
      { what: 'wrong dtype (number for bool)', url: '/predictions/multi', body: '{"f": [1, 2], "i": [1, 2, 3], "b": "yes"}', contentType: 'application/json', expect: [/^Input "b" expects bool \[N\]/] },
      { what: 'wrong input name', url: '/predictions/sumprod', body: '{"a": [1,2,3], "c": [1,2,3]}', contentType: 'application/json', expect: [/^Unknown input "c"/, /"a" \(float32 \[N,3\]\), "b" \(float32 \[N,3\]\)/] },
      { what: 'missing input', url: '/predictions/sumprod', body: '{"a": [1,2,3]}', contentType: 'application/json', expect: [/^Missing input "b"/, /"b" \(float32 \[N,3\]\)/] },
      { what: 'array for a multi-input model', url: '/predictions/sumprod', body: '[1, 2, 3]', contentType: 'application/json', expect: [/JSON object keyed by input name/, /"a" \(float32 \[N,3\]\)/] },
      { what: 'octet-stream of the wrong length', url: '/predictions/add', body: Buffer.alloc(15), contentType: 'application/octet-stream', expect: [/^Input "input" expects float32 \[N,4\]: got 15 bytes per sample, expected 16/] },
      { what: 'octet-stream for a multi-input model', url: '/predictions/sumprod', body: Buffer.alloc(12), contentType: 'application/octet-stream', expect: [/single-input model/, /"a" \(float32 \[N,3\]\)/] },
      { what: 'empty body', url: '/predictions/add', body: '', contentType: 'application/json', expect: [/no body/, /"input" \(float32 \[N,4\]\)/] },
      { what: 'v1 without instances', url: '/v1/models/add:predict', body: '{"inputs": 3}', contentType: 'application/json', expect: [/"instances"/, /"input" \(float32 \[N,4\]\)/] },
      { what: 'deeply nested JSON', url: '/predictions/add', body: '['.repeat(200_000) + ']'.repeat(200_000), contentType: 'application/json', expect: [/^Input "input" expects float32 \[N,4\]: arrays are nested more than \d+ levels deep$/] },
      { what: 'deeply nested JSON (object)', url: '/predictions/sumprod', body: '{"a": ' + '['.repeat(200_000) + ']'.repeat(200_000) + ', "b": [1,2,3]}', contentType: 'application/json', expect: [/^Input "a" expects float32 \[N,3\]: arrays are nested more than \d+ levels deep$/] },
      { what: 'v1 bad instance', url: '/v1/models/add:predict', body: '{"instances": [[1,2,3,4], [1,2]]}', contentType: 'application/json', expect: [/^Instance 1: Input "input" expects float32 \[N,4\]/] },
    ];
    for (const k of cases) {
      const res = await c.infer(k.url, { body: k.body, headers: { 'content-type': k.contentType }, timeoutMs: 10_000 });
      const msg = assertTsError(res, 400, 'BadRequestException', k.what);
      for (const re of k.expect) assert.match(msg, re, k.what);
    }

    const v2cases: { what: string; body: unknown; expect: RegExp }[] = [
      { what: 'v2 wrong datatype', body: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'INT32', data: [1, 2, 3, 4] }] }, expect: /^Input "input" expects FP32 \[-1,4\]: got datatype INT32$/ },
      { what: 'v2 wrong shape', body: { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }, expect: /^Input "input" expects FP32 \[-1,4\]: got shape \[1,3\]$/ },
      { what: 'v2 data does not fill the shape', body: { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, expect: /^Input "input" expects FP32 \[-1,4\]: shape \[2,4\] needs 8 values, got 4$/ },
      { what: 'v2 missing data', body: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32' }] }, expect: /^'data' field is missing for input 'input' for model 'add'$/ },
      { what: 'v2 unknown input', body: { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, expect: /^Unknown input "x": model "add" expects "input" \(FP32 \[-1,4\]\)$/ },
      { what: 'v2 missing input', body: { inputs: [] }, expect: /^Missing input "input": model "add" expects "input" \(FP32 \[-1,4\]\)$/ },
      { what: 'v2 deeply nested data', body: `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ${'['.repeat(200_000)}${']'.repeat(200_000)}}]}`, expect: /^Input "input" expects FP32 \[-1,4\]: arrays are nested more than \d+ levels deep$/ },
      { what: 'v2 bad JSON', body: '{"inputs": [', expect: /^Unrecognized request format/ },
    ];
    for (const k of v2cases) {
      const res = await c.postJson('/v2/models/add/infer', k.body);
      assert.equal(res.status, 400, `${k.what}: ${res.status} ${res.text}`);
      const body = res.json<{ error: string }>();
      assert.deepEqual(Object.keys(body), ['error'], k.what);
      assert.match(body.error, k.expect, k.what);
    }

    // Concurrent good and bad requests: each gets its own answer; the server stays healthy and no
    // worker was restarted by any of the above.
    const [good, worse] = await Promise.all([c.postJson('/predictions/add', [1, 1, 1, 1]), c.postJson('/predictions/add', [1])]);
    assert.equal(good.status, 200, good.text);
    assert.deepEqual(good.json(), [2, 2, 2, 2]);
    assert.equal(worse.status, 400, worse.text);
    const ping = await httpRequest(`${c.inference}/ping`);
    assert.deepEqual([ping.status, ping.json()], [200, { status: 'Healthy' }]);
    for (const m of ['add', 'sumprod', 'multi']) {
      const d = await c.manage(`/models/${m}`);
      assert.equal(d.status, 200);
      assert.deepEqual(d.json<{ workers: { status: string }[] }[]>()[0]!.workers.map((w) => w.status), ['READY'], m);
    }
    const metrics = await httpRequest(`${c.metrics}/metrics`);
    assert.equal(metrics.status, 200);
    assert.doesNotMatch(metrics.text, /^tsserve_worker_restarts_total\{.*\} [1-9]/m, 'no worker was restarted');
  });
});
