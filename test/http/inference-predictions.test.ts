/** TorchServe's inference routes: /predictions, /explanations, legacy, SageMaker (spec §8.2, §8.3). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoWorkerError, PredictionFailedError, QueueFullError } from '../../src/errors.js';
import { buildHarness, multipartBody } from './inference-fakes.js';

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

test('a JSON body reaches the engine raw as one "body" param, with headers, explain and url_path', async (t) => {
  const h = await buildHarness({}, (r) => r.add('add', '1.0'));
  t.after(() => h.app.close());
  const rt = h.registry.get('add').runtime as import('./inference-fakes.js').FakeRuntime;
  const payload = '[1, 2, 3, 4]';
  const res = await h.app.inject({
    method: 'POST',
    url: '/predictions/add',
    headers: { 'content-type': 'application/json; charset=utf-8', 'X-Custom': 'abc', authorization: 'Bearer secret' },
    payload,
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.body, '[1,2]');
  assert.equal(rt.submitted.length, 1);
  const req = rt.submitted[0]!;
  assert.equal(req.protocol, 'ts');
  assert.equal(req.explain, false);
  assert.equal(req.id, res.headers['x-request-id'], 'the request id travels with the record');
  assert.equal(req.params.length, 1);
  assert.equal(req.params[0]!.name, 'body');
  assert.equal(req.params[0]!.contentType, 'application/json');
  assert.equal(text(req.params[0]!.value), payload);
  assert.equal(req.headers['x-custom'], 'abc');
  assert.equal(req.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(req.headers.explain, 'False');
  assert.equal(req.headers.url_path, '');
  assert.equal(req.headers.authorization, undefined, 'the key never reaches model code');
});

test('octet-stream bodies arrive byte for byte; no content type → none on the param', async (t) => {
  const h = await buildHarness({}, (r) => r.add('add', '1.0'));
  t.after(() => h.app.close());
  const rt = h.registry.get('add').runtime as import('./inference-fakes.js').FakeRuntime;
  const bytes = Buffer.from(new Float32Array([1.5, -2, 3, 4]).buffer);
  await h.app.inject({ method: 'POST', url: '/predictions/add', headers: { 'content-type': 'application/octet-stream' }, payload: bytes });
  assert.equal(rt.submitted[0]!.params[0]!.contentType, 'application/octet-stream');
  assert.deepEqual(Buffer.from(rt.submitted[0]!.params[0]!.value), bytes);

  await h.app.inject({ method: 'GET', url: '/predictions/add' });
  const get = rt.submitted[1]!;
  assert.deepEqual(get.params.map((p) => [p.name, p.contentType, p.value.length]), [['body', undefined, 0]]);
});

test('multipart fields and files become params in order, files with type and name', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  const rt = h.registry.get('m').runtime as import('./inference-fakes.js').FakeRuntime;
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
  const payload = multipartBody('XyZ', [
    { name: 'data', value: png, filename: 'kitten.png', contentType: 'image/png' },
    { name: 'note', value: 'hello' },
    { name: 'note', value: 'again' },
  ]);
  const res = await h.app.inject({
    method: 'POST',
    url: '/predictions/m',
    headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
    payload,
  });
  assert.equal(res.statusCode, 200);
  const params = rt.submitted[0]!.params;
  assert.deepEqual(
    params.map((p) => [p.name, p.contentType, p.filename]),
    [
      ['data', 'image/png', 'kitten.png'],
      ['note', undefined, undefined],
      ['note', undefined, undefined],
    ],
  );
  assert.deepEqual(Buffer.from(params[0]!.value), png);
  assert.equal(text(params[1]!.value), 'hello');
  assert.equal(text(params[2]!.value), 'again');
});

test('urlencoded forms become one param per field', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  const rt = h.registry.get('m').runtime as import('./inference-fakes.js').FakeRuntime;
  await h.app.inject({
    method: 'PUT',
    url: '/predictions/m',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'a=1&b=h%C3%A9llo&a=2',
  });
  assert.deepEqual(
    rt.submitted[0]!.params.map((p) => [p.name, text(p.value), p.contentType]),
    [
      ['a', '1', undefined],
      ['b', 'héllo', undefined],
      ['a', '2', undefined],
    ],
  );
});

test('no Content-Type is sent unless the engine sets one; engine status and headers pass through', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  const rt = h.registry.get('m').runtime as import('./inference-fakes.js').FakeRuntime;
  rt.respond = () => ({ status: 202, headers: { 'x-handler': 'yes' }, body: new Uint8Array([104, 105]) });
  const res = await h.app.inject({ method: 'POST', url: '/predictions/m', payload: 'x' });
  assert.equal(res.statusCode, 202);
  assert.equal(res.headers['content-type'], undefined);
  assert.equal(res.headers['x-handler'], 'yes');
  assert.equal(res.body, 'hi');
});

test('versions, extra segments (url_path) and explanations', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('m', '1.0');
    r.add('m', '2.0');
  });
  t.after(() => h.app.close());
  const v1 = h.registry.get('m', '1.0').runtime as import('./inference-fakes.js').FakeRuntime;
  const v2 = h.registry.get('m', '2.0').runtime as import('./inference-fakes.js').FakeRuntime;

  await h.app.inject({ method: 'POST', url: '/predictions/m/2.0', payload: 'x' });
  assert.equal(v2.submitted.length, 1);
  await h.app.inject({ method: 'POST', url: '/predictions/m/2.0/a/b/', payload: 'x' });
  assert.equal(v2.submitted[1]!.headers.url_path, 'a/b');
  await h.app.inject({ method: 'POST', url: '/predictions/m/', payload: 'x' });
  assert.equal(v1.submitted.length, 1, 'a trailing slash means the default version');

  const res = await h.app.inject({ method: 'POST', url: '/explanations/m/2.0', payload: 'x' });
  assert.equal(res.statusCode, 200);
  const ex = v2.submitted[2]!;
  assert.equal(ex.explain, true);
  assert.equal(ex.headers.explain, 'True');
  assert.equal(ex.protocol, 'ts');
});

test('unknown model and version are TorchServe 404s; /predictions alone is a 404', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  let res = await h.app.inject({ method: 'POST', url: '/predictions/nope', payload: 'x' });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { code: 404, type: 'ModelNotFoundException', message: 'Model not found: nope' });
  res = await h.app.inject({ method: 'POST', url: '/predictions/m/9.9', payload: 'x' });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), {
    code: 404,
    type: 'ModelVersionNotFoundException',
    message: 'Model version: 9.9 does not exist for model: m',
  });
  res = await h.app.inject({ method: 'POST', url: '/predictions', payload: 'x' });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().type, 'ResourceNotFoundException');
});

test('engine rejections: 503 with Retry-After, handler failure 500 with its message', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  const rt = h.registry.get('m').runtime as import('./inference-fakes.js').FakeRuntime;
  rt.respond = () => Promise.reject(new QueueFullError('m', '1.0', 100));
  let res = await h.app.inject({ method: 'POST', url: '/predictions/m', payload: 'x' });
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '1');
  assert.equal(res.json().type, 'ServiceUnavailableException');
  assert.match(res.json().message, /queue is full/);

  rt.respond = () => Promise.reject(new NoWorkerError('m'));
  res = await h.app.inject({ method: 'POST', url: '/predictions/m', payload: 'x' });
  assert.equal(res.statusCode, 503);
  assert.match(res.json().message, /has no worker/);

  rt.respond = () => Promise.reject(new PredictionFailedError('bad input shape'));
  res = await h.app.inject({ method: 'POST', url: '/predictions/m', payload: 'x' });
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { code: 500, type: 'InternalServerException', message: 'Prediction failed: bad input shape' });
});

test('OPTIONS /predictions/{model} answers the per-model OpenAPI document without inference', async (t) => {
  const h = await buildHarness({}, (r) => r.add('m', '1.0'));
  t.after(() => h.app.close());
  const res = await h.app.inject({ method: 'OPTIONS', url: '/predictions/m' });
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.info.title, 'RESTful API for: m');
  assert.ok(doc.paths['/predictions/m'].post);
  assert.equal((h.registry.get('m').runtime as import('./inference-fakes.js').FakeRuntime).submitted.length, 0);
  const missing = await h.app.inject({ method: 'OPTIONS', url: '/predictions/zz' });
  assert.equal(missing.statusCode, 404);
  assert.equal(h.metrics.calls.filter((c) => c[0] === 'inferenceRequest').length, 0);
});

test('legacy /{model}[/{version}]/predict passes query parameters before the body', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('m', '1.0');
    r.add('m', '2.0');
  });
  t.after(() => h.app.close());
  const v2 = h.registry.get('m', '2.0').runtime as import('./inference-fakes.js').FakeRuntime;
  const v1 = h.registry.get('m', '1.0').runtime as import('./inference-fakes.js').FakeRuntime;
  let res = await h.app.inject({ method: 'POST', url: '/m/predict?topk=3&topk=4', headers: { 'content-type': 'text/plain' }, payload: 'hi' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(
    v1.submitted[0]!.params.map((p) => [p.name, text(p.value), p.contentType]),
    [
      ['topk', '3', undefined],
      ['topk', '4', undefined],
      ['body', 'hi', 'text/plain'],
    ],
  );
  res = await h.app.inject({ method: 'POST', url: '/m/2.0/predict', payload: 'x' });
  assert.equal(res.statusCode, 200);
  assert.equal(v2.submitted.length, 1);
  res = await h.app.inject({ method: 'POST', url: '/models/m/predict', payload: 'x' });
  assert.equal(res.statusCode, 404);
});

test('SageMaker /invocations: model_name query, the single startup model, or 400', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('a', '1.0');
    r.add('b', '1.0', { loadedAtStartup: false });
  });
  t.after(() => h.app.close());
  const a = h.registry.get('a').runtime as import('./inference-fakes.js').FakeRuntime;
  const b = h.registry.get('b').runtime as import('./inference-fakes.js').FakeRuntime;
  let res = await h.app.inject({ method: 'POST', url: '/invocations?model_name=b', payload: 'x' });
  assert.equal(res.statusCode, 200);
  assert.equal(b.submitted.length, 1);
  assert.equal(text(b.submitted[0]!.params[0]!.value), 'b', 'query params reach the handler');
  res = await h.app.inject({ method: 'POST', url: '/invocations', payload: 'x' });
  assert.equal(res.statusCode, 200);
  assert.equal(a.submitted.length, 1, 'the only startup model');
  res = await h.app.inject({ method: 'POST', url: '/models/b/invoke', payload: 'x' });
  assert.equal(res.statusCode, 200);
  assert.equal(b.submitted.length, 2);

  const h2 = await buildHarness({}, (r) => {
    r.add('a', '1.0');
    r.add('b', '1.0');
  });
  t.after(() => h2.app.close());
  res = await h2.app.inject({ method: 'POST', url: '/invocations', payload: 'x' });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), { code: 400, type: 'BadRequestException', message: 'Parameter model_name is required.' });
});

test('metrics: counted after lookup before queueing (also when rejected), latency and queue time on success', async (t) => {
  const h = await buildHarness({}, (r) => {
    r.add('m', '1.0');
    r.add('m', '2.0');
  });
  t.after(() => h.app.close());
  await h.app.inject({ method: 'POST', url: '/predictions/m', payload: 'x' });
  await h.app.inject({ method: 'POST', url: '/predictions/m/2.0', payload: 'x' });
  await h.app.inject({ method: 'POST', url: '/predictions/zz', payload: 'x' });
  const rt = h.registry.get('m').runtime as import('./inference-fakes.js').FakeRuntime;
  rt.respond = () => Promise.reject(new NoWorkerError('m'));
  await h.app.inject({ method: 'POST', url: '/predictions/m', payload: 'x' });

  const calls = h.metrics.calls.filter((c) => c[0] === 'inferenceRequest' || c[0] === 'inferenceDone');
  assert.deepEqual(
    calls.map((c) => c.slice(0, 3)),
    [
      ['inferenceRequest', 'm', 'default'],
      ['inferenceDone', 'm', 'default'],
      ['inferenceRequest', 'm', '2.0'],
      ['inferenceDone', 'm', '2.0'],
      ['inferenceRequest', 'm', 'default'],
    ],
  );
  const done = calls[1]!;
  assert.equal(typeof done[3], 'number');
  assert.ok((done[3] as number) >= 0);
  assert.equal(done[4], 1234, 'queue time from onDequeue');
});
