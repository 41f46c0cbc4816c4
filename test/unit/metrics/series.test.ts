import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/logger.js';
import { MetricsRegistry } from '../../../src/metrics/metrics.js';
import { HistogramFamily, ScalarFamily, assertGaugeValue, assertObservable } from '../../../src/metrics/series.js';

test('a family finds a series by label values and keeps first-use order', () => {
  const f = new ScalarFamily();
  const b = f.series(['b', '1']);
  const a = f.series(['a', '1']);
  assert.equal(f.series(['b', '1']), b);
  assert.notEqual(f.series(['b,1', '']), b);
  b.value += 1;
  assert.deepEqual([...f.all()].map((s) => s.labelValues), [['b', '1'], ['a', '1'], ['b,1', '']]);
  assert.equal(a.value, 0);
});

test('a histogram counts each value in the first bucket whose bound is >= it', () => {
  const s = new HistogramFamily([1, 5, 10]).series(['x']);
  for (const v of [0, 1, 1.5, 5, 10, 11, -3]) s.observe(v);
  assert.deepEqual(s.bucketCounts, [3, 2, 1]); // 11 only in +Inf (count)
  assert.equal(s.count, 7);
  assert.equal(s.sum, 25.5);
});

test('non-finite observations and non-number gauge values throw like prom-client', () => {
  assert.throws(() => assertObservable(Number.NaN), { name: 'TypeError', message: 'Value is not a valid number: NaN' });
  assert.throws(() => assertObservable(Infinity), TypeError);
  assert.doesNotThrow(() => assertObservable(-1));
  assert.throws(() => assertGaugeValue(undefined), { name: 'TypeError', message: 'Value is not a valid number: undefined' });
  assert.doesNotThrow(() => assertGaugeValue(Number.NaN));
});

test('a rejected observation leaves no series behind; series print in first-use order', async (t) => {
  const m = new MetricsRegistry({
    config: { metricsMode: 'prometheus', disableSystemMetrics: true, metricTimeIntervalSec: 60 },
    log: silentLogger(),
    hostname: 'h',
  });
  t.after(() => m.close());
  assert.throws(() => m.inferenceDone('mlp', '1', Number.NaN, 1), TypeError);
  m.inferenceRequest('zeta', '1');
  m.inferenceRequest('alpha', '1');
  m.inferenceRequest('zeta', '1');
  const text = await m.render();
  assert.ok(!text.includes('ts_inference_latency_microseconds_count'), text);
  const lines = text.split('\n').filter((l) => l.startsWith('ts_inference_requests_total{'));
  assert.deepEqual(lines, [
    'ts_inference_requests_total{model_name="zeta",model_version="1",hostname="h",} 2.0',
    'ts_inference_requests_total{model_name="alpha",model_version="1",hostname="h",} 1.0',
  ]);
});
