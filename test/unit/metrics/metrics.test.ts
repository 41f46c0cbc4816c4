import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../../src/logger.js';
import { MetricsRegistry, type IntervalTimers, type MetricsRegistryOptions } from '../../../src/metrics/metrics.js';

const HOST = 'test-host';
const NOW_MS = 1_717_105_563_250;

type Mode = 'prometheus' | 'log' | 'legacy';

function make(mode: Mode = 'prometheus', extra: Partial<MetricsRegistryOptions> = {}, systemMetrics = false): MetricsRegistry {
  return new MetricsRegistry({
    config: { metricsMode: mode, disableSystemMetrics: !systemMetrics, metricTimeIntervalSec: 60 },
    log: silentLogger(),
    hostname: HOST,
    now: () => NOW_MS,
    ...extra,
  });
}

/** A pino logger whose messages land in `lines`. */
function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push((JSON.parse(l) as { msg: string }).msg);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const flushStreams = () => new Promise((resolve) => setImmediate(resolve));

/** Sample lines of the exposition, by series name + labels -> value. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), line.slice(i + 1));
  }
  return out;
}

function families(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('# TYPE '))
    .map((l) => l.split(' ')[2]!);
}

test('Requests2XX/4XX/5XX count responses by status class with Level and Hostname', async (t) => {
  const m = make();
  t.after(() => m.close());
  for (const status of [200, 201, 404, 400, 401, 500, 503, 302]) m.httpResponse(status);
  const s = samples(await m.render());
  assert.equal(s.get('Requests2XX{Level="Host",Hostname="test-host",}'), '2.0');
  assert.equal(s.get('Requests4XX{Level="Host",Hostname="test-host",}'), '3.0');
  assert.equal(s.get('Requests5XX{Level="Host",Hostname="test-host",}'), '3.0'); // 5XX = not 2xx/4xx
});

test('inference counters and latency histograms move with model_name, model_version, hostname', async (t) => {
  const m = make();
  t.after(() => m.close());
  m.inferenceRequest('mlp', 'default');
  m.inferenceRequest('mlp', 'default');
  m.inferenceRequest('add', '2.0');
  m.inferenceDone('mlp', 'default', 1_500, 300);
  m.inferenceDone('mlp', 'default', 3_000, 700);
  const text = await m.render();
  const s = samples(text);
  const mlp = 'model_name="mlp",model_version="default",hostname="test-host",';
  assert.equal(s.get(`ts_inference_requests_total{${mlp}}`), '2.0');
  assert.equal(s.get('ts_inference_requests_total{model_name="add",model_version="2.0",hostname="test-host",}'), '1.0');
  assert.equal(s.get(`ts_inference_latency_microseconds_sum{${mlp}}`), '4500.0');
  assert.equal(s.get(`ts_inference_latency_microseconds_count{${mlp}}`), '2.0');
  assert.equal(s.get(`ts_inference_latency_microseconds_bucket{${mlp}le="1000.0",}`), '0.0');
  assert.equal(s.get(`ts_inference_latency_microseconds_bucket{${mlp}le="2500.0",}`), '1.0');
  assert.equal(s.get(`ts_inference_latency_microseconds_bucket{${mlp}le="5000.0",}`), '2.0');
  assert.equal(s.get(`ts_inference_latency_microseconds_bucket{${mlp}le="+Inf",}`), '2.0');
  assert.equal(s.get(`ts_queue_latency_microseconds_sum{${mlp}}`), '1000.0');
  assert.equal(s.get(`ts_queue_latency_microseconds_count{${mlp}}`), '2.0');
  assert.equal(s.get('QueueTime{Level="Host",Hostname="test-host",}'), '0.7'); // last job, in ms
  assert.match(text, /^# HELP ts_inference_latency_microseconds Torchserve prometheus histogram metric with unit: Microseconds$/m);
  assert.match(text, /^# TYPE ts_inference_latency_microseconds histogram$/m);
  assert.match(text, /^# HELP ts_inference_requests_total Torchserve prometheus counter metric with unit: Count$/m);
  assert.match(text, /^# HELP WorkerLoadTime Torchserve prometheus gauge metric with unit: Milliseconds$/m);
});

test('batch, queue, worker and auth metrics', async (t) => {
  const m = make();
  t.after(() => m.close());
  m.batchRun('mlp', '1.0', 3, 12.5);
  m.batchRun('mlp', '1.0', 8, 20, 1.25);
  m.queueDepth('mlp', '1.0', 5);
  m.queueDepth('mlp', '1.0', 2);
  m.workerRestart('mlp', '1.0');
  m.workerRestart('mlp', '1.0');
  m.workerLoaded('W-9000-mlp_1.0', 340);
  m.authFailure('inference');
  m.authFailure('inference');
  m.authFailure('management');
  const s = samples(await m.render());
  const v = 'model_name="mlp",model_version="1.0",';
  assert.equal(s.get(`tsserve_batch_size_count{${v}}`), '2.0');
  assert.equal(s.get(`tsserve_batch_size_sum{${v}}`), '11.0');
  assert.equal(s.get(`tsserve_batch_size_bucket{${v}le="4.0",}`), '1.0');
  assert.equal(s.get(`tsserve_batch_size_bucket{${v}le="8.0",}`), '2.0');
  assert.equal(s.get(`tsserve_queue_depth{${v}}`), '2.0');
  assert.equal(s.get(`tsserve_worker_restarts_total{${v}}`), '2.0');
  assert.equal(s.get('WorkerLoadTime{WorkerName="W-9000-mlp_1.0",Level="Host",Hostname="test-host",}'), '340.0');
  assert.equal(s.get('HandlerTime{ModelName="mlp",Level="Model",Hostname="test-host",}'), '20.0');
  assert.equal(s.get('PredictionTime{ModelName="mlp",Level="Model",Hostname="test-host",}'), '20.0');
  assert.equal(s.get('WorkerThreadTime{Level="Host",Hostname="test-host",}'), '1.25');
  assert.equal(s.get('tsserve_auth_failures_total{api="inference",}'), '2.0');
  assert.equal(s.get('tsserve_auth_failures_total{api="management",}'), '1.0');
});

test('families without samples still print HELP and TYPE; no default registry leaks in', async (t) => {
  const m = make();
  const other = make();
  t.after(() => Promise.all([m.close(), other.close()]));
  other.httpResponse(200);
  const text = await m.render();
  assert.match(text, /^# TYPE Requests5XX counter$/m);
  assert.equal(samples(text).size, 0); // the other instance's traffic is not here
  assert.ok(!families(text).some((f) => f.startsWith('process_') || f.startsWith('nodejs_')));
});

test('render(names) filters like name[]=: by sample name, dropping empty families', async (t) => {
  const m = make();
  t.after(() => m.close());
  m.httpResponse(200);
  m.httpResponse(404);
  m.inferenceDone('mlp', 'default', 10, 1);
  assert.deepEqual(families(await m.render(['Requests2XX'])), ['Requests2XX']);
  assert.deepEqual(families(await m.render(['Requests2XX', 'Requests4XX'])), ['Requests2XX', 'Requests4XX']);
  // Requests5XX has no samples: filtered out like simpleclient does.
  assert.deepEqual(families(await m.render(['Requests2XX', 'Requests5XX'])), ['Requests2XX']);
  assert.equal(await m.render(['no_such_metric']), '');
  const sumOnly = samples(await m.render(['ts_inference_latency_microseconds_sum']));
  assert.deepEqual([...sumOnly.keys()], ['ts_inference_latency_microseconds_sum{model_name="mlp",model_version="default",hostname="test-host",}']);
  const whole = samples(await m.render(['ts_inference_latency_microseconds']));
  assert.ok([...whole.keys()].some((k) => k.startsWith('ts_inference_latency_microseconds_bucket{')));
  assert.ok([...whole.keys()].some((k) => k.startsWith('ts_inference_latency_microseconds_count{')));
  assert.deepEqual(families(await m.render([])), families(await m.render()));
});

test('legacy mode exposes only the three ts_* families', async (t) => {
  const m = make('legacy');
  t.after(() => m.close());
  m.httpResponse(200);
  m.inferenceRequest('mlp', 'default');
  assert.deepEqual(families(await m.render()), [
    'ts_inference_requests_total',
    'ts_inference_latency_microseconds',
    'ts_queue_latency_microseconds',
  ]);
});

test('log mode: empty exposition; flushLog writes interval increases in TorchServe format', async (t) => {
  const ts = capture();
  const model = capture();
  const m = make('log', { metricsLog: ts.logger, modelMetricsLog: model.logger });
  t.after(() => m.close());
  m.httpResponse(200);
  m.httpResponse(200);
  m.httpResponse(404);
  m.inferenceRequest('mlp', 'default');
  m.inferenceDone('mlp', 'default', 1_500, 300);
  m.inferenceDone('mlp', 'default', 2_500, 100);
  m.batchRun('mlp', '1.0', 2, 7);
  m.authFailure('inference');
  assert.equal(await m.render(), '');
  assert.equal(await m.render(['Requests2XX']), '');

  await m.flushLog();
  await flushStreams();
  const stamp = '|#hostname:test-host,timestamp:1717105563';
  for (const line of [
    `Requests2XX.Count:2.0|#Level:Host${stamp}`,
    `Requests4XX.Count:1.0|#Level:Host${stamp}`,
    `ts_inference_requests_total.Count:1.0|#model_name:mlp,model_version:default${stamp}`,
    `ts_inference_latency_microseconds.Microseconds:4000.0|#model_name:mlp,model_version:default${stamp}`,
    `ts_queue_latency_microseconds.Microseconds:400.0|#model_name:mlp,model_version:default${stamp}`,
    `QueueTime.Milliseconds:0.1|#Level:Host${stamp}`,
    `tsserve_batch_size.Count:2.0|#model_name:mlp,model_version:1.0${stamp}`,
    `tsserve_auth_failures_total.Count:1.0|#api:inference${stamp}`,
  ]) {
    assert.ok(ts.lines.includes(line), `missing ${line}\n${ts.lines.join('\n')}`);
  }
  assert.ok(!ts.lines.some((l) => l.startsWith('Requests5XX')));
  assert.ok(!ts.lines.some((l) => l.startsWith('HandlerTime')));
  assert.deepEqual(model.lines.sort(), [
    `HandlerTime.ms:7.0|#ModelName:mlp,Level:Model${stamp}`,
    `PredictionTime.ms:7.0|#ModelName:mlp,Level:Model${stamp}`,
  ]);

  // Nothing new: nothing written. Then only the increase since the last write.
  ts.lines.length = 0;
  await m.flushLog();
  await flushStreams();
  assert.deepEqual(ts.lines, []);
  m.httpResponse(204);
  m.inferenceDone('mlp', 'default', 100, 10);
  await m.flushLog();
  await flushStreams();
  assert.deepEqual(ts.lines.sort(), [
    `QueueTime.Milliseconds:0.01|#Level:Host${stamp}`,
    `Requests2XX.Count:1.0|#Level:Host${stamp}`,
    `ts_inference_latency_microseconds.Microseconds:100.0|#model_name:mlp,model_version:default${stamp}`,
    `ts_queue_latency_microseconds.Microseconds:10.0|#model_name:mlp,model_version:default${stamp}`,
  ]);
});

test('legacy mode logs everything except the ts_* families', async (t) => {
  const ts = capture();
  const m = make('legacy', { metricsLog: ts.logger });
  t.after(() => m.close());
  m.httpResponse(200);
  m.inferenceRequest('mlp', 'default');
  await m.flushLog();
  await flushStreams();
  assert.deepEqual(ts.lines, ['Requests2XX.Count:1.0|#Level:Host|#hostname:test-host,timestamp:1717105563']);
});

test('prometheus mode writes no metrics log', async (t) => {
  const ts = capture();
  const m = make('prometheus', { metricsLog: ts.logger });
  t.after(() => m.close());
  m.httpResponse(200);
  await m.flushLog();
  await m.close();
  await flushStreams();
  assert.deepEqual(ts.lines, []);
});

test('system metrics: collected when enabled, with sane values', async (t) => {
  const m = make('prometheus', {}, true);
  t.after(() => m.close());
  const text = await m.render(); // waits for the first collection started by the constructor
  const s = samples(text);
  const host = '{Level="Host",Hostname="test-host",}';
  for (const name of ['CPUUtilization', 'MemoryUtilization', 'DiskUtilization']) {
    const value = Number(s.get(`${name}${host}`));
    assert.ok(value >= 0 && value <= 100, `${name}=${value}`);
  }
  for (const name of ['MemoryUsed', 'MemoryAvailable', 'DiskUsage', 'DiskAvailable']) {
    assert.ok(Number(s.get(`${name}${host}`)) > 0, name);
  }
  assert.match(text, /^# HELP MemoryUsed Torchserve prometheus gauge metric with unit: Megabytes$/m);
  assert.match(text, /^# HELP DiskAvailable Torchserve prometheus gauge metric with unit: Gigabytes$/m);
});

test('system metrics: absent when disable_system_metrics', async (t) => {
  const m = make('prometheus', {}, false);
  t.after(() => m.close());
  await m.collectSystemMetrics();
  const text = await m.render();
  for (const name of ['CPUUtilization', 'MemoryUsed', 'MemoryAvailable', 'MemoryUtilization', 'DiskUsage', 'DiskAvailable', 'DiskUtilization']) {
    assert.ok(!text.includes(name), name);
  }
});

/** Fake interval timers: records calls; `fire()` runs the callback like the real tick. */
function fakeTimers() {
  const state = { intervals: [] as { fn: () => void; ms: number; unrefed: boolean; cleared: boolean }[] };
  const timers: IntervalTimers = {
    setInterval(fn, ms) {
      const entry = { fn, ms, unrefed: false, cleared: false };
      state.intervals.push(entry);
      return {
        unref() {
          entry.unrefed = true;
        },
        entry,
      } as { unref(): unknown };
    },
    clearInterval(handle) {
      (handle as unknown as { entry: { cleared: boolean } }).entry.cleared = true;
    },
  };
  return { timers, state };
}

test('the collection timer runs every metric_time_interval, is unref()ed and cleared on close()', async () => {
  const { timers, state } = fakeTimers();
  const ts = capture();
  const m = new MetricsRegistry({
    config: { metricsMode: 'log', disableSystemMetrics: false, metricTimeIntervalSec: 7 },
    log: silentLogger(),
    metricsLog: ts.logger,
    hostname: HOST,
    now: () => NOW_MS,
    timers,
  });
  assert.equal(state.intervals.length, 1);
  const [timer] = state.intervals;
  assert.equal(timer!.ms, 7000);
  assert.equal(timer!.unrefed, true);

  m.httpResponse(200);
  // A tick collects system metrics, then writes the log. A tick while the constructor's first
  // reading is still running is skipped, so keep ticking until the log shows up.
  await waitFor(() => {
    timer!.fn();
    return ts.lines.some((l) => l.startsWith('Requests2XX.'));
  });
  assert.ok(ts.lines.includes('Requests2XX.Count:1.0|#Level:Host|#hostname:test-host,timestamp:1717105563'), ts.lines.join('\n'));
  assert.ok(ts.lines.some((l) => l.startsWith('CPUUtilization.Percent:')));
  assert.ok(ts.lines.some((l) => l.startsWith('DiskAvailable.Gigabytes:')));

  m.httpResponse(500);
  await m.close();
  assert.equal(timer!.cleared, true);
  await flushStreams();
  assert.ok(ts.lines.some((l) => l.startsWith('Requests5XX.Count:1.0|')), 'close() writes the last interval');
  await m.close(); // idempotent
});

test('no timer when there is nothing periodic to do', async () => {
  const { timers, state } = fakeTimers();
  const m = make('prometheus', { timers }, false);
  assert.equal(state.intervals.length, 0);
  await m.close();
  const withSystem = make('prometheus', { timers }, true);
  assert.equal(state.intervals.length, 1);
  assert.equal(state.intervals[0]!.ms, 60_000);
  await withSystem.close();
  assert.equal(state.intervals[0]!.cleared, true);
});
