/**
 * Issue #3, token authorization switched off and on, black-box against the real CLI: the
 * precedence examples of spec §2.3 for `disable_token_authorization` (file < CLI < gated env), what
 * "disabled" means (no key file, no header, /token 404, a warning), and the failed-auth rate limit
 * (docs/security.md "Failed-authentication limit").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { httpRequest, makeWorkspace, REPO_ROOT, startBackground, type Workspace } from '../helpers/tsserve.js';

const INVALID_KEY = {
  code: 400,
  type: 'InvalidKeyException',
  message: 'Token Authorization failed. Token either incorrect, expired, or not provided correctly',
};

const IRIS_INPUT = JSON.stringify([5.1, 3.5, 1.4, 0.2]);

function withIris(ws: Workspace): void {
  fs.copyFileSync(path.join(REPO_ROOT, 'model_store/iris.mar'), path.join(ws.modelStore, 'iris.mar'));
}

const keyFile = (ws: Workspace) => path.join(ws.dir, 'key_file.json');
const tsLog = (ws: Workspace) => fs.readFileSync(path.join(ws.dir, 'logs/ts_log.log'), 'utf8');

/** The log line that warns the server is open, at WARN level. */
function openServerWarning(log: string): string | undefined {
  const line = log.split('\n').find((l) => /token authorization is disabled/i.test(l) && /server is open/i.test(l));
  if (line === undefined) return undefined;
  try {
    return (JSON.parse(line) as { level: number }).level === 40 ? line : undefined;
  } catch {
    return /WARN/.test(line) ? line : undefined;
  }
}

test('file disable_token_authorization=false + --disable-token-auth -> disabled: no key file, no header, /token 404, a warning', async (t) => {
  const ws = makeWorkspace(t, { disable_token_authorization: 'false' });
  withIris(ws);
  const server = await startBackground(t, ws, ['--disable-token-auth', '--models', 'iris=iris.mar', '--ncs']);
  const { inference, management } = server.addresses;
  assert.equal(fs.existsSync(keyFile(ws)), false, 'no key file');
  assert.deepEqual(fs.readdirSync(ws.dir).filter((n) => n.includes('key_file')), []);

  for (const headers of [{}, { authorization: 'Bearer not-a-key' }, { authorization: 'garbage' }] as Record<string, string>[]) {
    const models = await httpRequest(`${management}/models`, { headers });
    assert.equal(models.status, 200, models.text);
    const pred = await httpRequest(`${inference}/predictions/iris`, { method: 'POST', body: IRIS_INPUT, headers: { 'content-type': 'application/json', ...headers } });
    assert.equal(pred.status, 200, pred.text);
  }
  const token = await httpRequest(`${management}/token?type=management`);
  assert.equal(token.status, 404);
  assert.equal(token.json<{ type: string }>().type, 'ResourceNotFoundException');

  const log = tsLog(ws);
  assert.ok(openServerWarning(log), 'a warning that the server is open');
  assert.doesNotMatch(log, /token authorization enabled/i);
  assert.equal((await server.stop()).code, 0);
});

test('enable_envvars_config=true + TS_DISABLE_TOKEN_AUTHORIZATION=false + --disable-token-auth -> enabled; failed-auth limit', async (t) => {
  const ws = makeWorkspace(t, { enable_envvars_config: 'true', auth_failure_limit: '5', auth_failure_window_sec: '60' });
  withIris(ws);
  const server = await startBackground(t, ws, ['--disable-token-auth', '--models', 'iris=iris.mar', '--ncs'], {
    env: { TS_DISABLE_TOKEN_AUTHORIZATION: 'false' },
  });
  const { inference, management } = server.addresses;
  assert.ok(fs.existsSync(keyFile(ws)), 'the environment wins over the flag: key file written');
  assert.equal(openServerWarning(tsLog(ws)), undefined);
  const keys = JSON.parse(fs.readFileSync(keyFile(ws), 'utf8')) as { management: { key: string }; inference: { key: string } };
  const mgmtKey = { authorization: `Bearer ${keys.management.key}` };
  const infKey = { authorization: `Bearer ${keys.inference.key}` };

  // auth_failure_limit=5: five failures (over both listeners, one address) answer 400 ...
  for (let i = 0; i < 5; i++) {
    const url = i % 2 === 0 ? `${management}/models` : `${inference}/predictions/iris`;
    const res = await httpRequest(url, { method: i % 2 === 0 ? 'GET' : 'POST', headers: { authorization: `Bearer wrong-${i}` } });
    assert.equal(res.status, 400, `failure ${i + 1}`);
    assert.deepEqual(res.json(), INVALID_KEY);
  }
  // ... the sixth gets 429 with Retry-After ...
  const limited = await httpRequest(`${management}/models`, { headers: { authorization: 'Bearer wrong-6' } });
  assert.equal(limited.status, 429, limited.text);
  const retryAfter = Number(limited.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${limited.headers['retry-after']}`);
  assert.equal(limited.json<{ code: number; type: string }>().type, 'TooManyRequestsException');
  assert.equal(limited.json<{ code: number }>().code, 429);
  // ... and so does anything else without a valid key from that address, on both listeners,
  for (const res of [
    await httpRequest(`${management}/models`),
    await httpRequest(`${inference}/predictions/iris`, { method: 'POST', body: IRIS_INPUT }),
    await httpRequest(`${management}/token?type=management`, { headers: { authorization: 'Bearer wrong' } }),
  ]) {
    assert.equal(res.status, 429, res.text);
    assert.ok(res.headers['retry-after']);
  }
  // while a valid key is still served, and the health endpoints stay open.
  const models = await httpRequest(`${management}/models`, { headers: mgmtKey });
  assert.equal(models.status, 200, models.text);
  const pred = await httpRequest(`${inference}/predictions/iris`, { method: 'POST', body: IRIS_INPUT, headers: { 'content-type': 'application/json', ...infKey } });
  assert.equal(pred.status, 200, pred.text);
  assert.equal((await httpRequest(`${inference}/ping`)).status, 200);

  assert.equal((await server.stop()).code, 0);
  assert.equal(fs.existsSync(keyFile(ws)), false);
});
