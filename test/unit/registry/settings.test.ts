import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedMutex } from '../../../src/registry/keyed-mutex.js';
import { resolveSettings, type SettingsInput } from '../../../src/registry/settings.js';

const base: SettingsInput = {
  name: 'm',
  version: '1.0',
  yaml: {},
  modelsJson: {},
  params: {},
  startup: false,
  defaults: { defaultWorkersPerModel: 0, jobQueueSize: 100, defaultResponseTimeoutSec: 120, defaultStartupTimeoutSec: 120 },
  layout: { workers: 2, intraOpNumThreads: 1 },
};
const resolve = (over: Partial<SettingsInput>) => resolveSettings({ ...base, ...over });

test('defaults: batch 1, delay 100 ms, config timeouts and queue, layout workers and threads', () => {
  const s = resolve({});
  assert.deepEqual(
    [s.batchSize, s.maxBatchDelayMs, s.responseTimeoutSec, s.startupTimeoutSec, s.jobQueueSize, s.minWorkers, s.maxWorkers],
    [1, 100, 120, 120, 100, 2, 2],
  );
  assert.deepEqual(s.session, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
  assert.equal(s.warmup, undefined);
  assert.deepEqual(s.warnings, []);
});

test('a yaml without a timeout key does not override the register parameter (TorchServe would use 120)', () => {
  const s = resolve({ yaml: { batchSize: 2 }, params: { responseTimeoutSec: 7, startupTimeoutSec: 8 } });
  assert.equal(s.responseTimeoutSec, 7);
  assert.equal(s.startupTimeoutSec, 8);
});

test('initial_workers counts on the API, not at startup; explicit 0 means 0', () => {
  assert.equal(resolve({ params: { initialWorkers: 0 } }).minWorkers, 0);
  assert.equal(resolve({ params: { initialWorkers: 3 }, startup: true }).minWorkers, 2);
  assert.equal(resolve({ yaml: { minWorkers: 1, maxWorkers: 4 }, params: { initialWorkers: 0 } }).maxWorkers, 4);
});

test('invalid values are ignored with a warning, as TorchServe does', () => {
  const s = resolve({
    yaml: { batchSize: 'four', minWorkers: 3, maxWorkers: 1, onnxruntime: { intraOpNumThreads: 0, graphOptimizationLevel: 'max', executionProviders: 'cpu' }, warmup: 5 },
    modelsJson: { m: { '1.0': { batchSize: 'x', maxBatchDelay: 0, minWorkers: -1 } } },
  });
  assert.equal(s.batchSize, 1);
  assert.equal(s.maxBatchDelayMs, 100);
  assert.equal(s.minWorkers, 2);
  assert.deepEqual(s.session, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
  assert.equal(s.warmup, undefined);
  assert.ok(s.warnings.includes('Invalid value for model: m:1.0, parameter: batchSize'), s.warnings.join('\n'));
  assert.equal(s.warnings.length, 7, s.warnings.join('\n'));
});

test('snapshot values win over everything', () => {
  const s = resolve({
    yaml: { batchSize: 4, minWorkers: 2, maxWorkers: 2, responseTimeout: 9 },
    params: { batchSize: 5 },
    fixed: { batchSize: 6, minWorkers: 0, maxWorkers: 0, responseTimeoutSec: 10, maxBatchDelayMs: 0 },
  });
  assert.deepEqual([s.batchSize, s.minWorkers, s.maxWorkers, s.responseTimeoutSec, s.maxBatchDelayMs], [6, 0, 0, 10, 0]);
});

test('warmup: a string body is sent as is, with the given content type and protocol', () => {
  const s = resolve({ yaml: { warmup: { body: 'a,b', contentType: 'text/csv', protocol: 'kserve-v1' } } });
  assert.equal(s.warmup?.protocol, 'kserve-v1');
  assert.equal(s.warmup?.params[0]?.contentType, 'text/csv');
  assert.equal(new TextDecoder().decode(s.warmup?.params[0]?.value), 'a,b');
});

test('KeyedMutex runs one key at a time, other keys in parallel', async () => {
  const m = new KeyedMutex();
  const log: string[] = [];
  const step = (key: string, label: string, ms: number) =>
    m.run(key, async () => {
      log.push(`start ${label}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${label}`);
    });
  const failing = m.run('a', async () => {
    throw new Error('boom');
  });
  await Promise.all([step('a', 'a1', 20), step('a', 'a2', 1), step('b', 'b1', 5), failing.catch(() => undefined)]);
  assert.deepEqual([...log].sort(), ['end a1', 'end a2', 'end b1', 'start a1', 'start a2', 'start b1']);
  assert.ok(log.indexOf('end a1') < log.indexOf('start a2'));
  assert.ok(log.indexOf('start b1') < log.indexOf('end a1'));
  await m.idle();
});
