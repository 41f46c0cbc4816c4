/** The model group routes over app.inject (model-groups.md §3–§8, §12). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, buildGroupsHarness } from './groups-harness.js';

const BASE = '/_plugins/_ml/model_groups';
const json = { 'content-type': 'application/json' };

function envelope(status: number, type: string, reason: string) {
  return { error: { root_cause: [{ type, reason }], type, reason }, status };
}

test('register → get → update → search → delete, in OpenSearch shapes', async (t) => {
  const { app } = await buildGroupsHarness();
  t.after(() => app.close());

  let res = await app.inject({ method: 'POST', url: `${BASE}/_register`, headers: as('alice', json), payload: { name: 'fraud', description: 'card fraud' } });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const { model_group_id: id, status } = res.json() as { model_group_id: string; status: string };
  assert.equal(status, 'CREATED');

  res = await app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: as('alice') });
  assert.equal(res.statusCode, 200);
  const got = res.json() as Record<string, unknown>;
  assert.equal(got._id, undefined, 'no _id in the get body');
  assert.deepEqual([got.name, got.access, got.latest_version], ['fraud', 'private', 0]);

  res = await app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: as('bob') });
  assert.deepEqual([res.statusCode, res.json()], [403, envelope(403, 'status_exception', "User doesn't have privilege to perform this operation on this model group")]);

  res = await app.inject({ method: 'PUT', url: `${BASE}/${id}`, headers: as('alice', json), payload: { access_mode: 'public' } });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Updated' }]);

  for (const method of ['GET', 'POST'] as const) {
    res = await app.inject({ method, url: `${BASE}/_search`, headers: as('bob', json), payload: { query: { match_all: {} } } });
    assert.equal(res.statusCode, 200, method);
    const body = res.json() as { hits: { total: { value: number }; hits: { _id: string; _index: string }[] } };
    assert.deepEqual([body.hits.total.value, body.hits.hits[0]!._id, body.hits.hits[0]!._index], [1, id, '.plugins-ml-model-group']);
  }
  // `source` query parameter instead of a body
  const source = encodeURIComponent(JSON.stringify({ query: { terms: { _id: [id] } } }));
  res = await app.inject({ method: 'GET', url: `${BASE}/_search?source=${source}`, headers: as('bob') });
  assert.deepEqual([res.statusCode, (res.json() as { hits: { hits: unknown[] } }).hits.hits.length], [200, 1]);

  res = await app.inject({ method: 'DELETE', url: `${BASE}/${id}`, headers: as('alice') });
  assert.equal(res.statusCode, 200);
  assert.deepEqual((res.json() as { result: string; _id: string }).result, 'deleted');

  res = await app.inject({ method: 'GET', url: `${BASE}/${id}`, headers: as('alice') });
  assert.deepEqual([res.statusCode, res.json()], [404, envelope(404, 'status_exception', `Failed to find model group with the provided model group id: ${id}`)]);
});

test('body errors: empty, invalid JSON, not an object; content type does not matter', async (t) => {
  const { app } = await buildGroupsHarness();
  t.after(() => app.close());
  let res = await app.inject({ method: 'POST', url: `${BASE}/_register`, headers: as('alice') });
  assert.deepEqual([res.statusCode, res.json()], [400, envelope(400, 'parse_exception', 'Model group request has empty body')]);
  res = await app.inject({ method: 'PUT', url: `${BASE}/x`, headers: as('alice', json), payload: '   ' });
  assert.deepEqual([res.statusCode, res.json()], [400, envelope(400, 'parse_exception', 'Model group request has empty body')]);
  res = await app.inject({ method: 'POST', url: `${BASE}/_register`, headers: as('alice', json), payload: '{"name": ' });
  assert.equal(res.statusCode, 400);
  assert.equal((res.json() as { error: { type: string } }).error.type, 'parse_exception');
  res = await app.inject({ method: 'POST', url: `${BASE}/_search`, headers: as('alice') });
  assert.deepEqual([res.statusCode, res.json()], [400, envelope(400, 'parse_exception', 'request body or source parameter is required')]);
  // curl -d sends application/x-www-form-urlencoded: still read as JSON
  res = await app.inject({
    method: 'POST',
    url: `${BASE}/_register`,
    headers: as('alice', { 'content-type': 'application/x-www-form-urlencoded' }),
    payload: '{"name":"form"}',
  });
  assert.equal(res.statusCode, 200);
  res = await app.inject({ method: 'POST', url: `${BASE}/_register`, headers: as('alice', json), payload: {} });
  assert.deepEqual([res.statusCode, res.json()], [400, envelope(400, 'illegal_argument_exception', 'model group name must not be null')]);
});

test('validation, permission and delete statuses pass through the error handler', async (t) => {
  const { app, groups } = await buildGroupsHarness();
  t.after(() => app.close());
  const reg = async (who: 'alice' | 'bob', body: unknown) =>
    app.inject({ method: 'POST', url: `${BASE}/_register`, headers: as(who, json), payload: body as Record<string, unknown> });

  let res = await reg('alice', { name: 'r', access_mode: 'restricted', backend_roles: ['human-resources'] });
  assert.deepEqual([res.statusCode, res.json()], [400, envelope(400, 'illegal_argument_exception', "You don't have the backend roles specified.")]);
  res = await reg('alice', { name: 'bad<>' });
  assert.equal(res.statusCode, 400);
  assert.equal((res.json() as { error: { type: string } }).error.type, 'action_request_validation_exception');

  const priv = ((await reg('alice', { name: 'private one' })).json() as { model_group_id: string }).model_group_id;
  res = await reg('bob', { name: 'private one' });
  assert.deepEqual([res.statusCode, res.json()], [400, envelope(400, 'illegal_argument_exception', `The name you provided is already being used by a model group with ID: ${priv}.`)]);

  res = await app.inject({ method: 'PUT', url: `${BASE}/${priv}`, headers: as('bob', json), payload: { name: 'stolen' } });
  assert.deepEqual([res.statusCode, res.json()], [400, envelope(400, 'illegal_argument_exception', "You don't have permission to update this model group.")]);

  res = await app.inject({ method: 'DELETE', url: `${BASE}/${priv}`, headers: as('bob') });
  assert.deepEqual([res.statusCode, res.json()], [403, envelope(403, 'status_exception', "User doesn't have privilege to delete this model group")]);
  res = await app.inject({ method: 'DELETE', url: `${BASE}/nope`, headers: as('bob') });
  assert.deepEqual([res.statusCode, res.json()], [404, envelope(404, 'status_exception', 'Fail to find model group')]);
  groups.setModelCounter((id) => (id === priv ? 1 : 0));
  res = await app.inject({ method: 'DELETE', url: `${BASE}/${priv}`, headers: as('alice') });
  assert.deepEqual([res.statusCode, res.json()], [409, envelope(409, 'status_exception', 'Cannot delete the model group when it has associated model versions')]);
  res = await app.inject({ method: 'DELETE', url: `${BASE}/nope`, headers: as('admin') });
  assert.deepEqual([res.statusCode, (res.json() as { result: string }).result], [200, 'not_found']);

  res = await app.inject({ method: 'POST', url: `${BASE}/_search`, headers: as('alice', json), payload: { query: { wildcard: { name: 'x*' } } } });
  assert.equal(res.statusCode, 400);
  assert.match((res.json() as { error: { reason: string } }).error.reason, /\[wildcard\]/);

  res = await reg('bob', { name: 'x' });
  assert.equal(res.statusCode, 200);
  res = await app.inject({ method: 'POST', url: `${BASE}/_register`, headers: as('eve', json), payload: { name: 'y' } });
  assert.equal(res.statusCode, 403);
  assert.equal((res.json() as { error: { type: string } }).error.type, 'security_exception');
});

test('GET search bodies are read within max_request_size', async (t) => {
  const { app } = await buildGroupsHarness({ maxRequestSizeBytes: 64 });
  t.after(() => app.close());
  let res = await app.inject({ method: 'GET', url: `${BASE}/_search`, headers: as('admin', json), payload: { query: { match_all: {} } } });
  assert.equal(res.statusCode, 200);
  res = await app.inject({ method: 'GET', url: `${BASE}/_search`, headers: as('admin', json), payload: { query: { term: { name: 'x'.repeat(100) } } } });
  assert.equal(res.statusCode, 413);
});
