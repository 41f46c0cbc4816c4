/**
 * Issue #8, black box: metrics_mode=log on the real CLI (spec §10.1, §10.3; docs/metrics.md).
 * /metrics answers an empty body, and every metric_time_interval the metrics that moved are
 * written to logs/ts_metrics.log in TorchServe's line format; summed per series, the lines give
 * exactly the traffic sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { httpRequest, makeWorkspace, REPO_ROOT, startBackground } from '../helpers/tsserve.js';
import { clientFor, eventually, waitModelsReady } from './inference-support.js';

const IRIS_INPUT = JSON.stringify([5.1, 3.5, 1.4, 0.2]);
const HOST = os.hostname();

/** `<time> - <Name>.<Unit>:<value>|#<dims>|#hostname:<host>,timestamp:<epoch s>` (plain layout). */
const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3}) - ([A-Za-z0-9_]+)\.([A-Za-z]+):(-?[0-9.E]+)\|#([^|]*)\|#hostname:([^,]+),timestamp:(\d+)$/;

type MetricLine = { name: string; unit: string; value: number; dims: string; hostname: string; timestampSec: number };

function readMetricLines(file: string): MetricLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = LINE.exec(l);
      assert.ok(m, `not a TorchServe metric line: ${l}`);
      return { name: m[2]!, unit: m[3]!, value: Number(m[4]), dims: m[5]!, hostname: m[6]!, timestampSec: Number(m[7]) };
    });
}

const sum = (lines: MetricLine[], name: string, dims: string) => lines.filter((l) => l.name === name && l.dims === dims).reduce((a, l) => a + l.value, 0);

test('metrics_mode=log: empty /metrics, TorchServe lines in ts_metrics.log that add up to the traffic', async (t) => {
  const startedSec = Math.floor(Date.now() / 1000);
  const ws = makeWorkspace(t, { metrics_mode: 'log', metric_time_interval: '1' });
  fs.copyFileSync(path.join(REPO_ROOT, 'model_store/iris.mar'), path.join(ws.modelStore, 'iris.mar'));
  const server = await startBackground(t, ws, ['--models', 'iris=iris.mar']);
  const c = clientFor(ws, server);
  await waitModelsReady(c, ['iris']);

  for (let i = 0; i < 4; i++) assert.equal((await c.postJson('/predictions/iris', IRIS_INPUT)).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await c.postJson('/predictions/iris/1.0', IRIS_INPUT)).status, 200);
  assert.equal((await c.postJson('/predictions/nope', IRIS_INPUT)).status, 404);

  // spec §10.1: the endpoint stays, with an empty body.
  const scraped = await httpRequest(`${server.addresses.metrics}/metrics`);
  assert.equal(scraped.status, 200);
  assert.equal(scraped.text, '');

  const file = path.join(ws.dir, 'logs', 'ts_metrics.log');
  const dflt = 'model_name:iris,model_version:default';
  const v1 = 'model_name:iris,model_version:1.0';
  const lines = await eventually(
    'the inference counters in ts_metrics.log',
    async () => {
      const l = readMetricLines(file);
      return sum(l, 'ts_inference_requests_total', dflt) === 4 && sum(l, 'ts_inference_requests_total', v1) === 2 && sum(l, 'Requests4XX', 'Level:Host') >= 1 && l;
    },
    10_000,
    200,
  );

  for (const l of lines) {
    assert.equal(l.hostname, HOST, 'the host name sits in the hostname slot');
    assert.ok(l.timestampSec >= startedSec - 1 && l.timestampSec <= Date.now() / 1000 + 1, `timestamp ${l.timestampSec}`);
  }
  const units = new Map(lines.map((l) => [l.name, l.unit]));
  assert.equal(units.get('ts_inference_requests_total'), 'Count');
  assert.equal(units.get('ts_inference_latency_microseconds'), 'Microseconds');
  assert.equal(units.get('Requests2XX'), 'Count');
  assert.equal(units.get('CPUUtilization'), 'Percent');
  assert.equal(units.get('MemoryUsed'), 'Megabytes');
  assert.equal(units.get('HandlerTime'), 'ms');
  assert.ok(lines.some((l) => l.name === 'CPUUtilization' && l.dims === 'Level:Host'));
  assert.ok(lines.some((l) => l.name === 'HandlerTime' && l.dims === 'ModelName:iris,Level:Model'));
  assert.ok(sum(lines, 'ts_inference_latency_microseconds', dflt) > 0, 'latency microseconds of the default-version requests');
  assert.ok(sum(lines, 'Requests2XX', 'Level:Host') >= 7, '6 predictions and the scrape, at least');
  // Only what moved is written: no line for a model that does not exist.
  assert.ok(!lines.some((l) => l.dims.includes('model_name:nope')));
  assert.ok(!lines.some((l) => l.name === 'Requests5XX'));

  // Exactly TorchServe's text for a counter line.
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, new RegExp(`^\\S+ - ts_inference_requests_total\\.Count:\\d+\\.0\\|#${dflt}\\|#hostname:${HOST.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},timestamp:\\d+$`, 'm'));
});
