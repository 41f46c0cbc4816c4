import { test } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { makeConfig } from '../../../src/config/load.js';
import { createListenerApp, formatAccessLine, redactUrl, requestIdFrom, routePattern } from '../../../src/http/common.js';
import { TooManyRequestsError, TsServeError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';

/** A listener app with a few routes, and the access-log lines it wrote. */
async function build(t: { after(fn: () => Promise<unknown>): void }, props: Record<string, string> = {}) {
  const access: string[] = [];
  const server: Array<Record<string, unknown>> = [];
  const accessLog = pino({ level: 'info' }, { write: (s: string) => void access.push(JSON.parse(s).msg as string) });
  const log = pino({ level: 'debug' }, { write: (s: string) => void server.push(JSON.parse(s) as Record<string, unknown>) });
  const app = createListenerApp({ name: 'test', config: makeConfig({ max_request_size: '100', ...props }), log, accessLog });
  await app.register(async (scope: FastifyInstance) => {
    scope.get('/models', async () => ({ models: [], nested: { a: 1 } }));
    scope.post('/echo', async (request) => ({
      isBuffer: Buffer.isBuffer(request.body),
      text: Buffer.isBuffer(request.body) ? request.body.toString('utf8') : null,
    }));
    scope.post('/multipart', async (request) => {
      const names: string[] = [];
      for await (const part of request.parts()) {
        names.push(part.fieldname);
        if (part.type === 'file') await part.toBuffer();
      }
      return { names };
    });
    scope.get('/models/:name', async (request) => ({ name: (request.params as { name: string }).name }));
    scope.post('/v1/models/:model/infer', async () => ({ ok: true }));
    scope.get('/limited', { schema: { querystring: { type: 'object', properties: { limit: { type: 'integer' } }, required: ['limit'] } } }, async () => ({}));
    scope.get('/throttled', async () => {
      throw new TooManyRequestsError(7);
    });
    scope.get('/custom', async () => {
      throw new (class extends TsServeError {
        override body() {
          return { error: { reason: 'custom' }, status: 418 };
        }
      })(418, 'Teapot', 'TEAPOT', 'short and stout');
    });
    scope.get('/boom', async () => {
      throw new Error('secret internals');
    });
    scope.get('/cors', async (_request, reply) => {
      reply.header('access-control-allow-origin', 'https://route.example');
      return {};
    });
  });
  await app.ready();
  t.after(() => app.close());
  return { app, access, server };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('JSON is pretty-printed with 2 spaces and a trailing newline; no-cache headers everywhere', async (t) => {
  const { app } = await build(t);
  const res = await app.inject({ method: 'GET', url: '/models' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.body, '{\n  "models": [],\n  "nested": {\n    "a": 1\n  }\n}\n');
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.equal(res.headers.pragma, 'no-cache');
  assert.equal(res.headers['cache-control'], 'no-cache; no-store, must-revalidate, private');
  assert.equal(res.headers.expires, 'Thu, 01 Jan 1970 00:00:00 UTC');
  const notFound = await app.inject({ method: 'GET', url: '/nope' });
  assert.equal(notFound.headers.pragma, 'no-cache');
});

test('x-request-id: generated UUID, a sane client id echoed, an unsafe one replaced', async (t) => {
  const { app } = await build(t);
  assert.match(String((await app.inject({ url: '/models' })).headers['x-request-id']), UUID);
  assert.equal((await app.inject({ url: '/models', headers: { 'x-request-id': 'abc-123.x:y_z' } })).headers['x-request-id'], 'abc-123.x:y_z');
  for (const bad of ['has space', 'a'.repeat(129), 'quote"', 'new\\line', '']) {
    assert.match(String((await app.inject({ url: '/models', headers: { 'x-request-id': bad } })).headers['x-request-id']), UUID, bad);
  }
  // Errors carry it too.
  assert.equal((await app.inject({ url: '/nope', headers: { 'x-request-id': 'err-1' } })).headers['x-request-id'], 'err-1');
  assert.equal(requestIdFrom(['a', 'b']).length, 36);
});

test('unknown route -> 404 ResourceNotFoundException in TorchServe JSON', async (t) => {
  const { app } = await build(t);
  const res = await app.inject({ method: 'GET', url: '/does/not/exist?x=1' });
  assert.equal(res.statusCode, 404);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(
    res.body,
    '{\n  "code": 404,\n  "type": "ResourceNotFoundException",\n  "message": "Requested resource is not found, please refer to API document."\n}\n',
  );
});

test('known path, wrong method -> 405 MethodNotAllowedException', async (t) => {
  const { app } = await build(t);
  for (const [method, url] of [['DELETE', '/models'], ['PUT', '/models/abc'], ['GET', '/v1/models/m/infer'], ['PATCH', '/echo/']] as const) {
    const res = await app.inject({ method, url });
    assert.equal(res.statusCode, 405, `${method} ${url}`);
    assert.deepEqual(res.json(), { code: 405, type: 'MethodNotAllowedException', message: 'Requested method is not allowed, please refer to API document.' });
  }
  // Not routes at all.
  assert.equal((await app.inject({ method: 'GET', url: '/models/a/b/c' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'POST', url: '/v1/models/m/explain' })).statusCode, 404);
});

test('trailing slash is ignored like TorchServe path splitting', async (t) => {
  const { app } = await build(t);
  assert.equal((await app.inject({ url: '/models/' })).statusCode, 200);
  assert.deepEqual((await app.inject({ url: '/models/m1/' })).json(), { name: 'm1' });
});

test('every content type reaches the route as a raw Buffer', async (t) => {
  const { app } = await build(t);
  for (const type of ['application/json', 'text/plain', 'application/octet-stream', 'image/png', 'application/x-www-form-urlencoded', undefined]) {
    const res = await app.inject({ method: 'POST', url: '/echo', payload: '{"a":1}', headers: type ? { 'content-type': type } : {} });
    assert.equal(res.statusCode, 200, String(type));
    assert.deepEqual(res.json(), { isBuffer: true, text: '{"a":1}' }, String(type));
  }
});

test('body over max_request_size -> 413 PayloadTooLargeException JSON', async (t) => {
  const { app } = await build(t);
  const res = await app.inject({ method: 'POST', url: '/echo', payload: Buffer.alloc(101), headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(res.statusCode, 413);
  assert.deepEqual(res.json(), { code: 413, type: 'PayloadTooLargeException', message: 'Request body exceeds max_request_size of 100 bytes' });
  assert.equal((await app.inject({ method: 'POST', url: '/echo', payload: Buffer.alloc(100) })).statusCode, 200);
});

function multipartBody(parts: Array<{ name: string; filename?: string; data: string | Buffer }>) {
  const boundary = '----tsserveboundary';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

test('multipart is parsed by @fastify/multipart; a file over the limit -> 413', async (t) => {
  const { app } = await build(t, { max_request_size: '200' });
  const ok = multipartBody([{ name: 'a', data: 'x' }, { name: 'data', filename: 'f.bin', data: 'yy' }]);
  const res = await app.inject({ method: 'POST', url: '/multipart', ...ok });
  assert.deepEqual(res.json(), { names: ['a', 'data'] });

  const big = multipartBody([{ name: 'data', filename: 'f.bin', data: Buffer.alloc(150) }]);
  assert.ok(big.payload.length < 400);
  const { app: small } = await build(t, { max_request_size: '120' });
  const tooBig = await small.inject({ method: 'POST', url: '/multipart', ...big });
  assert.equal(tooBig.statusCode, 413);
  assert.equal(tooBig.json().type, 'PayloadTooLargeException');
});

test('schema failures -> 400 BadRequestException naming the parameter', async (t) => {
  const { app } = await build(t);
  const missing = await app.inject({ url: '/limited' });
  assert.equal(missing.statusCode, 400);
  assert.deepEqual(missing.json(), { code: 400, type: 'BadRequestException', message: 'Parameter limit is required.' });
  const bad = await app.inject({ url: '/limited?limit=abc' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().type, 'BadRequestException');
  assert.match(bad.json().message, /limit/);
});

test('TsServeError: status, extra headers and the body the error chooses', async (t) => {
  const { app } = await build(t);
  const res = await app.inject({ url: '/throttled' });
  assert.equal(res.statusCode, 429);
  assert.equal(res.headers['retry-after'], '7');
  assert.equal(res.json().type, 'TooManyRequestsException');
  const custom = await app.inject({ url: '/custom' });
  assert.equal(custom.statusCode, 418);
  assert.deepEqual(custom.json(), { error: { reason: 'custom' }, status: 418 });
});

test('unknown errors -> 500 with a generic message; the error is logged in full', async (t) => {
  const { app, server } = await build(t);
  const res = await app.inject({ url: '/boom', headers: { 'x-request-id': 'boom-1' } });
  assert.equal(res.statusCode, 500);
  assert.deepEqual(res.json(), { code: 500, type: 'InternalServerException', message: 'Internal server error (request id boom-1)' });
  assert.doesNotMatch(res.body, /secret internals/);
  const logged = server.find((r) => r.msg === 'request failed');
  assert.ok(logged);
  assert.equal(logged.reqId, 'boom-1');
  assert.match(JSON.stringify(logged.err), /secret internals/);
});

test('request.log carries the request id and the listener name; the access log can be off', async (t) => {
  const server: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void server.push(JSON.parse(s) as Record<string, unknown>) });
  const app = createListenerApp({ name: 'test', config: makeConfig({}), log, accessLog: silentLogger() });
  t.after(() => app.close());
  app.get('/talk', async (request) => {
    request.log.info({ step: 1 }, 'talking');
    request.log.debug('detail');
    return {};
  });
  await app.inject({ url: '/talk', headers: { 'x-request-id': 'talk-1' } });
  await app.inject({ url: '/talk' });
  const talked = server.filter((r) => r.msg === 'talking');
  assert.equal(talked.length, 2);
  assert.equal(talked[0]!.reqId, 'talk-1');
  assert.equal(talked[0]!.api, 'test');
  assert.equal(talked[0]!.step, 1);
  assert.match(String(talked[1]!.reqId), UUID);
  assert.equal(server.filter((r) => r.msg === 'detail').length, 0, 'debug is below the level');
  // The access log is off here: requests are still answered.
  assert.equal((await app.inject({ url: '/nowhere' })).statusCode, 404);
});

test('malformed HTTP: 400 Invalid HTTP message, one access line as TorchServe logs it, counted', async (t) => {
  const access: string[] = [];
  const statuses: number[] = [];
  const accessLog = pino({ level: 'info' }, { write: (s: string) => void access.push(JSON.parse(s).msg as string) });
  const app = createListenerApp({ name: 'raw', config: makeConfig({}), log: silentLogger(), accessLog, metrics: { httpResponse: (s) => void statuses.push(s) } });
  app.get('/ok', async () => ({}));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const { port } = new URL(address);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('NOT AN HTTP REQUEST\r\n\r\n'));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(answer, /"message": "Invalid HTTP message\."/);
  assert.equal(access.length, 1);
  assert.match(access[0]!, /^\/127\.0\.0\.1:\d+ "GET \/bad-request HTTP\/1\.1" 400 0 reqId=[0-9a-f-]{36}$/);
  assert.deepEqual(statuses, [400]);
});

test('CORS headers from the config on every response, unless the route set them', async (t) => {
  const { app } = await build(t, { cors_allowed_origin: '*', cors_allowed_methods: 'GET, POST', cors_allowed_headers: 'X-Custom' });
  for (const url of ['/models', '/nope']) {
    const res = await app.inject({ url });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-methods'], 'GET, POST');
    assert.equal(res.headers['access-control-allow-headers'], 'X-Custom');
  }
  assert.equal((await app.inject({ url: '/cors' })).headers['access-control-allow-origin'], 'https://route.example');
  const { app: plain } = await build(t);
  assert.equal((await plain.inject({ url: '/models' })).headers['access-control-allow-origin'], undefined);
});

test('access log: one TorchServe-style line per response, with request id, secrets redacted', async (t) => {
  const { app, access } = await build(t);
  await app.inject({ url: '/models?limit=1&token=abc&api_key=k1&password=pw', headers: { 'x-request-id': 'r1', authorization: 'Bearer topsecret' }, remoteAddress: '127.0.0.1' });
  await app.inject({ method: 'POST', url: '/nope', headers: { 'x-request-id': 'r2' } });
  assert.equal(access.length, 2);
  assert.match(access[0], /^\/127\.0\.0\.1:\d+ "GET \/models\?limit=1&token=\[REDACTED\]&api_key=\[REDACTED\]&password=\[REDACTED\] HTTP\/1\.1" 200 \d+ reqId=r1$/);
  assert.match(access[1], /"POST \/nope HTTP\/1\.1" 404 \d+ reqId=r2$/);
  assert.doesNotMatch(access.join('\n'), /topsecret|abc|k1|pw/);
});

test('helpers: redactUrl, formatAccessLine, routePattern', () => {
  assert.equal(redactUrl('/a'), '/a');
  assert.equal(redactUrl('/a?x=1&Authorization=2&flag&secret%5Fkey=3'), '/a?x=1&Authorization=[REDACTED]&flag&secret%5Fkey=[REDACTED]');
  assert.equal(redactUrl('/a?pass=1&pwd=2&access_token=3&session_id=4&jwt=5&limit=6'), '/a?pass=[REDACTED]&pwd=[REDACTED]&access_token=[REDACTED]&session_id=[REDACTED]&jwt=[REDACTED]&limit=6');
  // Percent-encoded names are decoded before the check; a fragment is kept as it is.
  assert.equal(redactUrl('/a?%6Bey=k&b=1#frag'), '/a?%6Bey=[REDACTED]&b=1#frag');
  // Presigned download URLs and absolute-form targets with credentials.
  assert.equal(
    redactUrl('https://bucket.s3.amazonaws.com/m.mar?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc&X-Amz-Expires=60'),
    'https://bucket.s3.amazonaws.com/m.mar?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Expires=60',
  );
  assert.equal(redactUrl('http://admin:hunter2@host:8080/m.mar'), 'http://[REDACTED]@host:8080/m.mar');
  assert.equal(redactUrl('/models?url=a@b'), '/models?url=a@b');
  assert.equal(
    formatAccessLine({ remote: '/127.0.0.1:1', method: 'GET', url: '/models', httpVersion: '1.1', status: 200, durationMs: 2.6, requestId: 'x' }),
    '/127.0.0.1:1 "GET /models HTTP/1.1" 200 3 reqId=x',
  );
  assert.ok(routePattern('/models/:name/:version/set-default').test('/models/a/1.0/set-default'));
  assert.ok(!routePattern('/models/:name').test('/models/a/b'));
  assert.ok(routePattern('/v2/models/:name(^[a-z]+$)/infer').test('/v2/models/abc/infer'));
  assert.ok(routePattern('/metrics*').test('/metrics/anything'));
  assert.ok(routePattern('/').test('/'));
  assert.ok(!routePattern('/').test('/x'));
  void silentLogger;
});
