/**
 * Issue #8, black box: GET /metrics on the real CLI (spec §10; docs/metrics.md). Scrape, send a
 * known amount of traffic to model_store/iris.mar (successes with and without a version in the
 * URL, a handler-rejected input, unknown models, bad credentials), scrape again, and check every
 * counter and histogram moved by exactly what was sent, under TorchServe's names and labels.
 * One server (token authorization on) for the file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseExposition, type Exposition } from '../helpers/prometheus.js';
import { httpRequest, makeWorkspace, REPO_ROOT, startBackground } from '../helpers/tsserve.js';
import { cleanupScope, clientFor, waitModelsReady, type Client } from './inference-support.js';

const IRIS_INPUT = JSON.stringify([5.1, 3.5, 1.4, 0.2]);
const HOST = os.hostname();
const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

describe('Prometheus metrics on the real server', () => {
  const scope = cleanupScope();
  let c: Client;
  let metricsUrl: string;

  before(async () => {
    const ws = makeWorkspace(scope);
    fs.copyFileSync(path.join(REPO_ROOT, 'model_store/iris.mar'), path.join(ws.modelStore, 'iris.mar'));
    const server = await startBackground(scope, ws, ['--models', 'iris=iris.mar']);
    c = clientFor(ws, server);
    assert.ok(server.addresses.metrics, 'the metrics listener is on by default');
    metricsUrl = `${server.addresses.metrics}/metrics`;
    await waitModelsReady(c, ['iris']);
  });
  after(() => scope.run());

  async function scrape(query = ''): Promise<{ text: string; exp: Exposition }> {
    // No key: TorchServe does not guard the metrics API (spec §4.3).
    const res = await httpRequest(metricsUrl + query);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], PROMETHEUS_CONTENT_TYPE);
    return { text: res.text, exp: parseExposition(res.text) };
  }

  test('counters and histograms move by the traffic sent, with model_name, model_version and hostname', async () => {
    const { exp: before } = await scrape();
    const delta = (after: Exposition, name: string, labels: Record<string, string>) => (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);

    // 5 successes without a version, 3 with version 1.0, one at a time (so each is its own batch).
    for (let i = 0; i < 5; i++) assert.equal((await c.postJson('/predictions/iris', IRIS_INPUT)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await c.postJson('/predictions/iris/1.0', IRIS_INPUT)).status, 200);
    // Reaches the model, rejected by the handler: counted as a request, not as a latency sample.
    assert.equal((await c.postJson('/predictions/iris', '[1, 2]')).status, 400);
    // Never reach a model: not inference requests.
    assert.equal((await c.postJson('/predictions/nope', IRIS_INPUT)).status, 404);
    assert.equal((await c.postJson('/predictions/iris/9.9', IRIS_INPUT)).status, 404);
    // Bad credentials on two APIs.
    const badKey = await httpRequest(`${c.inference}/predictions/iris`, { method: 'POST', body: IRIS_INPUT, headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' } });
    assert.equal(badKey.status, 400);
    const badUser = await httpRequest(`${c.management}/models`, { headers: { authorization: `Basic ${Buffer.from('nobody:not-a-password').toString('base64')}` } });
    assert.equal(badUser.status, 401);

    const { text, exp: after } = await scrape();
    const dflt = { model_name: 'iris', model_version: 'default', hostname: HOST };
    const v1 = { model_name: 'iris', model_version: '1.0', hostname: HOST };

    // ts_inference_requests_total: +1 per request that found its model, failed or not.
    assert.equal(delta(after, 'ts_inference_requests_total', dflt), 6);
    assert.equal(delta(after, 'ts_inference_requests_total', v1), 3);
    assert.deepEqual(after.find('ts_inference_requests_total', { model_name: 'nope' }), []);
    assert.deepEqual(after.find('ts_inference_requests_total', { model_version: '9.9' }), []);

    // Latency histograms: one sample per successful request.
    for (const name of ['ts_inference_latency_microseconds', 'ts_queue_latency_microseconds']) {
      for (const [labels, n] of [[dflt, 5], [v1, 3]] as const) {
        assert.equal(delta(after, `${name}_count`, labels), n, `${name}_count ${labels.model_version}`);
        assert.equal(delta(after, `${name}_bucket`, { ...labels, le: '+Inf' }), n, `${name} +Inf bucket`);
        const buckets = after.find(`${name}_bucket`, labels);
        assert.equal(buckets.length, 20, '19 bounds and +Inf');
        for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name} buckets are cumulative`);
        assert.equal(buckets.at(-1)!.value, after.value(`${name}_count`, labels));
        assert.equal(after.value(`${name}`, labels), undefined, 'a histogram has no bare sample');
      }
    }
    const latencySum = delta(after, 'ts_inference_latency_microseconds_sum', dflt);
    const queueSum = delta(after, 'ts_queue_latency_microseconds_sum', dflt);
    assert.ok(latencySum > 0 && latencySum < 5 * 30e6, `latency sum ${latencySum} µs`);
    assert.ok(queueSum >= 0 && queueSum <= latencySum, `queue time ${queueSum} µs is part of the latency ${latencySum} µs`);

    // Responses by status class, on every listener: 8 successes + the first scrape; 4 client errors
    // + 2 rejected credentials; the second scrape is counted after it answered.
    const host = { Level: 'Host', Hostname: HOST };
    assert.equal(delta(after, 'Requests2XX', host), 9);
    assert.equal(delta(after, 'Requests4XX', host), 5);
    assert.equal(delta(after, 'Requests5XX', host), 0);
    assert.match(text, /^Requests2XX\{Level="Host",Hostname=".*",\} \d+\.\d+$/m, "TorchServe's Postman regex");

    // Our own: every request ran in a batch of the model version (the real version, 1.0).
    const batch = { model_name: 'iris', model_version: '1.0' };
    assert.equal(delta(after, 'tsserve_batch_size_sum', batch), 9, 'requests run');
    assert.equal(delta(after, 'tsserve_batch_size_count', batch), 9, 'batches run (one request each)');
    assert.equal(delta(after, 'tsserve_batch_size_bucket', { ...batch, le: '1.0' }), 9);
    assert.equal(after.value('tsserve_queue_depth', batch), 0);
    assert.equal(delta(after, 'tsserve_auth_failures_total', { api: 'inference' }), 1);
    assert.equal(delta(after, 'tsserve_auth_failures_total', { api: 'management' }), 1);
    assert.equal(after.value('tsserve_auth_failures_total', { api: 'metrics' }), undefined);
    assert.deepEqual(after.find('tsserve_worker_restarts_total'), []);

    // TorchServe's HELP and TYPE lines; histograms for the latencies.
    assert.deepEqual(after.families.get('ts_inference_requests_total'), { name: 'ts_inference_requests_total', help: 'Torchserve prometheus counter metric with unit: Count', type: 'counter' });
    assert.equal(after.families.get('ts_inference_latency_microseconds')!.type, 'histogram');
    assert.equal(after.families.get('ts_inference_latency_microseconds')!.help, 'Torchserve prometheus histogram metric with unit: Microseconds');
    assert.equal(after.families.get('tsserve_batch_size')!.type, 'histogram');
    assert.equal(after.families.get('tsserve_queue_depth')!.type, 'gauge');
    assert.equal(after.value('WorkerLoadTime', { WorkerName: 'W-9000-iris_1.0', Level: 'Host', Hostname: HOST }) !== undefined, true);
  });

  test('name[]= keeps only the listed series; unknown names give an empty answer', async () => {
    const { text, exp } = await scrape('?name[]=ts_inference_requests_total&name[]=Requests2XX');
    assert.deepEqual([...exp.families.keys()], ['Requests2XX', 'ts_inference_requests_total']);
    assert.deepEqual([...new Set(exp.samples.map((s) => s.name))], ['Requests2XX', 'ts_inference_requests_total']);
    assert.ok(exp.value('ts_inference_requests_total', { model_name: 'iris', model_version: 'default', hostname: HOST })! >= 1);
    assert.match(text, /^# HELP Requests2XX /);

    // A histogram's series one by one (as TorchServe), or the whole family by its name.
    const sums = (await scrape('?name[]=ts_inference_latency_microseconds_sum')).exp;
    assert.deepEqual([...new Set(sums.samples.map((s) => s.name))], ['ts_inference_latency_microseconds_sum']);
    const whole = (await scrape('?name[]=ts_queue_latency_microseconds')).exp;
    assert.deepEqual([...new Set(whole.samples.map((s) => s.name))].sort(), [
      'ts_queue_latency_microseconds_bucket',
      'ts_queue_latency_microseconds_count',
      'ts_queue_latency_microseconds_sum',
    ]);

    const none = await scrape('?name[]=no_such_metric');
    assert.equal(none.text, '');
    // Percent-encoded brackets, as curl -g or a browser sends them.
    const encoded = (await scrape('?name%5B%5D=Requests4XX')).exp;
    assert.deepEqual([...encoded.families.keys()], ['Requests4XX']);
  });
});
