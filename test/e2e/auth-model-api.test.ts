/**
 * Issue #3, model API control, black-box against the real CLI (spec §5, §2.3): register and
 * delete answer TorchServe's exact 405 while `enable_model_api` is off (the default) and change
 * nothing, everything else keeps working; the precedence examples turn it on (file < CLI < gated
 * env), and the environment is ignored without `enable_envvars_config=true`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildMar } from '../fixtures/archive-builder.js';
import { httpRequest, makeWorkspace, REPO_ROOT, startBackground, type HttpResponse, type Workspace } from '../helpers/tsserve.js';

const METHOD_NOT_ALLOWED = {
  code: 405,
  type: 'MethodNotAllowedException',
  message: 'Requested method is not allowed, please refer to API document.',
};

const IRIS_INPUT = JSON.stringify([5.1, 3.5, 1.4, 0.2]);

type Keys = { management: { key: string }; inference: { key: string } };

function assertMethodNotAllowed(res: HttpResponse, what: string): void {
  assert.equal(res.status, 405, `${what}: ${res.status} ${res.text}`);
  const body = res.json<Record<string, unknown>>();
  assert.deepEqual(body, METHOD_NOT_ALLOWED, what);
  assert.deepEqual(Object.keys(body), ['code', 'type', 'message'], `${what}: exactly these fields`);
}

/** model_store with iris.mar (the bundled example) and add.mar (built around add.onnx). */
async function fillStore(ws: Workspace): Promise<void> {
  fs.copyFileSync(path.join(REPO_ROOT, 'model_store/iris.mar'), path.join(ws.modelStore, 'iris.mar'));
  fs.writeFileSync(path.join(ws.modelStore, 'add.mar'), await buildMar({ modelName: 'add', modelVersion: '1.0' }));
}

/** Authorization header for `kind`, or none when the server runs without token authorization. */
function authFor(ws: Workspace, kind: keyof Keys): Record<string, string> {
  const file = path.join(ws.dir, 'key_file.json');
  if (!fs.existsSync(file)) return {};
  return { authorization: `Bearer ${(JSON.parse(fs.readFileSync(file, 'utf8')) as Keys)[kind].key}` };
}

/** Register add.mar (synchronously, one worker), predict with it, then delete it `deleteForm`. */
async function registerPredictDelete(ws: Workspace, addresses: { inference: string; management: string }, deleteForm: '/models/add' | '/models/add/1.0'): Promise<void> {
  const mgmt = authFor(ws, 'management');
  const inf = authFor(ws, 'inference');
  const reg = await httpRequest(`${addresses.management}/models?url=add.mar&initial_workers=1&synchronous=true`, { method: 'POST', headers: mgmt });
  assert.equal(reg.status, 200, reg.text);
  assert.deepEqual(reg.json(), { status: 'Model "add" Version: 1.0 registered with 1 initial workers' });
  const described = await httpRequest(`${addresses.management}/models/add`, { headers: mgmt });
  assert.equal(described.status, 200);
  assert.equal(described.json<Array<{ modelVersion: string }>>()[0]!.modelVersion, '1.0');
  const pred = await httpRequest(`${addresses.inference}/predictions/add`, {
    method: 'POST',
    body: JSON.stringify([1, 2, 3, 4]),
    headers: { 'content-type': 'application/json', ...inf },
  });
  assert.equal(pred.status, 200, pred.text);
  assert.deepEqual(pred.json(), [2, 3, 4, 5]);

  const del = await httpRequest(`${addresses.management}${deleteForm}`, { method: 'DELETE', headers: mgmt });
  assert.equal(del.status, 200, del.text);
  assert.deepEqual(del.json(), { status: 'Model "add" unregistered' });
  assert.equal((await httpRequest(`${addresses.management}/models/add`, { headers: mgmt })).status, 404);
  assert.equal((await httpRequest(`${addresses.inference}/predictions/add`, { method: 'POST', body: '[1,2,3,4]', headers: inf })).status, 404);
}

test('model API disabled by default (TS_ENABLE_MODEL_API ignored without enable_envvars_config): exact 405, nothing changes', async (t) => {
  // The environment asks for an open server with the model API, but the file does not let it speak.
  const ws = makeWorkspace(t);
  await fillStore(ws);
  const server = await startBackground(t, ws, ['--models', 'iris=iris.mar', '--ncs'], {
    env: { TS_ENABLE_MODEL_API: 'true', TS_DISABLE_TOKEN_AUTHORIZATION: 'true' },
  });
  const { inference, management } = server.addresses;
  assert.ok(fs.existsSync(path.join(ws.dir, 'key_file.json')), 'token authorization still on');
  const mgmt = authFor(ws, 'management');
  const inf = authFor(ws, 'inference');
  assert.equal((await httpRequest(`${management}/models`)).status, 400, 'a key is still required');

  // The startup model loaded and answers.
  const predict = () => httpRequest(`${inference}/predictions/iris`, { method: 'POST', body: IRIS_INPUT, headers: { 'content-type': 'application/json', ...inf } });
  const first = await predict();
  assert.equal(first.status, 200, first.text);

  // Register and delete: 405, exactly TorchServe's body.
  assertMethodNotAllowed(await httpRequest(`${management}/models?url=add.mar&initial_workers=1&synchronous=true`, { method: 'POST', headers: mgmt }), 'register');
  assertMethodNotAllowed(
    await httpRequest(`${management}/models`, { method: 'POST', body: JSON.stringify({ url: 'add.mar' }), headers: { 'content-type': 'application/json', ...mgmt } }),
    'register (JSON body)',
  );
  assertMethodNotAllowed(await httpRequest(`${management}/models`, { method: 'POST', headers: mgmt }), 'register without url');
  assertMethodNotAllowed(await httpRequest(`${management}/models/iris`, { method: 'DELETE', headers: mgmt }), 'delete model');
  assertMethodNotAllowed(await httpRequest(`${management}/models/iris/1.0`, { method: 'DELETE', headers: mgmt }), 'delete version');
  assertMethodNotAllowed(await httpRequest(`${management}/models/nosuch`, { method: 'DELETE', headers: mgmt }), 'delete unknown model');

  // Nothing changed: add was never registered, iris is intact and still answers.
  const add = await httpRequest(`${management}/models/add`, { headers: mgmt });
  assert.equal(add.status, 404, add.text);
  assert.equal(add.json<{ type: string }>().type, 'ModelNotFoundException');
  const list = await httpRequest(`${management}/models`, { headers: mgmt });
  assert.deepEqual(list.json(), { models: [{ modelName: 'iris', modelUrl: 'iris.mar' }] });
  assert.deepEqual(await predict().then((r) => r.json()), first.json());

  // Read, scale and set-default keep working.
  const described = await httpRequest(`${management}/models/iris/1.0`, { headers: mgmt });
  assert.equal(described.status, 200);
  assert.equal(described.json<Array<{ modelName: string }>>()[0]!.modelName, 'iris');
  const all = await httpRequest(`${management}/models/iris/all`, { headers: mgmt });
  assert.equal(all.status, 200);
  const scaled = await httpRequest(`${management}/models/iris?min_worker=1&max_worker=1&synchronous=true`, { method: 'PUT', headers: mgmt });
  assert.ok(scaled.status === 200 || scaled.status === 202, `scale: ${scaled.status} ${scaled.text}`);
  const setDefault = await httpRequest(`${management}/models/iris/1.0/set-default`, { method: 'PUT', headers: mgmt });
  assert.equal(setDefault.status, 200, setDefault.text);
  assert.deepEqual(setDefault.json(), { status: 'Default version successfully updated for model "iris" to "1.0"' });
  // The token API is not affected by model API control.
  const keys = JSON.parse(fs.readFileSync(path.join(ws.dir, 'key_file.json'), 'utf8')) as { API: { key: string } };
  assert.equal((await httpRequest(`${management}/token?type=management`, { headers: { authorization: `Bearer ${keys.API.key}` } })).status, 200);

  assert.equal((await server.stop()).code, 0);
});

test('file enable_model_api=false + --enable-model-api -> enabled: register and delete work', async (t) => {
  const ws = makeWorkspace(t, { enable_model_api: 'false' });
  await fillStore(ws);
  const server = await startBackground(t, ws, ['--enable-model-api', '--models', 'iris=iris.mar', '--ncs']);
  await registerPredictDelete(ws, server.addresses, '/models/add/1.0');

  // Deleting a startup model works too; it is gone afterwards.
  const mgmt = authFor(ws, 'management');
  const del = await httpRequest(`${server.addresses.management}/models/iris`, { method: 'DELETE', headers: mgmt });
  assert.equal(del.status, 200, del.text);
  assert.deepEqual((await httpRequest(`${server.addresses.management}/models`, { headers: mgmt })).json(), { models: [] });
  assert.equal((await server.stop()).code, 0);
});

test('enable_envvars_config=true + TS_ENABLE_MODEL_API=true + file enable_model_api=false -> enabled (env can also disable auth)', async (t) => {
  const ws = makeWorkspace(t, { enable_envvars_config: 'true', enable_model_api: 'false', disable_token_authorization: 'false' });
  await fillStore(ws);
  const server = await startBackground(t, ws, ['--ncs'], { env: { TS_ENABLE_MODEL_API: 'true', TS_DISABLE_TOKEN_AUTHORIZATION: 'true' } });
  assert.equal(fs.existsSync(path.join(ws.dir, 'key_file.json')), false, 'the gated environment turned token authorization off');
  await registerPredictDelete(ws, server.addresses, '/models/add');
  assert.equal((await server.stop()).code, 0);
});
