import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RESTART_BACKOFF_MS, restartDelayMs } from '../../../src/workers/backoff.js';
import { defaultWorkerLayout } from '../../../src/workers/thread-defaults.js';

const MB = 1024 * 1024;

test('defaultWorkerLayout table', () => {
  const rows: [number, number, number, number][] = [
    // cpus, model MB, workers, intra-op threads
    [1, 0.4, 1, 1],
    [2, 0.4, 2, 1], // mlp on 2 cores: 2 workers x 1 thread
    [2, 0.0001, 2, 1], // add
    [2, 46.7, 1, 2], // resnet18 on 2 cores: 1 worker x 2 threads
    [4, 0.4, 4, 1],
    [4, 46.7, 1, 4],
    [8, 0.4, 4, 1],
    [8, 46.7, 2, 4],
    [16, 46.7, 4, 4],
    [64, 46.7, 4, 16],
    [64, 19.9, 4, 1],
  ];
  for (const [cpuCount, mb, workers, intraOpNumThreads] of rows) {
    const got = defaultWorkerLayout({ cpuCount, modelBytes: mb * MB });
    assert.deepEqual(got, { workers, intraOpNumThreads }, `${cpuCount} cpus, ${mb} MB`);
    assert.ok(got.workers * got.intraOpNumThreads <= Math.max(1, cpuCount), 'never more ORT threads than cores');
  }
  assert.deepEqual(defaultWorkerLayout({ cpuCount: 0, modelBytes: 0 }), { workers: 1, intraOpNumThreads: 1 });
});

test('restart back-off: at once, then Fibonacci seconds, capped', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => restartDelayMs(n)), [0, 1000, 1000, 2000, 3000, 5000]);
  assert.equal(restartDelayMs(100), 1597_000);
  assert.equal(RESTART_BACKOFF_MS.at(-1), 1597_000);
  assert.equal(restartDelayMs(5, [0, 10]), 10);
});
