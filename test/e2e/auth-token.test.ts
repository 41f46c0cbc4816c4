/**
 * Issue #3, token authorization, black-box against the real CLI (spec §4; docs/security.md):
 * key_file.json (content, order, mode, place, deletion at stop), every API with right, wrong,
 * missing, malformed and expired keys, the open health and metrics endpoints, the token API
 * (regeneration of both keys, its failures) and that no key ever reaches the logs.
 *
 * Two servers: one with the default 60 min lifetime for everything that needs valid keys, one in
 * the foreground with a 6 s lifetime (token_expiration_min=0.1) for expiry and SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { httpRequest, makeWorkspace, REPO_ROOT, startBackground, startForeground, type HttpResponse, type Workspace } from '../helpers/tsserve.js';

const INVALID_KEY = {
  code: 400,
  type: 'InvalidKeyException',
  message: 'Token Authorization failed. Token either incorrect, expired, or not provided correctly',
};
/** The token API's own wording (spec §4.4: "Authentication" there, "Authorization" elsewhere). */
const TOKEN_API_FAILED = {
  code: 400,
  type: 'InvalidKeyException',
  message: 'Token Authentication failed. Token either incorrect, expired, or not provided correctly',
};
/** Java Instant.toString() / Date.toISOString(): UTC, optional fraction, `Z`. */
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
/** URL-safe base64, at least TorchServe's 8 characters. */
const KEY_FORMAT = /^[A-Za-z0-9_-]{8,}$/;

type Entry = { key: string; 'expiration time': string };
type KeyFile = { management: Entry; inference: Entry; API: { key: string } };

const IRIS_INPUT = JSON.stringify([5.1, 3.5, 1.4, 0.2]);

function keyFilePath(ws: Workspace): string {
  return path.join(ws.dir, 'key_file.json');
}

function readKeys(ws: Workspace): KeyFile {
  return JSON.parse(fs.readFileSync(keyFilePath(ws), 'utf8')) as KeyFile;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

function assertInvalidKey(res: HttpResponse, what: string, body: typeof INVALID_KEY = INVALID_KEY): void {
  assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
  assert.deepEqual(res.json(), body, what);
  assert.deepEqual(Object.keys(res.json<object>()), ['code', 'type', 'message'], what);
  assert.equal(res.headers['www-authenticate'], 'Bearer', what);
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}

function assertNoKeyInLogs(ws: Workspace, keys: Iterable<string>, extraText = ''): void {
  const files = filesUnder(path.join(ws.dir, 'logs'));
  assert.ok(files.some((f) => f.endsWith('ts_log.log')), `logs written: ${files.join(', ')}`);
  for (const key of keys) {
    for (const file of files) assert.ok(!fs.readFileSync(file, 'utf8').includes(key), `a key appears in ${file}`);
    assert.ok(!extraText.includes(key), 'a key appears in the CLI output');
  }
}

/** The malformed Authorization headers of spec §4.3 built around a valid key. */
function malformed(key: string): Record<string, string> {
  return {
    'lower-case scheme': `bearer ${key}`,
    'other scheme': `Token ${key}`,
    'no scheme': key,
    'extra word': `Bearer ${key} extra`,
    'empty token': 'Bearer ',
    'key with a suffix': `Bearer ${key}x`,
    'key prefix': `Bearer ${key.slice(0, -1)}`,
  };
}

test('key file, every API with right / wrong / missing / malformed keys, open endpoints, token API, logs', async (t) => {
  const ws = makeWorkspace(t);
  fs.copyFileSync(path.join(REPO_ROOT, 'model_store/iris.mar'), path.join(ws.modelStore, 'iris.mar'));
  // A key file left by a crashed run, here a symlink to another file: replaced, never trusted or written through.
  const file = keyFilePath(ws);
  const staleKey = 'stale-key-stale-key-0000';
  const staleEntry = { key: staleKey, 'expiration time': '2999-01-01T00:00:00.000Z' };
  const staleText = JSON.stringify({ management: staleEntry, inference: staleEntry, API: { key: staleKey } }, null, 2);
  const staleTarget = path.join(ws.dir, 'stale-target.json');
  fs.writeFileSync(staleTarget, staleText);
  fs.symlinkSync(staleTarget, file);

  const before = Date.now();
  const server = await startBackground(t, ws, ['--models', 'iris=iris.mar', '--ncs']);
  const after = Date.now();
  const { inference, management, metrics } = server.addresses;

  // ---- key_file.json: in the server's working directory, owner-only, TorchServe's shape and order
  assert.ok(fs.lstatSync(file).isFile(), 'the stale symlink was replaced by a regular file');
  assert.equal(fs.readFileSync(staleTarget, 'utf8'), staleText, 'the symlink target was not written');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const text = fs.readFileSync(file, 'utf8');
  const keys = JSON.parse(text) as KeyFile;
  assert.equal(text.trimEnd(), JSON.stringify(keys, null, 2), 'pretty JSON, 2-space indent');
  assert.deepEqual(Object.keys(keys), ['management', 'inference', 'API']);
  assert.deepEqual(Object.keys(keys.management), ['key', 'expiration time']);
  assert.deepEqual(Object.keys(keys.inference), ['key', 'expiration time']);
  assert.deepEqual(Object.keys(keys.API), ['key'], 'the API key never expires');
  const all = [keys.management.key, keys.inference.key, keys.API.key];
  for (const k of all) assert.match(k, KEY_FORMAT);
  assert.equal(new Set(all).size, 3, 'three different keys');
  for (const kind of ['management', 'inference'] as const) {
    const exp = keys[kind]['expiration time'];
    assert.match(exp, ISO_UTC);
    const ms = Date.parse(exp);
    // token_expiration_min defaults to 60.
    assert.ok(ms >= before + 3_600_000 - 1000 && ms <= after + 3_600_000 + 1000, `${kind} expires ${exp}`);
  }
  const log = fs.readFileSync(path.join(ws.dir, 'logs/ts_log.log'), 'utf8');
  assert.match(log, /token authorization enabled/i);
  assert.ok(log.includes(file), 'the log names the key file with its absolute path');

  // ---- inference API: inference key only
  const predict = (headers: Record<string, string> = {}) =>
    httpRequest(`${inference}/predictions/iris`, { method: 'POST', body: IRIS_INPUT, headers: { 'content-type': 'application/json', ...headers } });
  const ok = await predict(bearer(keys.inference.key));
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(Object.keys(ok.json<Record<string, number>>()).sort(), ['setosa', 'versicolor', 'virginica']);
  assertInvalidKey(await predict(), 'inference: missing');
  assertInvalidKey(await predict(bearer('wrong-key-wrong-key-0000')), 'inference: wrong');
  assertInvalidKey(await predict(bearer(keys.management.key)), 'inference: management key');
  assertInvalidKey(await predict(bearer(keys.API.key)), 'inference: API key');
  for (const [what, authorization] of Object.entries(malformed(keys.inference.key))) {
    assertInvalidKey(await predict({ authorization }), `inference: ${what}`);
  }
  // Checked before routing (spec §4.5): an unknown path with a bad key is a 400, not a 404.
  assertInvalidKey(await httpRequest(`${inference}/no/such/path`), 'inference: unknown path');
  assert.equal((await httpRequest(`${inference}/no/such/path`, { headers: bearer(keys.inference.key) })).status, 404);
  // Other inference routes need the key too.
  assertInvalidKey(await httpRequest(`${inference}/v2/models/iris`), 'inference: OIP metadata');
  assert.equal((await httpRequest(`${inference}/v2/models/iris`, { headers: bearer(keys.inference.key) })).status, 200);

  // Health endpoints answer without a token (deliberate difference, docs/compatibility.md).
  for (const p of ['/ping', '/v2/health/live', '/v2/health/ready']) {
    const res = await httpRequest(`${inference}${p}`);
    assert.equal(res.status, 200, `${p}: ${res.text}`);
  }
  // The metrics listener needs no token (spec §4.3).
  assert.equal((await httpRequest(`${metrics!}/metrics`)).status, 200);
  assert.equal((await httpRequest(`${metrics!}/metrics`, { headers: bearer('wrong-key-wrong-key-0000') })).status, 200);

  // ---- management API: management key only
  const list = (headers: Record<string, string> = {}) => httpRequest(`${management}/models`, { headers });
  const listed = await list(bearer(keys.management.key));
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.json(), { models: [{ modelName: 'iris', modelUrl: 'iris.mar' }] });
  assertInvalidKey(await list(), 'management: missing');
  assertInvalidKey(await list(bearer('wrong-key-wrong-key-0000')), 'management: wrong');
  assertInvalidKey(await list(bearer(keys.inference.key)), 'management: inference key');
  assertInvalidKey(await list(bearer(keys.API.key)), 'management: API key');
  for (const [what, authorization] of Object.entries(malformed(keys.management.key))) {
    assertInvalidKey(await list({ authorization }), `management: ${what}`);
  }
  assertInvalidKey(await list(bearer(staleKey)), 'management: the stale file\'s key');
  assertInvalidKey(await predict(bearer(staleKey)), 'inference: the stale file\'s key');
  // Any whitespace run after `Bearer` (spec §4.3: ^Bearer\s+(\S+)$).
  assert.equal((await list({ authorization: `Bearer   ${keys.management.key}` })).status, 200, 'several spaces');
  assert.equal((await list({ authorization: `Bearer\t${keys.management.key}` })).status, 200, 'a tab');
  assertInvalidKey(await httpRequest(`${management}/models/iris`), 'management: describe');
  assertInvalidKey(await httpRequest(`${management}/no/such/path`), 'management: unknown path');
  // A disabled register endpoint with a bad key: 400 before 405 (spec §4.5).
  assertInvalidKey(await httpRequest(`${management}/models?url=iris.mar`, { method: 'POST' }), 'management: disabled register');

  // /models/tokenizer is an ordinary management path, not the token API (TorchServe's quirk avoided).
  const tokenizer = await httpRequest(`${management}/models/tokenizer`, { headers: bearer(keys.management.key) });
  assert.equal(tokenizer.status, 404, tokenizer.text);
  assert.equal(tokenizer.json<{ type: string }>().type, 'ModelNotFoundException');
  assertInvalidKey(await httpRequest(`${management}/models/tokenizer`, { headers: bearer(keys.API.key) }), 'tokenizer: API key');
  // /token on the inference listener is nothing special: the inference key is needed, and the path is unknown.
  assertInvalidKey(await httpRequest(`${inference}/token?type=inference`, { headers: bearer(keys.API.key) }), 'inference /token: API key');

  // ---- token API: failures (the key file does not change)
  const token = (query: string, headers: Record<string, string> = {}, method = 'GET') => httpRequest(`${management}/token${query}`, { method, headers });
  assertInvalidKey(await token('?type=management'), 'token: missing key', TOKEN_API_FAILED);
  assertInvalidKey(await token('?type=management', bearer('wrong-key-wrong-key-0000')), 'token: wrong key', TOKEN_API_FAILED);
  assertInvalidKey(await token('?type=management', bearer(keys.management.key)), 'token: management key', TOKEN_API_FAILED);
  assertInvalidKey(await token('?type=inference', bearer(keys.inference.key)), 'token: inference key', TOKEN_API_FAILED);
  assertInvalidKey(await token('?type=management', { authorization: `bearer ${keys.API.key}` }), 'token: malformed', TOKEN_API_FAILED);
  for (const query of ['', '?type=', '?type=API', '?type=Management', '?type=metrics', '?kind=management']) {
    const res = await token(query, bearer(keys.API.key));
    assert.equal(res.status, 400, `token${query}: ${res.text}`);
    assert.deepEqual(res.json(), TOKEN_API_FAILED, `token${query}`);
  }
  assert.equal(fs.readFileSync(file, 'utf8'), text, 'failed token calls leave the key file alone');

  // ---- token API: regeneration of each type
  const seen = new Set(all);
  let current = keys;
  for (const [kind, method] of [['management', 'GET'], ['inference', 'POST']] as const) {
    const t0 = Date.now();
    const res = await token(`?type=${kind}`, bearer(current.API.key), method);
    assert.equal(res.status, 200, `${kind}: ${res.text}`);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = res.json<Record<string, Entry>>();
    assert.deepEqual(Object.keys(body), [kind]);
    assert.deepEqual(Object.keys(body[kind]), ['key', 'expiration time']);
    const fresh = body[kind];
    assert.match(fresh.key, KEY_FORMAT);
    assert.ok(!seen.has(fresh.key), 'a new key');
    seen.add(fresh.key);
    assert.match(fresh['expiration time'], ISO_UTC);
    const expMs = Date.parse(fresh['expiration time']);
    assert.ok(expMs >= t0 + 3_600_000 - 1000 && expMs <= Date.now() + 3_600_000 + 1000, 'a fresh expiration');

    // The key file holds the new entry; the other entries are unchanged; still 0600.
    const updated = readKeys(ws);
    assert.deepEqual(updated[kind], fresh);
    const other = kind === 'management' ? 'inference' : 'management';
    assert.deepEqual(updated[other], current[other]);
    assert.deepEqual(updated.API, current.API);
    assert.deepEqual(Object.keys(updated), ['management', 'inference', 'API']);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);

    // The old key fails at once, the new one works.
    if (kind === 'management') {
      assertInvalidKey(await list(bearer(current.management.key)), 'old management key');
      assert.equal((await list(bearer(fresh.key))).status, 200);
    } else {
      assertInvalidKey(await predict(bearer(current.inference.key)), 'old inference key');
      assert.equal((await predict(bearer(fresh.key))).status, 200);
    }
    current = updated;
  }
  // The API key itself is unchanged and still works.
  assert.equal((await token('?type=inference', bearer(keys.API.key))).status, 200);
  current = readKeys(ws);
  seen.add(current.inference.key);

  // ---- HTTP Basic users: role mappings by hosts see the client address (127.0.0.1)
  const usersUrl = `${management}/_plugins/_security/api/internalusers`;
  const put = (url: string, body: unknown) =>
    httpRequest(url, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...bearer(current.management.key) } });
  assert.equal((await put(`${usersUrl}/alice`, { password: 'alice-password-1' })).status, 201);
  const alice = { authorization: `Basic ${Buffer.from('alice:alice-password-1').toString('base64')}` };
  assert.equal((await httpRequest(usersUrl, { headers: alice })).status, 403, 'alice is no admin yet');
  assert.equal((await put(`${management}/_plugins/_security/api/rolesmapping/all_access`, { hosts: ['127.0.0.1'] })).status, 201);
  const asAdmin = await httpRequest(usersUrl, { headers: alice });
  assert.equal(asAdmin.status, 200, `a hosts mapping makes alice an admin from 127.0.0.1: ${asAdmin.text}`);

  // ---- stop: the key file is deleted; no key ever reached the logs
  const stop = await server.stop();
  assert.equal(stop.code, 0);
  assert.equal(fs.existsSync(file), false, 'key_file.json deleted at --stop');
  assert.deepEqual(fs.readdirSync(ws.dir).filter((n) => n.includes('key_file')), [], 'no temp key file left');
  assert.equal(fs.readFileSync(staleTarget, 'utf8'), staleText);
  assertNoKeyInLogs(ws, seen, server.stdout + server.stderr + stop.stdout + stop.stderr);
});

test('expired keys fail like wrong ones; the API key does not expire; SIGTERM deletes the key file', async (t) => {
  // 0.1 min = 6 s: long enough to see the keys work first even on a busy machine, short enough to wait out.
  const ws = makeWorkspace(t, { token_expiration_min: '0.1' });
  fs.copyFileSync(path.join(REPO_ROOT, 'model_store/iris.mar'), path.join(ws.modelStore, 'iris.mar'));
  const before = Date.now();
  const server = await startForeground(t, ws, ['--models', 'iris=iris.mar', '--ncs']);
  const after = Date.now();
  const { inference, management } = server.addresses;
  const keys = readKeys(ws);
  for (const kind of ['management', 'inference'] as const) {
    const expMs = Date.parse(keys[kind]['expiration time']);
    assert.ok(expMs >= before + 6000 && expMs <= after + 6000, `${kind} expires 6 s after its creation: ${keys[kind]['expiration time']}`);
  }
  const predict = (key: string) =>
    httpRequest(`${inference}/predictions/iris`, { method: 'POST', body: IRIS_INPUT, headers: { 'content-type': 'application/json', ...bearer(key) } });
  const list = (key: string) => httpRequest(`${management}/models`, { headers: bearer(key) });
  assert.equal((await list(keys.management.key)).status, 200, 'valid before expiry');
  assert.equal((await predict(keys.inference.key)).status, 200, 'valid before expiry');

  // Wait just past the later of the two expirations.
  const expiry = Math.max(Date.parse(keys.management['expiration time']), Date.parse(keys.inference['expiration time']));
  await new Promise((r) => setTimeout(r, Math.max(0, expiry - Date.now()) + 150));
  assertInvalidKey(await list(keys.management.key), 'expired management key');
  assertInvalidKey(await predict(keys.inference.key), 'expired inference key');
  assertInvalidKey(await httpRequest(`${management}/models/iris`, { headers: bearer(keys.management.key) }), 'expired management key, describe');

  // The API key never expires: it still regenerates keys, and the new key works at once.
  const regen = await httpRequest(`${management}/token?type=management`, { headers: bearer(keys.API.key) });
  assert.equal(regen.status, 200, regen.text);
  const fresh = regen.json<{ management: Entry }>().management;
  assert.equal((await list(fresh.key)).status, 200);
  assertInvalidKey(await predict(keys.inference.key), 'the inference key is still expired');

  const end = await server.stop('SIGTERM');
  assert.equal(end.code, 0);
  assert.equal(fs.existsSync(keyFilePath(ws)), false, 'key_file.json deleted on SIGTERM');
  assertNoKeyInLogs(ws, [keys.management.key, keys.inference.key, keys.API.key, fresh.key], end.stdout + end.stderr);
});
