import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../../src/workers/batching/batcher.js';
import { JobQueue } from '../../../src/workers/batching/job-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('JobQueue is a bounded FIFO', () => {
  const q = new JobQueue<number>(3);
  assert.ok(q.push(1) && q.push(2) && q.push(3));
  assert.equal(q.push(4), false);
  assert.equal(q.remaining, 0);
  assert.deepEqual(q.take(2), [1, 2]);
  q.unshiftAll([1, 2]);
  assert.deepEqual(q.drain(), [1, 2, 3]);
  const big = new JobQueue<number>(5000);
  for (let i = 0; i < 5000; i++) assert.ok(big.push(i));
  assert.equal(big.shift(), 0);
  assert.equal(big.length, 4999);
  assert.throws(() => new JobQueue(0));
});

function setup(batchSize: number, delayMs: number, preferred?: (worker: string) => boolean) {
  const queue = new JobQueue<string>(100);
  const dispatched: { worker: string; jobs: string[]; at: number }[] = [];
  const taken: string[] = [];
  const batcher = new Batcher<string, string>({
    queue,
    batchSize: () => batchSize,
    maxBatchDelayMs: () => delayMs,
    dispatch: (worker, jobs) => dispatched.push({ worker, jobs, at: Date.now() }),
    onTake: (jobs) => taken.push(...jobs),
    ...(preferred !== undefined ? { preferred } : {}),
  });
  const add = (...jobs: string[]) => {
    for (const j of jobs) queue.push(j);
    batcher.jobAdded();
  };
  return { queue, batcher, dispatched, taken, add };
}

test('jobs already waiting are taken at once, up to batchSize', () => {
  const { batcher, dispatched, add, queue } = setup(3, 1000);
  add('a', 'b', 'c', 'd');
  batcher.workerIdle('w1');
  assert.deepEqual(dispatched, [{ worker: 'w1', jobs: ['a', 'b', 'c'], at: dispatched[0]!.at }]);
  assert.equal(queue.length, 1);
  batcher.close();
});

test('a partial batch waits for more jobs until it is full', async () => {
  const { batcher, dispatched, add } = setup(3, 500);
  batcher.workerIdle('w1');
  add('a');
  assert.equal(dispatched.length, 0);
  assert.ok(batcher.isAssembling);
  add('b');
  add('c');
  assert.deepEqual(dispatched.map((d) => d.jobs), [['a', 'b', 'c']]);
  batcher.close();
});

test('a partial batch goes after maxBatchDelay from its first job', async () => {
  const { batcher, dispatched, add } = setup(4, 60);
  batcher.workerIdle('w1');
  const start = Date.now();
  add('a');
  await sleep(20);
  add('b');
  await sleep(80);
  assert.deepEqual(dispatched.map((d) => d.jobs), [['a', 'b']]);
  const waited = dispatched[0]!.at - start;
  assert.ok(waited >= 55 && waited < 95, `waited ${waited} ms`);
});

test('one batch is assembled at a time; the next idle worker takes what follows', async () => {
  const { batcher, dispatched, add } = setup(2, 40);
  batcher.workerIdle('w1');
  batcher.workerIdle('w2');
  add('a', 'b', 'c');
  assert.deepEqual(dispatched.map((d) => [d.worker, d.jobs]), [['w1', ['a', 'b']]]);
  await sleep(70);
  assert.deepEqual(dispatched.map((d) => [d.worker, d.jobs]), [
    ['w1', ['a', 'b']],
    ['w2', ['c']],
  ]);
});

test('batchSize 1 or delay 0 never waits', () => {
  const a = setup(1, 1000);
  a.batcher.workerIdle('w');
  a.add('x');
  assert.equal(a.dispatched.length, 1);
  const b = setup(8, 0);
  b.batcher.workerIdle('w');
  b.add('x');
  assert.deepEqual(b.dispatched.map((d) => d.jobs), [['x']]);
});

test('a worker that goes away while assembling returns its jobs to the queue', () => {
  const { batcher, dispatched, add, queue } = setup(4, 1000);
  batcher.workerIdle('w1');
  add('a', 'b');
  batcher.workerGone('w1');
  assert.equal(queue.length, 2);
  batcher.workerIdle('w2');
  assert.ok(batcher.isAssembling);
  batcher.close();
  assert.deepEqual(queue.drain(), ['a', 'b']);
  assert.equal(dispatched.length, 0);
});

test('a preferred busy worker with room gets full batches before an idle worker is woken', () => {
  const awake = new Set<string>();
  const { batcher, dispatched, add } = setup(1, 1000, (w) => awake.has(w));
  batcher.workerIdle('w1');
  batcher.workerIdle('w2');
  add('a');
  assert.deepEqual(dispatched.map((d) => [d.worker, d.jobs]), [['w1', ['a']]]);
  // w1 is now busy, fast and has room: it takes the next jobs while w2 sleeps.
  awake.add('w1');
  batcher.workerHasRoom('w1');
  add('b');
  batcher.workerHasRoom('w1');
  add('c');
  assert.deepEqual(dispatched.map((d) => [d.worker, d.jobs]), [
    ['w1', ['a']],
    ['w1', ['b']],
    ['w1', ['c']],
  ]);
  // Full (no room offered again): the idle worker takes over.
  add('d');
  assert.deepEqual(dispatched.at(-1), { worker: 'w2', jobs: ['d'], at: dispatched.at(-1)!.at });
});

test('without a preference, or for a partial batch, idle workers come first', () => {
  const plain = setup(1, 1000);
  plain.batcher.workerIdle('w1');
  plain.batcher.workerIdle('w2');
  plain.add('a');
  plain.batcher.workerHasRoom('w1');
  plain.add('b');
  assert.deepEqual(plain.dispatched.map((d) => d.worker), ['w1', 'w2']);

  // batchSize 2: a preferred worker only gets full batches; one job starts assembling on w2.
  const partial = setup(2, 1000, () => true);
  partial.batcher.workerIdle('w1');
  partial.batcher.workerIdle('w2');
  partial.add('a', 'b');
  partial.batcher.workerHasRoom('w1');
  partial.add('c');
  assert.deepEqual(partial.dispatched.map((d) => [d.worker, d.jobs]), [['w1', ['a', 'b']]]);
  assert.ok(partial.batcher.isAssembling);
  partial.add('d');
  assert.deepEqual(partial.dispatched.map((d) => [d.worker, d.jobs]), [
    ['w1', ['a', 'b']],
    ['w2', ['c', 'd']],
  ]);
  partial.batcher.close();
});
