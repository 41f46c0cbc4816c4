/** KServe v1 and the Open Inference Protocol v2 routes (spec §8.8, §8.9; open-inference-protocol.md). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidInputError, QueueFullError, WorkerDiedError } from '../../src/errors.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { buildHarness, type FakeRuntime } from './inference-fakes.js';

const rt = (h: Awaited<ReturnType<typeof buildHarness>>, name: string, version?: string) =>
  h.registry.get(name, version).runtime as FakeRuntime;
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

test('v1 :predict and :explain run inference on the default version with protocol kserve-v1', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('mnist', '1.0');
    r.add('mnist', '2.0');
  });
  t.after(() => h.app.close());
  const body = '{"instances": [[1, 2, 3, 4]]}';
  let res = await h.app.inject({ method: 'POST', url: '/v1/models/mnist:predict', headers: { 'content-type': 'application/json' }, payload: body });
  assert.equal(res.statusCode, 200);
  const req = rt(h, 'mnist', '1.0').submitted[0]!;
  assert.equal(req.protocol, 'kserve-v1');
  assert.equal(req.explain, false);
  assert.equal(req.headers.explain, 'False');
  assert.deepEqual(req.params.map((p) => [p.name, p.contentType, text(p.value)]), [['body', 'application/json', body]]);

  res = await h.app.inject({ method: 'POST', url: '/v1/models/mnist:explain', payload: body });
  assert.equal(res.statusCode, 200);
  const ex = rt(h, 'mnist', '1.0').submitted[1]!;
  assert.equal(ex.explain, true);
  assert.equal(ex.headers.explain, 'True');
  assert.deepEqual(h.metrics.calls.filter((c) => c[0] === 'inferenceRequest').map((c) => c.slice(1)), [
    ['mnist', 'default'],
    ['mnist', 'default'],
  ]);
});

test('v1 predict errors are TorchServe errors; unknown verbs and nested paths are 404', async (t) => {
  const h = await buildHarness({}, (r) => r.add('mnist', '1.0'));
  t.after(() => h.app.close());
  let res = await h.app.inject({ method: 'POST', url: '/v1/models/nope:predict', payload: '{}' });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { code: 404, type: 'ModelNotFoundException', message: 'Model not found: nope' });
  res = await h.app.inject({ method: 'POST', url: '/v1/models/mnist:predictx', payload: '{}' });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().type, 'ResourceNotFoundException');
  res = await h.app.inject({ method: 'POST', url: '/v1/models/a/mnist:predict', payload: '{}' });
  assert.equal(res.statusCode, 404);
  assert.equal(rt(h, 'mnist').submitted.length, 0);
});

test('v1 list and model ready use the KServe runtime semantics', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('b', '1.0');
    r.add('a', '1.0');
  });
  t.after(() => h.app.close());
  let res = await h.app.inject({ method: 'GET', url: '/v1/models' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { models: ['a', 'b'] });

  res = await h.app.inject({ method: 'GET', url: '/v1/models/a' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { name: 'a', ready: true });

  rt(h, 'a').workerStates = ['STARTING'];
  res = await h.app.inject({ method: 'GET', url: '/v1/models/a' });
  assert.equal(res.statusCode, 503);
  assert.deepEqual(res.json(), { error: 'Model with name a is not ready.' });

  res = await h.app.inject({ method: 'GET', url: '/v1/models/zz' });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: 'Model with name zz does not exist.' });

  res = await h.app.inject({ method: 'DELETE', url: '/v1/models/a' });
  assert.equal(res.statusCode, 405);
});

test('GET /v2 names the server with both extension keys and the package version', async (t) => {
  const h = await buildHarness();
  t.after(() => h.app.close());
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const res = await h.app.inject({ method: 'GET', url: '/v2' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json();
  assert.equal(body.name, 'tsserve');
  assert.equal(body.version, pkg.version);
  assert.ok(Array.isArray(body.extensions));
  assert.deepEqual(body.extenstion, body.extensions);
});

test('v2 health: live always, ready only when every default version is healthy', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  let res = await h.app.inject({ method: 'GET', url: '/v2/health/live' });
  assert.deepEqual([res.statusCode, res.json()], [200, { live: true }]);
  res = await h.app.inject({ method: 'GET', url: '/v2/health/ready' });
  assert.deepEqual([res.statusCode, res.json()], [200, { ready: true }]);
  rt(h, 'm').healthy = false;
  res = await h.app.inject({ method: 'GET', url: '/v2/health/ready' });
  assert.deepEqual([res.statusCode, res.json()], [503, { error: 'Server is not ready.' }]);
});

test('v2 model metadata: OIP datatypes, -1 for symbolic dims, every version', async (t) => {
  const io = {
    inputs: [
      { name: 'ids', dtype: 'int64' as const, shape: ['batch', 'seq'] },
      { name: 'mask', dtype: 'bool' as const, shape: [-1, 8] },
    ],
    outputs: [
      { name: 'score', dtype: 'float32' as const, shape: ['batch', 2] },
      { name: 'label', dtype: 'string' as const, shape: ['batch'] },
    ],
  };
  const h = await buildHarness({}, (r) => {
    r.add('m', '1.0', { io });
    r.add('m', '2.0', { io });
  });
  t.after(() => h.app.close());
  const expected = {
    name: 'm',
    versions: ['1.0', '2.0'],
    platform: 'onnx_onnxv1',
    inputs: [
      { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
      { name: 'mask', datatype: 'BOOL', shape: [-1, 8] },
    ],
    outputs: [
      { name: 'score', datatype: 'FP32', shape: [-1, 2] },
      { name: 'label', datatype: 'BYTES', shape: [-1] },
    ],
  };
  let res = await h.app.inject({ method: 'GET', url: '/v2/models/m' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), expected);
  res = await h.app.inject({ method: 'GET', url: '/v2/models/m/versions/2.0' });
  assert.deepEqual(res.json(), expected);

  res = await h.app.inject({ method: 'GET', url: '/v2/models/zz' });
  assert.deepEqual([res.statusCode, res.json()], [404, { error: 'Model with name zz does not exist.' }]);
  res = await h.app.inject({ method: 'GET', url: '/v2/models/m/versions/9' });
  assert.equal(res.statusCode, 404);
  assert.match(res.json().error, /^Model with name m does not exist\. Model version: 9 does not exist for model: m$/);
});

test('v2 model ready: 200, 503 when no worker loaded or unhealthy, 404 unknown', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('m', '1.0');
    r.add('m', '2.0');
  });
  t.after(() => h.app.close());
  let res = await h.app.inject({ method: 'GET', url: '/v2/models/m/ready' });
  assert.deepEqual([res.statusCode, res.json()], [200, { name: 'm', ready: true }]);
  rt(h, 'm', '2.0').workerStates = [];
  res = await h.app.inject({ method: 'GET', url: '/v2/models/m/versions/2.0/ready' });
  assert.deepEqual([res.statusCode, res.json()], [503, { error: 'Model with name m is not ready.' }]);
  rt(h, 'm', '1.0').healthy = false;
  res = await h.app.inject({ method: 'GET', url: '/v2/models/m/ready' });
  assert.equal(res.statusCode, 503);
  res = await h.app.inject({ method: 'GET', url: '/v2/models/x/ready' });
  assert.deepEqual([res.statusCode, res.json()], [404, { error: 'Model with name x does not exist.' }]);
});

test('v2 infer hands the raw body and the binary-extension header to the engine; versions map', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('m', '1.0');
    r.add('m', '2.0');
  });
  t.after(() => h.app.close());
  const json = Buffer.from('{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}');
  const payload = Buffer.concat([json, Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]);
  rt(h, 'm', '2.0').respond = () => ({ status: 200, contentType: 'application/json', body: Buffer.from('{"model_name":"m"}') });
  const res = await h.app.inject({
    method: 'POST',
    url: '/v2/models/m/versions/2.0/infer',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
    payload,
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.body, '{"model_name":"m"}');
  const req = rt(h, 'm', '2.0').submitted[0]!;
  assert.equal(req.protocol, 'oip-v2');
  assert.equal(req.explain, false);
  assert.equal(req.headers['inference-header-content-length'], String(json.length));
  assert.deepEqual(Buffer.from(req.params[0]!.value), payload);
  assert.deepEqual(h.metrics.calls.filter((c) => c[0] === 'inferenceRequest').map((c) => c.slice(1)), [['m', '2.0']]);

  await h.app.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{}' });
  assert.equal(rt(h, 'm', '1.0').submitted.length, 1, 'no version → the default version');
  await h.app.inject({ method: 'POST', url: '/v2/models/m/explain', payload: '{}' });
  assert.equal(rt(h, 'm', '1.0').submitted[1]!.explain, true);
});

test('v2 infer errors are {"error"} with the engine status (400, 503 + Retry-After, 500)', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  const m = rt(h, 'm');
  let res = await h.app.inject({ method: 'POST', url: '/v2/models/zz/infer', payload: '{}' });
  assert.deepEqual([res.statusCode, res.json()], [404, { error: 'Model with name zz does not exist.' }]);

  m.respond = () => Promise.reject(new InvalidInputError("input 'input' expects FP32 shape [-1, 4]"));
  res = await h.app.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{}' });
  assert.deepEqual([res.statusCode, res.json()], [400, { error: "input 'input' expects FP32 shape [-1, 4]" }]);

  m.respond = () => Promise.reject(new QueueFullError('m', '1.0', 10));
  res = await h.app.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{}' });
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '1');
  assert.match(res.json().error, /queue is full/);
  assert.deepEqual(Object.keys(res.json()), ['error']);

  m.respond = () => Promise.reject(new WorkerDiedError());
  res = await h.app.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{}' });
  assert.deepEqual([res.statusCode, res.json()], [500, { error: 'Worker died.' }]);

  m.respond = () => Promise.reject(new Error('secret internals'));
  res = await h.app.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{}' });
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { error: `Internal server error (request id ${res.headers['x-request-id']})` }, 'no internals leak');
});

test('OIP switch off: /v2, health, metadata and versioned routes are 404; infer stays on', async (t) => {
  const h = await buildHarness({ openInferenceProtocol: false }, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  for (const url of ['/v2', '/v2/health/live', '/v2/health/ready', '/v2/models/m', '/v2/models/m/ready']) {
    const res = await h.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().type, 'ResourceNotFoundException', url);
  }
  let res = await h.app.inject({ method: 'POST', url: '/v2/models/m/versions/1.0/infer', payload: '{}' });
  assert.equal(res.statusCode, 404);
  res = await h.app.inject({ method: 'POST', url: '/v2/models/m/infer', payload: '{}' });
  assert.equal(res.statusCode, 200);
  assert.equal(rt(h, 'm').submitted[0]!.protocol, 'oip-v2');
});

test('v1 and v2 bodies stay whole JSON when curl -d labels them form-urlencoded', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const v1 = '{"instances": [[6.7, 3.0, 5.2, 2.3]]}';
  let res = await h.app.inject({ method: 'POST', url: '/v1/models/m:predict', headers: form, payload: v1 });
  assert.equal(res.statusCode, 200);
  const v2 = '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}';
  res = await h.app.inject({ method: 'POST', url: '/v2/models/m/infer', headers: form, payload: v2 });
  assert.equal(res.statusCode, 200);
  const [a, b] = rt(h, 'm').submitted;
  assert.deepEqual(a!.params.map((p) => [p.name, text(p.value)]), [['body', v1]]);
  assert.deepEqual(b!.params.map((p) => [p.name, text(p.value)]), [['body', v2]]);
});
