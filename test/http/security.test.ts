/** Internal users, role mappings and cluster settings over app.inject (admin only). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { as, buildGroupsHarness } from './groups-harness.js';

const USERS = '/_plugins/_security/api/internalusers';
const MAPPINGS = '/_plugins/_security/api/rolesmapping';
const json = { 'content-type': 'application/json' };

test('internal users: create 201, update 200, get without the hash, list, delete, 404', async (t) => {
  const { app, groups } = await buildGroupsHarness();
  t.after(() => app.close());
  let res = await app.inject({ method: 'PUT', url: `${USERS}/alice`, headers: as('admin', json), payload: { password: 'alice-password', backend_roles: ['analyst'], attributes: { team: 'risk' } } });
  assert.deepEqual([res.statusCode, res.json()], [201, { status: 'CREATED', message: "'alice' created." }]);
  res = await app.inject({ method: 'PUT', url: `${USERS}/alice`, headers: as('admin', json), payload: { backend_roles: ['analyst', 'risk'] } });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'OK', message: "'alice' updated." }]);

  res = await app.inject({ method: 'GET', url: `${USERS}/alice`, headers: as('admin') });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    alice: {
      hash: '',
      reserved: false,
      hidden: false,
      backend_roles: ['analyst', 'risk'],
      attributes: {},
      opendistro_security_roles: [],
      static: false,
      description: '',
    },
  });
  assert.ok(!res.body.includes('scrypt'));
  assert.ok(await groups.users.authenticateBasic('alice', 'alice-password'), 'password kept across the update');

  await app.inject({ method: 'PUT', url: `${USERS}/bob`, headers: as('admin', json), payload: { password: 'bob-password', backend_roles: ['human-resources'] } });
  res = await app.inject({ method: 'GET', url: USERS, headers: as('admin') });
  assert.deepEqual(Object.keys(res.json() as object), ['alice', 'bob']);
  res = await app.inject({ method: 'GET', url: `${USERS}/`, headers: as('admin') });
  assert.equal(res.statusCode, 200, 'trailing slash');

  res = await app.inject({ method: 'DELETE', url: `${USERS}/bob`, headers: as('admin') });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'OK', message: "'bob' deleted." }]);
  for (const method of ['GET', 'DELETE'] as const) {
    res = await app.inject({ method, url: `${USERS}/bob`, headers: as('admin') });
    assert.deepEqual([res.statusCode, res.json()], [404, { status: 'NOT_FOUND', message: "'bob' not found." }], method);
  }

  res = await app.inject({ method: 'PUT', url: `${USERS}/carol`, headers: as('admin', json), payload: { backend_roles: [] } });
  assert.deepEqual([res.statusCode, res.json()], [400, { status: 'BAD_REQUEST', message: "Please specify either 'hash' or 'password' when creating a new internal user." }]);
  res = await app.inject({ method: 'PUT', url: `${USERS}/carol`, headers: as('admin', json), payload: '{oops' });
  assert.deepEqual([res.statusCode, res.json()], [400, { status: 'BAD_REQUEST', message: 'Could not parse content of request.' }]);
  res = await app.inject({ method: 'PUT', url: `${USERS}/carol`, headers: as('admin', json) });
  assert.equal(res.statusCode, 400);
});

test('role mappings: create, update, get, list, delete', async (t) => {
  const { app, groups } = await buildGroupsHarness();
  t.after(() => app.close());
  await app.inject({ method: 'PUT', url: `${USERS}/alice`, headers: as('admin', json), payload: { password: 'alice-password', backend_roles: ['analyst'] } });
  let res = await app.inject({ method: 'PUT', url: `${MAPPINGS}/ml_full_access`, headers: as('admin', json), payload: { users: ['alice'] } });
  assert.deepEqual([res.statusCode, res.json()], [201, { status: 'CREATED', message: "'ml_full_access' created." }]);
  assert.deepEqual((await groups.users.authenticateBasic('alice', 'alice-password'))?.kind === 'user' ? 'mapped' : 'no', 'mapped');
  res = await app.inject({ method: 'PUT', url: `${MAPPINGS}/ml_full_access`, headers: as('admin', json), payload: { users: ['alice'], backend_roles: ['human-resources'], hosts: [] } });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'OK', message: "'ml_full_access' updated." }]);
  res = await app.inject({ method: 'GET', url: `${MAPPINGS}/ml_full_access`, headers: as('admin') });
  assert.deepEqual(res.json(), {
    ml_full_access: { hosts: [], users: ['alice'], reserved: false, hidden: false, backend_roles: ['human-resources'], and_backend_roles: [], description: '' },
  });
  const alice = await groups.users.authenticateBasic('alice', 'alice-password');
  assert.deepEqual(alice && alice.kind === 'user' ? alice.roles : undefined, ['ml_full_access']);
  res = await app.inject({ method: 'GET', url: MAPPINGS, headers: as('admin') });
  assert.deepEqual(Object.keys(res.json() as object), ['ml_full_access']);
  res = await app.inject({ method: 'DELETE', url: `${MAPPINGS}/ml_full_access`, headers: as('admin') });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'OK', message: "'ml_full_access' deleted." }]);
  res = await app.inject({ method: 'GET', url: `${MAPPINGS}/ml_full_access`, headers: as('admin') });
  assert.deepEqual([res.statusCode, res.json()], [404, { status: 'NOT_FOUND', message: "'ml_full_access' not found." }]);
  res = await app.inject({ method: 'PUT', url: `${MAPPINGS}/ml_full_access`, headers: as('admin', json), payload: { users: 'alice' } });
  assert.deepEqual([res.statusCode, res.json()], [400, { status: 'BAD_REQUEST', message: "'users' must be an array of strings." }]);
});

test('cluster settings: PUT persistent/transient, GET, flat_settings; the setting takes effect', async (t) => {
  const { app, groups } = await buildGroupsHarness({ enabled: false });
  t.after(() => app.close());
  assert.equal(groups.accessControlEnabled(), false);
  let res = await app.inject({
    method: 'PUT',
    url: '/_cluster/settings',
    headers: as('admin', json),
    payload: { persistent: { 'plugins.ml_commons.model_access_control_enabled': 'true' } },
  });
  assert.deepEqual([res.statusCode, res.json()], [
    200,
    { acknowledged: true, persistent: { plugins: { ml_commons: { model_access_control_enabled: 'true' } } }, transient: {} },
  ]);
  assert.equal(groups.accessControlEnabled(), true);
  res = await app.inject({
    method: 'PUT',
    url: '/_cluster/settings?flat_settings=true',
    headers: as('admin', json),
    payload: { transient: { 'plugins.ml_commons.model_access_control_enabled': false } },
  });
  assert.deepEqual(res.json(), { acknowledged: true, persistent: {}, transient: { 'plugins.ml_commons.model_access_control_enabled': 'false' } });
  assert.equal(groups.accessControlEnabled(), false);
  res = await app.inject({ method: 'GET', url: '/_cluster/settings?flat_settings', headers: as('admin') });
  assert.deepEqual(res.json(), {
    persistent: { 'plugins.ml_commons.model_access_control_enabled': 'true' },
    transient: { 'plugins.ml_commons.model_access_control_enabled': 'false' },
  });
  res = await app.inject({ method: 'PUT', url: '/_cluster/settings', headers: as('admin', json), payload: { persistent: { 'cluster.routing.x': 1 } } });
  assert.deepEqual([res.statusCode, (res.json() as { error: { reason: string } }).error.reason], [400, 'persistent setting [cluster.routing.x], not recognized']);
  res = await app.inject({ method: 'PUT', url: '/_cluster/settings', headers: as('admin', json), payload: 'nope' });
  assert.equal(res.statusCode, 400);
});

test('every admin route refuses users and anonymous callers with 403 security_exception', async (t) => {
  const { app } = await buildGroupsHarness();
  t.after(() => app.close());
  const routes: [string, string][] = [
    ['GET', USERS],
    ['PUT', `${USERS}/x`],
    ['GET', `${USERS}/x`],
    ['DELETE', `${USERS}/x`],
    ['GET', MAPPINGS],
    ['PUT', `${MAPPINGS}/ml_full_access`],
    ['GET', `${MAPPINGS}/ml_full_access`],
    ['DELETE', `${MAPPINGS}/ml_full_access`],
    ['GET', '/_cluster/settings'],
    ['PUT', '/_cluster/settings'],
  ];
  for (const [method, url] of routes) {
    for (const who of ['alice', 'none'] as const) {
      const res = await app.inject({ method: method as 'GET', url, headers: as(who, json), payload: method === 'PUT' ? '{}' : undefined });
      assert.equal(res.statusCode, 403, `${who} ${method} ${url}`);
      const body = res.json() as { error: { type: string; reason: string }; status: number };
      assert.equal(body.error.type, 'security_exception');
      assert.equal(body.status, 403);
      assert.match(body.error.reason, who === 'alice' ? /User \[name=alice, backend_roles=\[analyst\]/ : /User \[null\]/);
    }
  }
});
