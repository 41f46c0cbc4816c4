/**
 * The management API over app.inject (spec §5, §7, §3.7): every endpoint, the model API control
 * gate with TorchServe's exact 405 body, parameter validation, access control, and the OpenAPI
 * documents. A real Registry and archive module; a fake engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { NO_PRINCIPAL } from '../../src/auth/principal.js';
import type { Config } from '../../src/config/schema.js';
import { decoratePrincipal } from '../../src/http/auth-hook.js';
import { createListenerApp } from '../../src/http/common.js';
import { managementApi } from '../../src/http/management.js';
import { installApiDescription } from '../../src/http/openapi.js';
import { silentLogger } from '../../src/logger.js';
import type { Registry } from '../../src/registry/registry.js';
import { BOB, FakeGroups, setup, type Harness } from '../unit/registry/fakes.js';

const METHOD_NOT_ALLOWED = {
  code: 405,
  type: 'MethodNotAllowedException',
  message: 'Requested method is not allowed, please refer to API document.',
};

type Ctx = { after(fn: () => unknown): void };

async function buildApp(t: Ctx, registry: Registry, config: Config): Promise<FastifyInstance> {
  const app = createListenerApp({ name: 'management', config, log: silentLogger(), accessLog: silentLogger() });
  decoratePrincipal(app);
  // Stands in for the auth hook: `x-test-user: bob` is a user, anything else no identity.
  app.addHook('onRequest', async (request) => {
    request.principal = request.headers['x-test-user'] === 'bob' ? BOB : NO_PRINCIPAL;
  });
  installApiDescription(app, { title: 'tsserve APIs' });
  await app.register(managementApi, { registry, config });
  await app.ready();
  t.after(() => app.close());
  return app;
}

async function harness(t: Ctx, props: Record<string, string> = {}, groups?: FakeGroups): Promise<Harness & { app: FastifyInstance }> {
  const h = await setup(t, props, groups ? { groups } : {});
  await h.mar('add.mar');
  const app = await buildApp(t, h.registry, h.config);
  return { ...h, app };
}

test('model API control: register and unregister are 405 with TorchServe\'s exact body and change nothing', async (t) => {
  const h = await harness(t);
  for (const url of ['/models?url=add.mar', '/models?url=add.mar&model_name=x&initial_workers=1']) {
    const res = await h.app.inject({ method: 'POST', url });
    assert.equal(res.statusCode, 405);
    assert.deepEqual(res.json(), METHOD_NOT_ALLOWED);
  }
  const json = await h.app.inject({ method: 'POST', url: '/models', headers: { 'content-type': 'application/json' }, payload: { url: 'add.mar' } });
  assert.deepEqual([json.statusCode, json.json()], [405, METHOD_NOT_ALLOWED]);
  assert.equal((await h.app.inject({ method: 'GET', url: '/models/add' })).statusCode, 404, 'nothing registered');
  assert.equal(h.engine.created.length, 0);

  // A startup model: delete is refused, read and scale still work.
  await h.registry.register({ url: 'add.mar', initialWorkers: 1 }, NO_PRINCIPAL);
  for (const url of ['/models/add', '/models/add/1.0']) {
    const res = await h.app.inject({ method: 'DELETE', url });
    assert.deepEqual([res.statusCode, res.json()], [405, METHOD_NOT_ALLOWED]);
  }
  assert.deepEqual(h.registry.names(), ['add']);
  assert.equal((await h.app.inject({ method: 'GET', url: '/models' })).statusCode, 200);
  assert.equal((await h.app.inject({ method: 'PUT', url: '/models/add?min_worker=2' })).statusCode, 202);
  assert.equal((await h.app.inject({ method: 'PUT', url: '/models/add/1.0/set-default' })).statusCode, 200);
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/models/add' })).statusCode, 200);
});

test('POST /models: query or JSON body; 200, 202 and TorchServe\'s messages', async (t) => {
  const h = await harness(t, { enable_model_api: 'true' });
  let res = await h.app.inject({ method: 'POST', url: '/models?url=add.mar&initial_workers=1' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.deepEqual(res.json(), { status: 'Model "add" Version: 1.0 registered with 1 initial workers' });

  res = await h.app.inject({
    method: 'POST',
    url: '/models?url=ignored.mar',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    payload: JSON.stringify({ url: 'add.mar', model_name: 'add2', initial_workers: 0, batch_size: 3 }),
  });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), { status: 'Model "add2" Version: 1.0 registered with 0 initial workers. Use scale workers API to add workers for the model.' });
  const spec = h.registry.get('add2').spec;
  assert.equal(spec.batchSize, 3);
  assert.equal(spec.maxBatchDelayMs, 100, 'an absent JSON field is absent (no -10000 quirk)');

  res = await h.app.inject({ method: 'POST', url: '/models?url=add.mar&model_name=add3&initial_workers=1&synchronous=false' });
  assert.deepEqual([res.statusCode, res.json()], [202, { status: 'Processing worker updates...' }]);
  // Only "true" is true: synchronous=-1 is asynchronous.
  res = await h.app.inject({ method: 'POST', url: '/models?url=add.mar&model_name=add4&initial_workers=1&synchronous=-1' });
  assert.equal(res.statusCode, 202);

  res = await h.app.inject({ method: 'POST', url: '/models?url=add.mar' });
  assert.deepEqual([res.statusCode, res.json()], [409, { code: 409, type: 'ConflictStatusException', message: 'Model version 1.0 is already registered for model add' }]);

  h.engine.failWorkersOf.add('bad');
  res = await h.app.inject({ method: 'POST', url: '/models?url=add.mar&model_name=bad&initial_workers=1' });
  assert.deepEqual([res.statusCode, res.json()], [500, { code: 500, type: 'InternalServerException', message: 'Failed to start workers for model bad version: 1.0' }]);
  assert.ok(!h.registry.names().includes('bad'));
});

test('POST /models: every parameter is validated and a bad one is named', async (t) => {
  const h = await harness(t, { enable_model_api: 'true' });
  const cases: [string, number, string][] = [
    ['/models', 400, 'Parameter url is required.'],
    ['/models?url=', 404, 'empty url'],
    ['/models?url=../x.mar', 404, 'Relative path is not allowed in url: ../x.mar'],
    ['/models?url=nope.mar', 404, 'Model not found at: nope.mar'],
    ['/models?url=http://169.254.169.254/latest.mar', 404, 'Given URL http://169.254.169.254/latest.mar does not match any allowed URL(s)'],
    ['/models?url=add.mar&runtime=java', 400, 'Invalid RuntimeType value: java'],
    ['/models?url=add.mar&batch_size=abc', 400, 'Invalid value for parameter batch_size: must be an integer'],
    ['/models?url=add.mar&batch_size=0', 400, 'Invalid value for parameter batch_size: must be >= 1'],
    ['/models?url=add.mar&initial_workers=-1', 400, 'Invalid value for parameter initial_workers: must be >= 0'],
    ['/models?url=add.mar&initial_workers=100000', 400, 'Invalid value for parameter initial_workers: must be <= 1024'],
    ['/models?url=add.mar&max_batch_delay=1.5', 400, 'Invalid value for parameter max_batch_delay: must be an integer'],
    ['/models?url=add.mar&response_timeout=x', 400, 'Invalid value for parameter response_timeout: must be an integer'],
  ];
  for (const [url, status, message] of cases) {
    const res = await h.app.inject({ method: 'POST', url });
    assert.equal(res.statusCode, status, `${url}: ${res.body}`);
    assert.equal(res.json().message, message, url);
  }
  const json = async (payload: string) =>
    (await h.app.inject({ method: 'POST', url: '/models', headers: { 'content-type': 'application/json' }, payload })).json();
  assert.equal((await json('{"url": ')).code, 400);
  assert.equal((await json('[1]')).message, 'Invalid JSON body: must be a JSON object');
  assert.equal((await json('{"url": "add.mar", "initial_workers": "two"}')).message, 'Invalid value for parameter initial_workers: must be an integer');
  assert.equal((await json('{"url": 5}')).message, 'Model not found at: 5');
  assert.equal((await json('{}')).message, 'Parameter url is required.');
  assert.deepEqual(h.registry.names(), []);
  assert.deepEqual(await readdir(h.workRoot).catch(() => []), []);
});

test('GET /models: list and pagination', async (t) => {
  const h = await harness(t);
  assert.deepEqual((await h.app.inject({ method: 'GET', url: '/models' })).json(), { models: [] });
  for (const name of ['b', 'a', 'c']) await h.registry.register({ url: 'add.mar', modelName: name, initialWorkers: 0 }, NO_PRINCIPAL);
  let res = await h.app.inject({ method: 'GET', url: '/models?limit=2' });
  assert.deepEqual(res.json(), { nextPageToken: '2', models: [{ modelName: 'a', modelUrl: 'add.mar' }, { modelName: 'b', modelUrl: 'add.mar' }] });
  res = await h.app.inject({ method: 'GET', url: '/models?limit=2&next_page_token=2' });
  assert.deepEqual(res.json(), { models: [{ modelName: 'c', modelUrl: 'add.mar' }] });
  res = await h.app.inject({ method: 'GET', url: '/models?limit=many' });
  assert.deepEqual([res.statusCode, res.json().message], [400, 'Invalid value for parameter limit: must be an integer']);
  // Access control: bob's groups are not visible to him.
  assert.equal((await h.app.inject({ method: 'GET', url: '/models', headers: { 'x-test-user': 'bob' } })).json().models.length, 3, 'no groups service: no filtering');
});

test('GET /models/{name}[/{version}|/all]: describe', async (t) => {
  const h = await harness(t);
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.registry.register({ url: 'add.mar', initialWorkers: 1 }, NO_PRINCIPAL);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  let res = await h.app.inject({ method: 'GET', url: '/models/add' });
  assert.equal(res.statusCode, 200);
  const [d] = res.json();
  assert.equal(d.modelName, 'add');
  assert.equal(d.modelVersion, '1.0');
  assert.equal(d.workers[0].status, 'READY');
  assert.match(d.workers[0].startTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(d.outputs, [{ name: 'output', dtype: 'float32', shape: ['N', 4] }]);
  assert.match(res.body, /^\[\n  \{\n    "modelName": "add",/, 'pretty JSON');
  res = await h.app.inject({ method: 'GET', url: '/models/add/2.0' });
  assert.deepEqual(res.json().map((x: { modelVersion: string }) => x.modelVersion), ['2.0']);
  res = await h.app.inject({ method: 'GET', url: '/models/add/all?customized=true' });
  assert.deepEqual(res.json().map((x: { modelVersion: string }) => x.modelVersion), ['1.0', '2.0']);
  res = await h.app.inject({ method: 'GET', url: '/models/nope' });
  assert.deepEqual([res.statusCode, res.json()], [404, { code: 404, type: 'ModelNotFoundException', message: 'Model not found: nope' }]);
  res = await h.app.inject({ method: 'GET', url: '/models/add/3.0' });
  assert.deepEqual(res.json(), { code: 404, type: 'ModelVersionNotFoundException', message: 'Model version: 3.0 does not exist for model: add' });
});

test('PUT /models/{name}[/{version}]: scale', async (t) => {
  const h = await harness(t);
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  let res = await h.app.inject({ method: 'PUT', url: '/models/add' });
  assert.deepEqual([res.statusCode, res.json()], [202, { status: 'Processing worker updates...' }]);
  assert.equal(h.registry.get('add').spec.minWorkers, 1, 'min_worker defaults to 1');
  res = await h.app.inject({ method: 'PUT', url: '/models/add?min_worker=2&max_worker=3&synchronous=true' });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Workers scaled to 2 for model: add' }]);
  assert.equal(h.registry.get('add').spec.maxWorkers, 3);
  res = await h.app.inject({ method: 'PUT', url: '/models/add/1.0?min_worker=1&synchronous=TRUE' });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Workers scaled to 1 for model: add, version: 1.0' }]);
  assert.equal(h.registry.get('add').spec.maxWorkers, 1, 'max_worker defaults to min_worker');
  res = await h.app.inject({ method: 'PUT', url: '/models/add?min_worker=1&model_version=1.0&synchronous=true' });
  assert.equal(res.json().status, 'Workers scaled to 1 for model: add, version: 1.0');
  res = await h.app.inject({ method: 'PUT', url: '/models/add?min_worker=3&max_worker=2' });
  assert.deepEqual([res.statusCode, res.json()], [400, { code: 400, type: 'BadRequestException', message: 'max_worker cannot be less than min_worker.' }]);
  res = await h.app.inject({ method: 'PUT', url: '/models/add?min_worker=-1' });
  assert.deepEqual([res.statusCode, res.json().message], [400, 'Invalid value for parameter min_worker: must be >= 0']);
  res = await h.app.inject({ method: 'PUT', url: '/models/nope?min_worker=1' });
  assert.deepEqual([res.statusCode, res.json().message], [404, 'Model not found: nope']);
  res = await h.app.inject({ method: 'PUT', url: '/models/add/9.9?min_worker=1' });
  assert.deepEqual([res.statusCode, res.json().message], [404, 'Model version: 9.9 does not exist for model: add']);
  // timeout and number_gpu are accepted and ignored.
  assert.equal((await h.app.inject({ method: 'PUT', url: '/models/add?timeout=abc&number_gpu=2' })).statusCode, 202);
});

test('versions: set-default and DELETE (403 for the default with others, then 200)', async (t) => {
  const h = await harness(t, { enable_model_api: 'true' });
  await h.mar('add2.mar', { modelVersion: '2.0' });
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  await h.registry.register({ url: 'add2.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  let res = await h.app.inject({ method: 'DELETE', url: '/models/add' });
  assert.deepEqual([res.statusCode, res.json()], [403, { code: 403, type: 'InvalidModelVersionException', message: 'Cannot remove default version for model add' }]);
  res = await h.app.inject({ method: 'PUT', url: '/models/add/3.0/set-default' });
  assert.deepEqual([res.statusCode, res.json().message], [404, 'Model version 3.0 does not exist for model add']);
  res = await h.app.inject({ method: 'PUT', url: '/models/add/2.0/set-default' });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Default version successfully updated for model "add" to "2.0"' }]);
  res = await h.app.inject({ method: 'DELETE', url: '/models/add/1.0?synchronous=true&timeout=5' });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Model "add" unregistered' }]);
  res = await h.app.inject({ method: 'DELETE', url: '/models/add' });
  assert.deepEqual([res.statusCode, res.json()], [200, { status: 'Model "add" unregistered' }]);
  res = await h.app.inject({ method: 'DELETE', url: '/models/add' });
  assert.deepEqual([res.statusCode, res.json().message], [404, 'Model not found: add']);
});

test('GET /v1/models/{name}: KServe v1 readiness; other methods 405', async (t) => {
  const h = await harness(t);
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  assert.deepEqual((await h.app.inject({ method: 'GET', url: '/v1/models/add' })).json(), { name: 'add', ready: false });
  await h.registry.scale('add', undefined, 1, 1, true);
  assert.deepEqual((await h.app.inject({ method: 'GET', url: '/v1/models/add' })).json(), { name: 'add', ready: true });
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/models/nope' })).statusCode, 404);
  const res = await h.app.inject({ method: 'POST', url: '/v1/models/add' });
  assert.deepEqual([res.statusCode, res.json()], [405, METHOD_NOT_ALLOWED]);
});

test('other methods on /models... are 405; unknown paths 404', async (t) => {
  const h = await harness(t);
  for (const [method, url] of [['PATCH', '/models'], ['PUT', '/models'], ['DELETE', '/models'], ['POST', '/models/add'], ['PATCH', '/models/add/1.0'], ['GET', '/models/add/1.0/set-default'], ['HEAD', '/models']] as const) {
    const res = await h.app.inject({ method, url });
    assert.equal(res.statusCode, 405, `${method} ${url}`);
    if (method !== 'HEAD') assert.deepEqual(res.json(), METHOD_NOT_ALLOWED);
  }
  assert.equal((await h.app.inject({ method: 'GET', url: '/nothing' })).statusCode, 404);
});

test('access control: a model in a group the caller may not access answers like a missing one', async (t) => {
  const groups = new FakeGroups();
  const h = await harness(t, { enable_model_api: 'true' }, groups);
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  groups.denied.add('group-add');
  const bob = { 'x-test-user': 'bob' };
  const notFound = { code: 404, type: 'ModelNotFoundException', message: 'Model not found: add' };
  for (const [method, url] of [['GET', '/models/add'], ['PUT', '/models/add?min_worker=1'], ['DELETE', '/models/add'], ['PUT', '/models/add/1.0/set-default'], ['OPTIONS', '/models/add'], ['GET', '/v1/models/add']] as const) {
    const res = await h.app.inject({ method, url, headers: bob });
    assert.deepEqual([res.statusCode, res.json()], [404, notFound], `${method} ${url}`);
  }
  assert.deepEqual((await h.app.inject({ method: 'GET', url: '/models', headers: bob })).json(), { models: [] });
  assert.equal((await h.app.inject({ method: 'GET', url: '/models/add' })).statusCode, 200, 'visible without an identity');
  // Register passes the group parameters through.
  await h.app.inject({ method: 'POST', url: '/models?url=add.mar&model_name=g&initial_workers=0&model_group_id=G1&access_mode=restricted&backend_roles=hr,%20it&add_all_backend_roles=false&description=x' });
  assert.deepEqual(groups.reservations.at(-1)!.req, { modelName: 'g', modelGroupId: 'G1', accessMode: 'restricted', backendRoles: ['hr', 'it'], addAllBackendRoles: false, description: 'x' });
});

test('OpenAPI: /api-description (any method) and OPTIONS / list every operation with a 500', async (t) => {
  const h = await harness(t);
  const a = await h.app.inject({ method: 'GET', url: '/api-description' });
  const b = await h.app.inject({ method: 'OPTIONS', url: '/' });
  const c = await h.app.inject({ method: 'POST', url: '/api-description' });
  assert.equal(a.statusCode, 200);
  assert.deepEqual(b.json(), a.json());
  assert.deepEqual(c.json(), a.json());
  const doc = a.json();
  assert.equal(doc.openapi, '3.0.1');
  assert.equal(doc.info.title, 'tsserve APIs');
  const ops: Record<string, string> = {};
  for (const [p, methods] of Object.entries(doc.paths as Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>)) {
    for (const [m, op] of Object.entries(methods)) {
      ops[`${m.toUpperCase()} ${p}`] = op.operationId;
      assert.deepEqual(Object.keys((op.responses['500'] as { content: Record<string, { schema: { properties: object } }> }).content['application/json']!.schema.properties), ['code', 'type', 'message'], `${m} ${p}`);
    }
  }
  assert.deepEqual(ops, {
    'OPTIONS /': 'apiDescription',
    'GET /api-description': 'api-description',
    'GET /models': 'listModels',
    'POST /models': 'registerModel',
    'GET /models/{model_name}': 'describeModel',
    'PUT /models/{model_name}': 'setAutoScale',
    'DELETE /models/{model_name}': 'unregisterModel',
    'GET /models/{model_name}/{model_version}': 'version_describeModel',
    'PUT /models/{model_name}/{model_version}': 'version_setAutoScale',
    'DELETE /models/{model_name}/{model_version}': 'version_unregisterModel',
    'PUT /models/{model_name}/{model_version}/set-default': 'setDefault',
    'GET /v1/models/{model_name}': 'kserveModelReady',
  });
  const register = doc.paths['/models'].post;
  const names = register.parameters.map((p: { name: string }) => p.name);
  assert.ok(['url', 'model_name', 'batch_size', 'initial_workers', 'synchronous', 'model_group_id'].every((n) => names.includes(n)));
  assert.deepEqual(register.parameters.find((p: { name: string }) => p.name === 'url'), { name: 'url', in: 'query', required: true, description: register.parameters[0].description, schema: { type: 'string' } });
  assert.equal(doc.paths['/models'].get.parameters.find((p: { name: string }) => p.name === 'limit').schema.default, 100);
  const d = await h.app.inject({ method: 'DELETE', url: '/' });
  assert.deepEqual([d.statusCode, d.json()], [405, METHOD_NOT_ALLOWED]);
});

test('OPTIONS /models/{name}: the model\'s own OpenAPI document; 404 for an unknown model', async (t) => {
  const h = await harness(t);
  await h.registry.register({ url: 'add.mar', initialWorkers: 0 }, NO_PRINCIPAL);
  const res = await h.app.inject({ method: 'OPTIONS', url: '/models/add' });
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.info.title, 'RESTful Management API for: add');
  assert.deepEqual(Object.keys(doc.paths), ['/models/add', '/models/add/{model_version}', '/models/add/{model_version}/set-default']);
  assert.ok(!JSON.stringify(doc).includes('"model_name"'), 'the name is in the path, not a parameter');
  assert.equal((await h.app.inject({ method: 'OPTIONS', url: '/models/add/1.0' })).statusCode, 200);
  const missing = await h.app.inject({ method: 'OPTIONS', url: '/models/nope' });
  assert.deepEqual([missing.statusCode, missing.json().message], [404, 'Model not found: nope']);
});
