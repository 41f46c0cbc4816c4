/** /ping (spec §8.1) and model access control on every inference route (issue #7). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildHarness, type FakeRuntime } from './inference-fakes.js';

test('/ping: Healthy with no models, Unhealthy (500) when a default version is short of workers', async (t) => {
  const empty = await buildHarness();
  t.after(() => empty.app.close());
  let res = await empty.app.inject({ method: 'GET', url: '/ping' });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Healthy' }]);
  assert.match(String(res.headers['content-type']), /^application\/json/);

  const h = await buildHarness({}, (r) => {
    r.add('a', '1.0');
    r.add('a', '2.0');
    r.add('b', '1.0');
  });
  t.after(() => h.app.close());
  res = await h.app.inject({ method: 'GET', url: '/ping' });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Healthy' }]);

  (h.registry.get('a', '2.0').runtime as FakeRuntime).healthy = false;
  res = await h.app.inject({ method: 'GET', url: '/ping' });
  assert.equal(res.statusCode, 200, 'only default versions count');

  (h.registry.get('b').runtime as FakeRuntime).healthy = false;
  res = await h.app.inject({ method: 'GET', url: '/ping' });
  assert.deepEqual([res.statusCode, res.json()], [500, { status: 'Unhealthy' }]);
});

/** Two models in groups; "alice" may use g1 only. */
async function groupedHarness(t: { after: (fn: () => Promise<unknown>) => void }) {
  const h = await buildHarness({}, (r) => {
    r.add('open', '1.0', { groupId: 'g1' });
    r.add('secret', '1.0', { groupId: 'g2' });
    r.add('secret', '2.0', { groupId: 'g2' });
  });
  h.groups.allowed.set('g1', new Set(['alice']));
  t.after(() => h.app.close());
  return h;
}

const alice = { 'x-test-user': 'alice' };

test('an inaccessible model answers exactly like a missing one (TorchServe routes)', async (t) => {
  const h = await groupedHarness(t);
  const cases: [string, string, string][] = [
    ['POST', '/predictions/secret', '/predictions/missing'],
    ['POST', '/predictions/secret/1.0', '/predictions/missing/1.0'],
    ['POST', '/predictions/secret/9.9', '/predictions/missing/9.9'],
    ['POST', '/explanations/secret', '/explanations/missing'],
    ['OPTIONS', '/predictions/secret', '/predictions/missing'],
    ['POST', '/secret/predict', '/missing/predict'],
    ['POST', '/invocations?model_name=secret', '/invocations?model_name=missing'],
    ['POST', '/v1/models/secret:predict', '/v1/models/missing:predict'],
  ];
  for (const [method, hidden, missing] of cases) {
    const a = await h.app.inject({ method: method as 'POST', url: hidden, headers: alice, payload: 'x' });
    const b = await h.app.inject({ method: method as 'POST', url: missing, headers: alice, payload: 'x' });
    assert.equal(a.statusCode, 404, hidden);
    assert.deepEqual(a.json(), { ...b.json(), message: b.json().message.replace('missing', 'secret') }, hidden);
    assert.equal(a.json().type, 'ModelNotFoundException', hidden);
  }
  assert.equal((h.registry.get('secret').runtime as FakeRuntime).submitted.length, 0);
  assert.equal(h.metrics.calls.filter((c) => c[0] === 'inferenceRequest').length, 0, 'hidden models are not counted');

  const ok = await h.app.inject({ method: 'POST', url: '/predictions/open', headers: alice, payload: 'x' });
  assert.equal(ok.statusCode, 200);
  assert.ok(h.groups.calls > 0);
});

test('an inaccessible model answers exactly like a missing one (OIP and KServe routes) and is not listed', async (t) => {
  const h = await groupedHarness(t);
  const cases: [string, string, string][] = [
    ['POST', '/v2/models/secret/infer', '/v2/models/missing/infer'],
    ['POST', '/v2/models/secret/versions/1.0/infer', '/v2/models/missing/versions/1.0/infer'],
    ['GET', '/v2/models/secret', '/v2/models/missing'],
    ['GET', '/v2/models/secret/versions/9.9', '/v2/models/missing/versions/9.9'],
    ['GET', '/v2/models/secret/ready', '/v2/models/missing/ready'],
    ['GET', '/v1/models/secret', '/v1/models/missing'],
  ];
  for (const [method, hidden, missing] of cases) {
    const a = await h.app.inject({ method: method as 'GET', url: hidden, headers: alice, payload: method === 'POST' ? '{}' : undefined });
    const b = await h.app.inject({ method: method as 'GET', url: missing, headers: alice, payload: method === 'POST' ? '{}' : undefined });
    assert.equal(a.statusCode, 404, hidden);
    assert.equal(b.statusCode, 404, missing);
    assert.deepEqual(a.json(), { error: 'Model with name secret does not exist.' }, hidden);
    assert.deepEqual(b.json(), { error: 'Model with name missing does not exist.' }, missing);
  }
  for (const url of ['/v1/models', '/v2/models']) {
    const res = await h.app.inject({ method: 'GET', url, headers: alice });
    assert.deepEqual(res.json(), { models: ['open'] }, url);
  }
  const all = await h.app.inject({ method: 'GET', url: '/v2/models' });
  assert.deepEqual(all.json(), { models: ['open', 'secret'] }, 'no identity (auth off): access control inactive');
});

test('without a groups service every model is accessible', async (t) => {
  const h = await buildHarness({ withGroups: false }, (r) => r.add('secret', '1.0', { groupId: 'g2' }));
  t.after(() => h.app.close());
  const res = await h.app.inject({ method: 'POST', url: '/predictions/secret', headers: alice, payload: 'x' });
  assert.equal(res.statusCode, 200);
  assert.equal(h.groups.calls, 0);
});

test('the API description lists the inference routes under TorchServe operationIds', async (t) => {
  const h = await buildHarness();
  t.after(() => h.app.close());
  const res = await h.app.inject({ method: 'OPTIONS', url: '/' });
  assert.equal(res.statusCode, 200);
  const paths = res.json().paths as Record<string, Record<string, { operationId?: string }>>;
  assert.equal(paths['/ping']?.get?.operationId, 'ping');
  assert.equal(paths['/predictions/{model_name}']?.post?.operationId, 'predictions');
  assert.equal(paths['/predictions/{model_name}/{model_version}']?.post?.operationId, 'version_predictions');
  assert.equal(paths['/v2/models/{model_name}/infer']?.post?.operationId, 'predictions');
  assert.deepEqual(Object.keys(paths['/predictions/{model_name}']!), ['post'], 'other methods are not listed');
  assert.equal(paths['/{model_name}/predict'], undefined);
});
