import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createAuthHook, decoratePrincipal, isExempt, parseBasic, pathOf, type AuthenticateBasic } from '../../src/http/auth-hook.js';
import { TokenAuth } from '../../src/auth/token-auth.js';
import { FailureLimiter } from '../../src/auth/failure-limiter.js';
import type { KeyFileContent } from '../../src/auth/key-file.js';
import type { Principal } from '../../src/auth/principal.js';
import { isTsServeError } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { NOOP_METRICS, type ApiName, type MetricsSink } from '../../src/metrics/types.js';

type T = { after: (fn: () => Promise<unknown> | unknown) => void };

const INVALID_KEY = {
  code: 400,
  type: 'InvalidKeyException',
  message: 'Token Authorization failed. Token either incorrect, expired, or not provided correctly',
};
const BAD_USER = { code: 401, type: 'AuthenticationException', message: 'Authentication failed: invalid user name or password' };

const ALICE: Principal = { kind: 'user', name: 'alice', backendRoles: ['analyst'], roles: ['ml_full_access'] };

function clock(start = Date.parse('2025-01-01T00:00:00.000Z')) {
  let ms = start;
  return { now: () => ms, advance: (d: number) => void (ms += d) };
}

function countingMetrics(): MetricsSink & { failures: ApiName[] } {
  const failures: ApiName[] = [];
  return { ...NOOP_METRICS, failures, authFailure: (api: ApiName) => void failures.push(api) };
}

function captureLogger(): { log: Logger; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { log: pino({ level: 'trace' }, stream) as Logger, text: () => out };
}

type Setup = {
  tokenAuth?: TokenAuth | undefined;
  authenticateBasic?: AuthenticateBasic;
  limiter?: FailureLimiter;
  metrics?: MetricsSink;
  log?: Logger;
};

/** A listener with the hook at the root and a few routes that echo the principal. */
async function buildApp(t: T, api: 'inference' | 'management', s: Setup): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  decoratePrincipal(app);
  app.setErrorHandler((err, _request, reply) => {
    if (isTsServeError(err)) return reply.code(err.status).headers(err.headers).send(err.body());
    return reply.code(500).send({ code: 500, type: 'InternalServerException', message: String(err) });
  });
  app.addHook(
    'onRequest',
    createAuthHook({
      api,
      tokenAuth: s.tokenAuth,
      ...(s.authenticateBasic ? { authenticateBasic: s.authenticateBasic } : {}),
      limiter: s.limiter ?? new FailureLimiter({ limit: 0, windowSec: 60 }),
      metrics: s.metrics ?? NOOP_METRICS,
      log: s.log ?? silentLogger(),
    }),
  );
  const echo = async (request: { principal: Principal }) => ({ principal: request.principal });
  app.options('/', echo);
  app.all('/api-description', echo);
  app.all('/ping', echo);
  app.get('/v2/health/live', echo);
  app.get('/v2/health/ready', echo);
  app.all('/predictions/:model', echo);
  app.all('/models', echo);
  app.get('/models/:name', echo);
  app.all('/token', echo);
  await app.ready();
  t.after(() => app.close());
  return app;
}

async function makeTokenAuth(t: T, now?: () => number): Promise<{ tokenAuth: TokenAuth; keys: KeyFileContent }> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'tsserve-authhook-'));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  const tokenAuth = await TokenAuth.create({ workDir, expirationMin: 1, log: silentLogger(), ...(now ? { now } : {}) });
  t.after(() => tokenAuth.close());
  const keys = JSON.parse(await readFile(tokenAuth.keyFilePath, 'utf8')) as KeyFileContent;
  return { tokenAuth, keys };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const fakeUsers: AuthenticateBasic = async (user, password) => (user === 'alice' && password === 's3cret:x' ? ALICE : undefined);

function assertInvalidKey(res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }): void {
  assert.equal(res.statusCode, 400);
  assert.deepEqual(res.json(), INVALID_KEY);
  assert.equal(res.headers['www-authenticate'], 'Bearer');
}

for (const api of ['inference', 'management'] as const) {
  const route = api === 'inference' ? '/predictions/mlp' : '/models';
  const other = api === 'inference' ? 'management' : 'inference';

  test(`${api}: right key -> admin principal; wrong, other-API, API, missing, malformed key -> 400 + WWW-Authenticate`, async (t) => {
    const metrics = countingMetrics();
    const { tokenAuth, keys } = await makeTokenAuth(t);
    const app = await buildApp(t, api, { tokenAuth, metrics });

    const ok = await app.inject({ method: 'POST', url: route, headers: { authorization: `Bearer ${keys[api].key}` } });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), {
      principal: { kind: 'admin', via: `${api}-key`, name: 'admin', backendRoles: [], roles: ['all_access'] },
    });

    for (const authorization of [
      undefined,
      `Bearer ${keys[other].key}`,
      `Bearer ${keys.API.key}`,
      'Bearer wrongkey',
      `bearer ${keys[api].key}`,
      `Bearer ${keys[api].key} extra`,
      keys[api].key,
    ]) {
      const res = await app.inject({ method: 'POST', url: route, headers: authorization === undefined ? {} : { authorization } });
      assertInvalidKey(res);
    }
    assert.deepEqual(metrics.failures, Array(7).fill(api));
  });

  test(`${api}: an expired key -> 400`, async (t) => {
    const c = clock();
    const { tokenAuth, keys } = await makeTokenAuth(t, c.now);
    const app = await buildApp(t, api, { tokenAuth });
    const headers = { authorization: `Bearer ${keys[api].key}` };
    assert.equal((await app.inject({ method: 'GET', url: route, headers })).statusCode, 200);
    c.advance(60_000);
    assertInvalidKey(await app.inject({ method: 'GET', url: route, headers }));
  });

  test(`${api}: OPTIONS / and /api-description need no key`, async (t) => {
    const { tokenAuth } = await makeTokenAuth(t);
    const app = await buildApp(t, api, { tokenAuth });
    for (const [method, url] of [
      ['OPTIONS', '/'],
      ['GET', '/api-description'],
      ['POST', '/api-description'],
      ['GET', '/api-description?x=1'],
    ] as const) {
      const res = await app.inject({ method, url });
      assert.equal(res.statusCode, 200, `${method} ${url}`);
      assert.deepEqual(res.json(), { principal: { kind: 'none' } });
    }
    assertInvalidKey(await app.inject({ method: 'GET', url: '/' }));
  });

  test(`${api}: a bad key on an unknown path is a 400 (the check precedes routing); a good one reaches the 404`, async (t) => {
    const { tokenAuth, keys } = await makeTokenAuth(t);
    const app = await buildApp(t, api, { tokenAuth });
    assertInvalidKey(await app.inject({ method: 'GET', url: '/no/such/path' }));
    const res = await app.inject({ method: 'GET', url: '/no/such/path', headers: { authorization: `Bearer ${keys[api].key}` } });
    assert.equal(res.statusCode, 404);
  });
}

test('inference health endpoints need no key (deliberate difference); other methods and the management /ping do', async (t) => {
  const { tokenAuth } = await makeTokenAuth(t);
  const inf = await buildApp(t, 'inference', { tokenAuth });
  for (const url of ['/ping', '/ping?x=1', '/v2/health/live', '/v2/health/ready']) {
    const res = await inf.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, url);
    assert.deepEqual(res.json(), { principal: { kind: 'none' } });
  }
  // A trailing slash is the same path to the hook (this test app's router has no /ping/ route).
  assert.equal((await inf.inject({ method: 'GET', url: '/ping/' })).statusCode, 404);
  assertInvalidKey(await inf.inject({ method: 'POST', url: '/ping' }));
  assertInvalidKey(await inf.inject({ method: 'GET', url: '/predictions/ping' }));
  const mgmt = await buildApp(t, 'management', { tokenAuth });
  assertInvalidKey(await mgmt.inject({ method: 'GET', url: '/ping' }));
});

test('management: only the exact path /token is the token API (TorchServe matches any "/token" substring)', async (t) => {
  const metrics = countingMetrics();
  const { tokenAuth, keys } = await makeTokenAuth(t);
  const app = await buildApp(t, 'management', { tokenAuth, metrics });
  // /token with the API key passes the hook as the api-key holder ...
  const ok = await app.inject({ method: 'GET', url: '/token?type=inference', headers: { authorization: `Bearer ${keys.API.key}` } });
  assert.equal(ok.statusCode, 200);
  assert.equal((ok.json() as { principal: Principal }).principal.kind, 'admin');
  assert.deepEqual((ok.json() as { principal: { via: string } }).principal.via, 'api-key');
  // ... and any other key fails with the token API's message.
  const bad = await app.inject({ method: 'GET', url: '/token?type=inference', headers: { authorization: `Bearer ${keys.management.key}` } });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(bad.json(), { ...INVALID_KEY, message: 'Token Authentication failed. Token either incorrect, expired, or not provided correctly' });
  assert.deepEqual(metrics.failures, ['token']);
  // /models/tokenizer is an ordinary management path: the management key works, the API key does not.
  const tok = await app.inject({ method: 'GET', url: '/models/tokenizer', headers: { authorization: `Bearer ${keys.management.key}` } });
  assert.equal(tok.statusCode, 200);
  assertInvalidKey(await app.inject({ method: 'GET', url: '/models/tokenizer', headers: { authorization: `Bearer ${keys.API.key}` } }));
  // On the inference API /token is nothing special.
  const inf = await buildApp(t, 'inference', { tokenAuth });
  assertInvalidKey(await inf.inject({ method: 'GET', url: '/token', headers: { authorization: `Bearer ${keys.API.key}` } }));
});

test('HTTP Basic: a valid user becomes the principal; bad credentials -> 401 with a Basic challenge', async (t) => {
  const metrics = countingMetrics();
  const { tokenAuth, keys } = await makeTokenAuth(t);
  const app = await buildApp(t, 'management', { tokenAuth, authenticateBasic: fakeUsers, metrics });

  const ok = await app.inject({ method: 'GET', url: '/models', headers: { authorization: basic('alice', 's3cret:x') } });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(ok.json(), { principal: ALICE });
  const lower = await app.inject({ method: 'GET', url: '/models', headers: { authorization: basic('alice', 's3cret:x').replace('Basic', 'basic') } });
  assert.equal(lower.statusCode, 200, 'the Basic scheme is case-insensitive (RFC 7617)');

  for (const authorization of [basic('alice', 'wrong'), basic('mallory', 's3cret:x'), 'Basic !!!notbase64', 'Basic', `Basic ${Buffer.from('nocolon').toString('base64')}`]) {
    const res = await app.inject({ method: 'GET', url: '/models', headers: { authorization } });
    assert.equal(res.statusCode, 401, authorization);
    assert.deepEqual(res.json(), BAD_USER);
    assert.equal(res.headers['www-authenticate'], 'Basic realm="tsserve"');
  }
  assert.deepEqual(metrics.failures, Array(5).fill('management'));
  // The key still works alongside.
  assert.equal((await app.inject({ method: 'GET', url: '/models', headers: { authorization: `Bearer ${keys.management.key}` } })).statusCode, 200);
});

test('HTTP Basic: the client address reaches the authenticator, so role mappings by hosts apply', async (t) => {
  const { tokenAuth } = await makeTokenAuth(t);
  const hosts: string[] = [];
  const byHost: AuthenticateBasic = async (user, password, host) => {
    hosts.push(host);
    const p = await fakeUsers(user, password, host);
    return p && host === '10.1.2.3' ? { kind: 'admin', via: 'user', name: 'alice', backendRoles: [], roles: ['all_access'] } : p;
  };
  const app = await buildApp(t, 'management', { tokenAuth, authenticateBasic: byHost });
  const mapped = await app.inject({ method: 'GET', url: '/models', remoteAddress: '10.1.2.3', headers: { authorization: basic('alice', 's3cret:x') } });
  assert.deepEqual(mapped.json(), { principal: { kind: 'admin', via: 'user', name: 'alice', backendRoles: [], roles: ['all_access'] } });
  const other = await app.inject({ method: 'GET', url: '/models', remoteAddress: '10.9.9.9', headers: { authorization: basic('alice', 's3cret:x') } });
  assert.deepEqual(other.json(), { principal: ALICE });
  assert.deepEqual(hosts, ['10.1.2.3', '10.9.9.9']);
});

test('HTTP Basic without a user authenticator is just a wrong key', async (t) => {
  const { tokenAuth } = await makeTokenAuth(t);
  const app = await buildApp(t, 'management', { tokenAuth });
  assertInvalidKey(await app.inject({ method: 'GET', url: '/models', headers: { authorization: basic('alice', 's3cret:x') } }));
});

test('token authorization disabled: no key needed, bearer ignored, Basic users still recognised, bad Basic 401', async (t) => {
  const app = await buildApp(t, 'management', { tokenAuth: undefined, authenticateBasic: fakeUsers });
  for (const headers of [{}, { authorization: 'Bearer anything' }, { authorization: 'garbage' }]) {
    const res = await app.inject({ method: 'GET', url: '/models', headers });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { principal: { kind: 'none' } });
  }
  const alice = await app.inject({ method: 'GET', url: '/models', headers: { authorization: basic('alice', 's3cret:x') } });
  assert.deepEqual(alice.json(), { principal: ALICE });
  const bad = await app.inject({ method: 'GET', url: '/models', headers: { authorization: basic('alice', 'nope') } });
  assert.equal(bad.statusCode, 401);
  // /token is let through (the token route answers 404 when disabled).
  const tok = await app.inject({ method: 'GET', url: '/token?type=management' });
  assert.equal(tok.statusCode, 200);
  assert.deepEqual(tok.json(), { principal: { kind: 'none' } });
});

test('failure limit: over the limit -> 429 + Retry-After for failing requests only; a valid key is still served', async (t) => {
  const c = clock();
  const metrics = countingMetrics();
  const { tokenAuth, keys } = await makeTokenAuth(t);
  const limiter = new FailureLimiter({ limit: 3, windowSec: 60, now: c.now });
  let basicCalls = 0;
  const authenticateBasic: AuthenticateBasic = async (u, p, host) => {
    basicCalls++;
    return fakeUsers(u, p, host);
  };
  const app = await buildApp(t, 'inference', { tokenAuth, limiter, metrics, authenticateBasic });
  const wrong = { authorization: 'Bearer wrong' };
  for (let i = 0; i < 3; i++) assertInvalidKey(await app.inject({ method: 'POST', url: '/predictions/m', headers: wrong }));
  c.advance(20_000);
  const limited = await app.inject({ method: 'POST', url: '/predictions/m', headers: wrong });
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.headers['retry-after'], '40');
  assert.equal((limited.json() as { type: string }).type, 'TooManyRequestsException');
  // Still blocked for missing keys and for Basic (the password is not even tried).
  assert.equal((await app.inject({ method: 'POST', url: '/predictions/m' })).statusCode, 429);
  assert.equal((await app.inject({ method: 'POST', url: '/predictions/m', headers: { authorization: basic('alice', 's3cret:x') } })).statusCode, 429);
  assert.equal(basicCalls, 0);
  // A valid key from the same address is served.
  const good = await app.inject({ method: 'POST', url: '/predictions/m', headers: { authorization: `Bearer ${keys.inference.key}` } });
  assert.equal(good.statusCode, 200);
  // Exempt paths are not affected.
  assert.equal((await app.inject({ method: 'GET', url: '/ping' })).statusCode, 200);
  // Other addresses are not affected.
  assertInvalidKey(await app.inject({ method: 'POST', url: '/predictions/m', headers: wrong, remoteAddress: '10.0.0.9' }));
  // After the window, failures answer 400 again.
  c.advance(40_000);
  assertInvalidKey(await app.inject({ method: 'POST', url: '/predictions/m', headers: wrong }));
  assert.equal(metrics.failures.length, 3 + 1 + 2 + 1 + 1);
});

test('the Authorization header, keys and passwords are never logged', async (t) => {
  const cap = captureLogger();
  const { tokenAuth, keys } = await makeTokenAuth(t);
  const app = await buildApp(t, 'management', { tokenAuth, authenticateBasic: fakeUsers, log: cap.log });
  await app.inject({ method: 'GET', url: '/models', headers: { authorization: `Bearer ${keys.inference.key}` } });
  await app.inject({ method: 'GET', url: '/models', headers: { authorization: basic('alice', 'hunter2pw') } });
  await app.inject({ method: 'GET', url: '/token', headers: { authorization: `Bearer ${keys.management.key}` } });
  const out = cap.text();
  assert.match(out, /authentication failed/);
  for (const secret of [keys.inference.key, keys.management.key, 'hunter2pw', Buffer.from('alice:hunter2pw').toString('base64'), 'Bearer', 'Basic ']) {
    assert.ok(!out.includes(secret), `log contains ${secret}`);
  }
});

test('helpers: pathOf, isExempt, parseBasic', () => {
  assert.equal(pathOf('/token?type=x'), '/token');
  assert.equal(pathOf('/token/'), '/token');
  assert.equal(pathOf('/'), '/');
  assert.equal(pathOf('//'), '/');
  assert.equal(isExempt('management', 'GET', '/ping'), false);
  assert.equal(isExempt('inference', 'HEAD', '/ping'), true);
  assert.equal(isExempt('inference', 'OPTIONS', '/ping'), false);
  assert.equal(isExempt('management', 'GET', '/'), false);
  assert.equal(parseBasic(undefined), undefined);
  assert.equal(parseBasic('Bearer x'), undefined);
  assert.equal(parseBasic('Basicx'), undefined);
  assert.deepEqual(parseBasic(basic('u', 'p:w')), { ok: true, user: 'u', password: 'p:w' });
  assert.deepEqual(parseBasic(`Basic ${Buffer.from(':p').toString('base64')}`), { ok: false });
});

test('the hook answers at once (done, no promise) unless it checks Basic credentials', async (t) => {
  const { tokenAuth, keys } = await makeTokenAuth(t);
  const hook = createAuthHook({
    api: 'inference',
    tokenAuth,
    authenticateBasic: fakeUsers,
    limiter: new FailureLimiter({ limit: 0, windowSec: 60 }),
    metrics: NOOP_METRICS,
    log: silentLogger(),
  });
  const call = (url: string, authorization?: string) => {
    const request = { id: 'r', ip: '127.0.0.1', method: 'POST', url, headers: authorization === undefined ? {} : { authorization } };
    const calls: (Error | undefined)[] = [];
    const returned = hook(request as never, {} as never, (err?: Error) => void calls.push(err));
    return { request: request as unknown as { principal: Principal }, calls, returned };
  };

  const valid = call('/predictions/mlp', `Bearer ${keys.inference.key}`);
  assert.equal(valid.returned, undefined);
  assert.deepEqual(valid.calls, [undefined]);
  assert.equal(valid.request.principal.kind, 'admin');

  const exempt = call('/api-description');
  assert.equal(exempt.returned, undefined);
  assert.deepEqual(exempt.calls, [undefined]);

  const wrong = call('/predictions/mlp', 'Bearer nope');
  assert.equal(wrong.returned, undefined);
  assert.equal(wrong.calls.length, 1);
  assert.ok(isTsServeError(wrong.calls[0]));
  assert.equal(wrong.calls[0]!.message, INVALID_KEY.message);

  const user = call('/predictions/mlp', basic('alice', 's3cret:x'));
  assert.ok(user.returned instanceof Promise);
  await user.returned;
  assert.deepEqual(user.calls, [], 'a returned promise replaces done');
  assert.deepEqual(user.request.principal, ALICE);

  const badUser = call('/predictions/mlp', basic('alice', 'wrong'));
  await assert.rejects(badUser.returned!, { message: BAD_USER.message });
  assert.deepEqual(badUser.calls, []);
});
