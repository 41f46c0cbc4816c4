/**
 * Issue #7 "A user with no ML role mapped gets 403 on ML APIs": the TorchServe model routes of the
 * management and inference listeners check the internal user's ML role before anything else.
 * No ML role: 403 everywhere; ml_readonly_access: read only (no predict, as OpenSearch's role);
 * ml_full_access, admins and callers without identity: unaffected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { NO_PRINCIPAL, keyHolder } from '../../src/auth/principal.js';
import { decoratePrincipal } from '../../src/http/auth-hook.js';
import { createListenerApp } from '../../src/http/common.js';
import { managementApi } from '../../src/http/management.js';
import { installApiDescription } from '../../src/http/openapi.js';
import { silentLogger } from '../../src/logger.js';
import { setup } from '../unit/registry/fakes.js';
import { buildHarness, type FakeRuntime } from './inference-fakes.js';

type Ctx = { after(fn: () => unknown): void };

/**
 * Management listener around a real Registry (fake engine) holding model `add`. Caller from
 * headers: `x-test-user: admin` is the key holder, another name a user with `x-test-roles`
 * (comma separated, may be empty), no header no identity.
 */
async function managementHarness(t: Ctx): Promise<{ app: FastifyInstance; names: () => string[] }> {
  const h = await setup(t, { enable_model_api: 'true' });
  await h.mar('add.mar');
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  const app = createListenerApp({ name: 'management', config: h.config, log: silentLogger(), accessLog: silentLogger() });
  decoratePrincipal(app);
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-test-user'];
    const roles = String(request.headers['x-test-roles'] ?? '').split(',').filter((r) => r !== '');
    if (user === 'admin') request.principal = keyHolder('management-key');
    else if (typeof user === 'string') request.principal = { kind: 'user', name: user, backendRoles: ['analyst'], roles };
    else request.principal = NO_PRINCIPAL;
  });
  installApiDescription(app, { title: 'tsserve APIs' });
  await app.register(managementApi, { registry: h.registry, config: h.config });
  await app.ready();
  t.after(() => app.close());
  return { app, names: () => h.registry.names() };
}

const user = (name: string, roles: string) => ({ 'x-test-user': name, 'x-test-roles': roles });

type Call = [method: string, url: string, action: string];

/** Every model operation of the management API, with the OpenSearch action it maps to. */
const MANAGEMENT_CALLS: Call[] = [
  ['GET', '/models', 'cluster:admin/opensearch/ml/models/search'],
  ['GET', '/models/add', 'cluster:admin/opensearch/ml/models/get'],
  ['GET', '/models/add/all', 'cluster:admin/opensearch/ml/models/get'],
  ['GET', '/models/missing', 'cluster:admin/opensearch/ml/models/get'],
  ['OPTIONS', '/models/add', 'cluster:admin/opensearch/ml/models/get'],
  ['GET', '/v1/models/add', 'cluster:admin/opensearch/ml/models/get'],
  ['POST', '/models?url=add.mar&model_name=other', 'cluster:admin/opensearch/ml/register_model'],
  ['PUT', '/models/add?min_worker=0&synchronous=true', 'cluster:admin/opensearch/ml/deploy_model'],
  ['PUT', '/models/add/1.0/set-default', 'cluster:admin/opensearch/ml/models/update'],
  ['DELETE', '/models/add/2.0', 'cluster:admin/opensearch/ml/models/delete'],
];

const READS = new Set(['cluster:admin/opensearch/ml/models/search', 'cluster:admin/opensearch/ml/models/get']);

test('management API: a user without an ML role gets 403 AccessDeniedException on every model operation, before any lookup', async (t) => {
  const { app, names } = await managementHarness(t);
  for (const [method, url, action] of MANAGEMENT_CALLS) {
    const res = await app.inject({ method: method as 'GET', url, headers: user('eve', '') });
    assert.equal(res.statusCode, 403, `${method} ${url}`);
    assert.deepEqual(res.json(), {
      code: 403,
      type: 'AccessDeniedException',
      message: `no permissions for [${action}] and User [name=eve, backend_roles=[analyst], requestedTenant=null]`,
    }, `${method} ${url}`);
  }
  // Roles that are not ML roles do not help.
  const other = await app.inject({ method: 'GET', url: '/models', headers: user('eve', 'own_index,kibana_user') });
  assert.equal(other.statusCode, 403);
  assert.deepEqual(names(), ['add'], 'nothing registered or removed');
});

test('management API: ml_readonly_access reads (list, describe, model ready) but cannot change anything', async (t) => {
  const { app, names } = await managementHarness(t);
  for (const [method, url, action] of MANAGEMENT_CALLS) {
    const res = await app.inject({ method: method as 'GET', url, headers: user('rita', 'ml_readonly_access') });
    if (READS.has(action)) {
      assert.notEqual(res.statusCode, 403, `${method} ${url}: ${res.body}`);
      assert.equal(res.statusCode, url.includes('missing') ? 404 : 200, `${method} ${url}: ${res.body}`);
    } else {
      assert.equal(res.statusCode, 403, `${method} ${url}`);
      assert.equal(res.json().type, 'AccessDeniedException');
      assert.match(res.json().message, new RegExp(`^no permissions for \\[${action}\\] and User \\[name=rita,`));
    }
  }
  assert.deepEqual(names(), ['add']);
  const described = await app.inject({ method: 'GET', url: '/models/add/all', headers: user('rita', 'ml_readonly_access') });
  assert.equal(described.json().length, 2, 'still two versions');
});

test('management API: ml_full_access, all_access users, key holders and no identity may do everything', async (t) => {
  for (const headers of [user('alice', 'ml_full_access'), user('root', 'all_access'), { 'x-test-user': 'admin' }, {}]) {
    const { app } = await managementHarness(t);
    for (const [method, url] of MANAGEMENT_CALLS) {
      const res = await app.inject({ method: method as 'GET', url, headers });
      assert.equal(res.statusCode, url.includes('missing') ? 404 : 200, `${JSON.stringify(headers)} ${method} ${url}: ${res.body}`);
    }
  }
});

test('management API: a method the route does not have stays 405 for everyone', async (t) => {
  const { app } = await managementHarness(t);
  const res = await app.inject({ method: 'PATCH', url: '/models', headers: user('eve', '') });
  assert.equal(res.statusCode, 405);
});

/** Inference calls: [method, url, OpenSearch action, error shape]. */
const INFERENCE_CALLS: [string, string, string, 'ts' | 'oip'][] = [
  ['POST', '/predictions/open', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/predictions/open/1.0', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/predictions/missing', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/explanations/open', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/open/predict', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/invocations?model_name=open', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/invocations', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/models/open/invoke', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/v1/models/open:predict', 'cluster:admin/opensearch/ml/predict', 'ts'],
  ['POST', '/v2/models/open/infer', 'cluster:admin/opensearch/ml/predict', 'oip'],
  ['POST', '/v2/models/open/versions/1.0/infer', 'cluster:admin/opensearch/ml/predict', 'oip'],
  ['OPTIONS', '/predictions/open', 'cluster:admin/opensearch/ml/models/get', 'ts'],
  ['GET', '/v1/models/open', 'cluster:admin/opensearch/ml/models/get', 'oip'],
  ['GET', '/v2/models/open', 'cluster:admin/opensearch/ml/models/get', 'oip'],
  ['GET', '/v2/models/open/ready', 'cluster:admin/opensearch/ml/models/get', 'oip'],
  ['GET', '/v1/models', 'cluster:admin/opensearch/ml/models/search', 'oip'],
  ['GET', '/v2/models', 'cluster:admin/opensearch/ml/models/search', 'oip'],
];

async function inferenceHarness(t: Ctx) {
  const h = await buildHarness({}, (r) => r.add('open', '1.0', { groupId: 'g1' }));
  h.groups.allowed.set('g1', new Set(['eve', 'rita', 'alice']));
  t.after(() => h.app.close());
  return h;
}

test('inference API: no ML role is 403 on every model route (TorchServe body, or OIP\'s {"error"} on KServe/OIP routes)', async (t) => {
  const h = await inferenceHarness(t);
  for (const [method, url, action, shape] of INFERENCE_CALLS) {
    const res = await h.app.inject({ method: method as 'POST', url, headers: user('eve', ''), payload: method === 'POST' ? '{}' : undefined });
    assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
    const message = `no permissions for [${action}] and User [name=eve, backend_roles=[], requestedTenant=null]`;
    assert.deepEqual(res.json(), shape === 'ts' ? { code: 403, type: 'AccessDeniedException', message } : { error: message }, `${method} ${url}`);
  }
  assert.equal((h.registry.get('open').runtime as FakeRuntime).submitted.length, 0, 'nothing ran');
  assert.equal(h.metrics.calls.filter((c) => c[0] === 'inferenceRequest').length, 0, 'nothing counted');
  // Not model APIs: server health and metadata stay open.
  for (const url of ['/ping', '/v2', '/v2/health/ready']) {
    assert.equal((await h.app.inject({ method: 'GET', url, headers: user('eve', '') })).statusCode, 200, url);
  }
});

test('inference API: ml_readonly_access may list and describe models but not predict (OpenSearch\'s role has no predict)', async (t) => {
  const h = await inferenceHarness(t);
  for (const [method, url, action] of INFERENCE_CALLS) {
    const res = await h.app.inject({ method: method as 'POST', url, headers: user('rita', 'ml_readonly_access'), payload: method === 'POST' ? '{}' : undefined });
    if (action.endsWith('/predict')) assert.equal(res.statusCode, 403, `${method} ${url}`);
    else assert.equal(res.statusCode, 200, `${method} ${url}: ${res.body}`);
  }
  assert.equal((h.registry.get('open').runtime as FakeRuntime).submitted.length, 0);
});

test('inference API: ml_full_access, all_access and no identity predict as before', async (t) => {
  const h = await inferenceHarness(t);
  for (const headers of [user('alice', 'ml_full_access'), user('alice', 'all_access'), {}]) {
    const res = await h.app.inject({ method: 'POST', url: '/predictions/open', headers, payload: '{}' });
    assert.equal(res.statusCode, 200, JSON.stringify(headers));
  }
});
