import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { createAuthHook, decoratePrincipal } from '../../src/http/auth-hook.js';
import { tokenApi } from '../../src/http/token.js';
import { TokenAuth } from '../../src/auth/token-auth.js';
import { FailureLimiter } from '../../src/auth/failure-limiter.js';
import type { KeyFileContent } from '../../src/auth/key-file.js';
import { isTsServeError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { NOOP_METRICS, type ApiName, type MetricsSink } from '../../src/metrics/types.js';

type T = { after: (fn: () => Promise<unknown> | unknown) => void };

const TOKEN_API_FAILED = {
  code: 400,
  type: 'InvalidKeyException',
  message: 'Token Authentication failed. Token either incorrect, expired, or not provided correctly',
};
const INVALID_KEY = {
  code: 400,
  type: 'InvalidKeyException',
  message: 'Token Authorization failed. Token either incorrect, expired, or not provided correctly',
};

function countingMetrics(): MetricsSink & { failures: ApiName[] } {
  const failures: ApiName[] = [];
  return { ...NOOP_METRICS, failures, authFailure: (api: ApiName) => void failures.push(api) };
}

async function makeTokenAuth(t: T, now?: () => number): Promise<TokenAuth> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'tsserve-tokenapi-'));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  const tokenAuth = await TokenAuth.create({ workDir, expirationMin: 1, log: silentLogger(), ...(now ? { now } : {}) });
  t.after(() => tokenAuth.close());
  return tokenAuth;
}

const readKeys = async (a: TokenAuth) => JSON.parse(await readFile(a.keyFilePath, 'utf8')) as KeyFileContent;

/** One listener of the given API: hook at the root, the token API on management, one echo route. */
async function listener(
  t: T,
  api: 'inference' | 'management',
  tokenAuth: TokenAuth | undefined,
  opts: { hook?: boolean; metrics?: MetricsSink } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  decoratePrincipal(app);
  app.setErrorHandler((err, _request, reply) => {
    if (isTsServeError(err)) return reply.code(err.status).headers(err.headers).send(err.body());
    return reply.code(500).send({ code: 500, message: String(err) });
  });
  if (opts.hook !== false) {
    app.addHook(
      'onRequest',
      createAuthHook({ api, tokenAuth, limiter: new FailureLimiter({ limit: 0, windowSec: 60 }), metrics: opts.metrics ?? NOOP_METRICS, log: silentLogger() }),
    );
  }
  if (api === 'management') {
    await app.register(tokenApi, { tokenAuth, metrics: opts.metrics ?? NOOP_METRICS });
    app.get('/models', async () => ({ models: [] }));
  } else {
    app.post('/predictions/:model', async () => ({ ok: true }));
  }
  await app.ready();
  t.after(() => app.close());
  return app;
}

for (const type of ['management', 'inference'] as const) {
  test(`/token?type=${type} with the API key: 200 JSON with the new entry; file rewritten; old key fails, new works`, async (t) => {
    const tokenAuth = await makeTokenAuth(t);
    const mgmt = await listener(t, 'management', tokenAuth);
    const inf = await listener(t, 'inference', tokenAuth);
    const before = await readKeys(tokenAuth);
    const call = (app: FastifyInstance, key: string) =>
      app === mgmt
        ? app.inject({ method: 'GET', url: '/models', headers: { authorization: `Bearer ${key}` } })
        : app.inject({ method: 'POST', url: '/predictions/m', headers: { authorization: `Bearer ${key}` } });
    const target = type === 'management' ? mgmt : inf;
    const untouched = type === 'management' ? inf : mgmt;
    const otherType = type === 'management' ? 'inference' : 'management';

    const res = await mgmt.inject({ method: 'GET', url: `/token?type=${type}`, headers: { authorization: `Bearer ${before.API.key}` } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = res.json() as Record<string, { key: string; 'expiration time': string }>;
    assert.deepEqual(Object.keys(body), [type]);
    assert.deepEqual(Object.keys(body[type]!), ['key', 'expiration time']);
    assert.notEqual(body[type]!.key, before[type].key);
    assert.match(body[type]!['expiration time'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const after = await readKeys(tokenAuth);
    assert.deepEqual(after[type], body[type]);
    assert.deepEqual(after[otherType], before[otherType]);
    assert.deepEqual(after.API, before.API);

    const old = await call(target, before[type].key);
    assert.equal(old.statusCode, 400);
    assert.deepEqual(old.json(), INVALID_KEY);
    assert.equal((await call(target, body[type]!.key)).statusCode, 200);
    assert.equal((await call(untouched, before[otherType].key)).statusCode, 200);
  });
}

test('/token accepts any method, as TorchServe', async (t) => {
  const tokenAuth = await makeTokenAuth(t);
  const mgmt = await listener(t, 'management', tokenAuth);
  const { API } = await readKeys(tokenAuth);
  for (const method of ['POST', 'PUT', 'DELETE'] as const) {
    const res = await mgmt.inject({ method, url: '/token?type=inference', headers: { authorization: `Bearer ${API.key}` } });
    assert.equal(res.statusCode, 200, method);
  }
});

test('/token: wrong, missing or non-API key, missing or bad type -> 400 with the token API message', async (t) => {
  const metrics = countingMetrics();
  const tokenAuth = await makeTokenAuth(t);
  const mgmt = await listener(t, 'management', tokenAuth, { metrics });
  const keys = await readKeys(tokenAuth);
  const cases: { url: string; authorization?: string }[] = [
    { url: '/token?type=management' },
    { url: '/token?type=management', authorization: 'Bearer nope' },
    { url: '/token?type=management', authorization: `Bearer ${keys.management.key}` },
    { url: '/token?type=inference', authorization: `Bearer ${keys.inference.key}` },
    { url: '/token', authorization: `Bearer ${keys.API.key}` },
    { url: '/token?type=API', authorization: `Bearer ${keys.API.key}` },
    { url: '/token?type=Management', authorization: `Bearer ${keys.API.key}` },
    { url: '/token?type=management&type=inference', authorization: `Bearer ${keys.API.key}` },
  ];
  for (const c of cases) {
    const res = await mgmt.inject({ method: 'GET', url: c.url, headers: c.authorization ? { authorization: c.authorization } : {} });
    assert.equal(res.statusCode, 400, JSON.stringify(c));
    assert.deepEqual(res.json(), TOKEN_API_FAILED);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  }
  assert.deepEqual(metrics.failures, ['token', 'token', 'token', 'token']);
  // Nothing changed.
  assert.deepEqual(await readKeys(tokenAuth), keys);
});

test('the token route checks the API key itself (safe without the hook)', async (t) => {
  const tokenAuth = await makeTokenAuth(t);
  const mgmt = await listener(t, 'management', tokenAuth, { hook: false });
  const keys = await readKeys(tokenAuth);
  const res = await mgmt.inject({ method: 'GET', url: '/token?type=management', headers: { authorization: `Bearer ${keys.management.key}` } });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), TOKEN_API_FAILED);
  const ok = await mgmt.inject({ method: 'GET', url: '/token?type=management', headers: { authorization: `Bearer ${keys.API.key}` } });
  assert.equal(ok.statusCode, 200);
});

test('token authorization disabled: /token answers 404 ResourceNotFoundException', async (t) => {
  const mgmt = await listener(t, 'management', undefined);
  for (const url of ['/token?type=management', '/token']) {
    const res = await mgmt.inject({ method: 'GET', url, headers: { authorization: 'Bearer whatever' } });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), {
      code: 404,
      type: 'ResourceNotFoundException',
      message: 'Requested resource is not found, please refer to API document.',
    });
  }
});
