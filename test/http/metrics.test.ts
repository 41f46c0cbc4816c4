import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { TsServeError } from '../../src/errors.js';
import { countResponses, metricNamesFromUrl, metricsApi } from '../../src/http/metrics.js';
import type { HttpDeps } from '../../src/http/deps.js';
import { silentLogger } from '../../src/logger.js';
import { MetricsRegistry } from '../../src/metrics/metrics.js';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

async function build(t: TestContext, mode: 'prometheus' | 'log' | 'legacy' = 'prometheus'): Promise<{ app: FastifyInstance; metrics: MetricsRegistry }> {
  const metrics = new MetricsRegistry({
    config: { metricsMode: mode, disableSystemMetrics: true, metricTimeIntervalSec: 60 },
    log: silentLogger(),
    hostname: 'test-host',
  });
  const app = Fastify();
  // Stand-in for http/error-handler.ts: TorchServe's error body.
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof TsServeError) return reply.code(err.status).send(err.body());
    return reply.code(500).send({ code: 500, type: 'InternalServerException', message: 'internal error' });
  });
  countResponses(app, metrics);
  const deps = { metrics, metricsRegistry: metrics } as unknown as HttpDeps;
  await app.register(metricsApi, deps);
  t.after(async () => {
    await app.close();
    await metrics.close();
  });
  return { app, metrics };
}

/** onResponse runs after the reply is written; give it a turn before scraping. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('GET /metrics serves TorchServe-format Prometheus text without a token', async (t) => {
  const { app, metrics } = await build(t);
  metrics.inferenceRequest('mlp', 'default');
  await app.inject({ method: 'GET', url: '/metrics' });
  await settle();
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], CONTENT_TYPE);
  assert.match(res.body, /^# HELP Requests2XX Torchserve prometheus counter metric with unit: Count$/m);
  assert.match(res.body, /Requests2XX\{Level="Host",Hostname=".*",\} \d+\.\d+/); // TorchServe's postman check
  assert.match(res.body, /^Requests2XX\{Level="Host",Hostname="test-host",\} 1\.0$/m);
  assert.match(res.body, /^ts_inference_requests_total\{model_name="mlp",model_version="default",hostname="test-host",\} 1\.0$/m);
});

test('responses of every status class are counted', async (t) => {
  const { app } = await build(t);
  await app.inject({ method: 'GET', url: '/metrics' }); // 200
  await app.inject({ method: 'GET', url: '/' }); // 405
  await app.inject({ method: 'GET', url: '/nope' }); // 404
  await settle();
  const res = await app.inject({ method: 'GET', url: '/metrics?name[]=Requests2XX&name[]=Requests4XX&name[]=Requests5XX' });
  assert.equal(
    res.body,
    '# HELP Requests2XX Torchserve prometheus counter metric with unit: Count\n' +
      '# TYPE Requests2XX counter\n' +
      'Requests2XX{Level="Host",Hostname="test-host",} 1.0\n' +
      '# HELP Requests4XX Torchserve prometheus counter metric with unit: Count\n' +
      '# TYPE Requests4XX counter\n' +
      'Requests4XX{Level="Host",Hostname="test-host",} 2.0\n',
  );
});

test('name[] filters families, once or repeated, encoded or not', async (t) => {
  const { app, metrics } = await build(t);
  metrics.httpResponse(200);
  metrics.httpResponse(404);
  metrics.authFailure('management');
  const types = (body: string) => body.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  assert.deepEqual(types((await app.inject({ method: 'GET', url: '/metrics?name[]=Requests4XX' })).body), ['Requests4XX']);
  assert.deepEqual(
    types((await app.inject({ method: 'GET', url: '/metrics?name%5B%5D=Requests2XX&name%5B%5D=tsserve_auth_failures_total' })).body),
    ['Requests2XX', 'tsserve_auth_failures_total'],
  );
  const none = await app.inject({ method: 'GET', url: '/metrics?name[]=unknown' });
  assert.equal(none.statusCode, 200);
  assert.equal(none.body, '');
  assert.deepEqual(metricNamesFromUrl('/metrics?name[]=a&x=1&name[]=b&name[]='), ['a', 'b']);
  assert.deepEqual(metricNamesFromUrl('/metrics'), []);
});

test('any path whose first segment is metrics answers metrics', async (t) => {
  const { app } = await build(t);
  for (const url of ['/metrics/', '/metrics/anything/else', '/metrics/x?name[]=Requests2XX']) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, url);
    assert.equal(res.headers['content-type'], CONTENT_TYPE, url);
  }
  const head = await app.inject({ method: 'HEAD', url: '/metrics' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, '');
});

test('other methods on /metrics answer 405', async (t) => {
  const { app } = await build(t);
  const res = await app.inject({ method: 'POST', url: '/metrics' });
  assert.equal(res.statusCode, 405);
  assert.equal(res.json().type, 'MethodNotAllowedException');
});

test('metrics_mode=log: 200 with an empty body', async (t) => {
  const { app, metrics } = await build(t, 'log');
  metrics.httpResponse(200);
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], CONTENT_TYPE);
  assert.equal(res.body, '');
});

test('metrics_mode=legacy: only the ts_* families', async (t) => {
  const { app, metrics } = await build(t, 'legacy');
  metrics.httpResponse(200);
  metrics.inferenceRequest('m', 'default');
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.doesNotMatch(res.body, /Requests2XX/);
  assert.match(res.body, /^ts_inference_requests_total\{model_name="m",model_version="default",hostname="test-host",\} 1\.0$/m);
});

test('OPTIONS / and /api-description describe only /metrics (spec §3.7)', async (t) => {
  const { app } = await build(t);
  for (const [method, url] of [['OPTIONS', '/'], ['GET', '/api-description'], ['POST', '/api-description'], ['OPTIONS', '/api-description']] as const) {
    const res = await app.inject({ method, url });
    assert.equal(res.statusCode, 200, `${method} ${url}`);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.ok(res.body.endsWith('}\n'));
    const doc = res.json();
    assert.equal(doc.openapi, '3.0.1');
    assert.deepEqual(doc.info, {
      title: 'TorchServe APIs',
      description: 'TorchServe is a flexible and easy to use tool for serving deep learning models',
      version: '0.12.0',
    });
    assert.deepEqual(Object.keys(doc.paths), ['/metrics']);
    const op = doc.paths['/metrics'].get;
    assert.equal(op.operationId, 'metrics');
    assert.deepEqual(op.parameters, [{ in: 'query', name: 'name[]', description: 'Names of metrics to filter', required: false, schema: { type: 'string' } }]);
    assert.ok(op.responses['200'].content[CONTENT_TYPE]);
    assert.deepEqual(op.responses['500'].content['application/json'].schema.required, ['code', 'type', 'message']);
  }
});

test('other methods on / answer 405 MethodNotAllowedException', async (t) => {
  const { app } = await build(t);
  for (const method of ['GET', 'POST', 'PUT', 'DELETE'] as const) {
    const res = await app.inject({ method, url: '/' });
    assert.equal(res.statusCode, 405, method);
    assert.deepEqual(res.json(), {
      code: 405,
      type: 'MethodNotAllowedException',
      message: 'Requested method is not allowed, please refer to API document.',
    });
  }
});
