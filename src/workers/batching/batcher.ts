/**
 * Dynamic batching (spec §8.5, TorchServe's Model#pollBatch). Idle workers line up; the first
 * one takes up to `batchSize` queued jobs. If that is fewer than batchSize it keeps collecting
 * until the batch is full or `maxBatchDelayMs` passed since its first job, then dispatches.
 * Jobs already waiting are taken at once. Only one batch is assembled at a time (TorchServe
 * holds a lock while polling), so other idle workers wait their turn.
 *
 * A busy worker with room (worker-pool.ts pipelining) is only given *full* batches, and only
 * when no idle worker wants them: batches are never made smaller to keep a worker fed. The
 * exception is a worker the pool marks `preferred` (a fast one that is awake anyway): it gets
 * full batches before idle workers do, because waking an idle thread costs more than the small
 * model it would run; idle workers are woken once no worker is preferred any more (the pool
 * stops preferring a worker once its message holds enough), and then the awake workers with room
 * take full batches in turn.
 *
 *   queue ──take──▶ [assembling: worker W, jobs j1..jk, timer] ──full or delay──▶ dispatch(W, jobs)
 *     ▲                                                                │
 *     └──────────── jobs put back if W disappears while assembling ◀───┘
 */
import type { JobQueue } from './job-queue.js';

export type BatcherOptions<J, W> = {
  queue: JobQueue<J>;
  /** Read on every batch, so scaling or config changes apply to the next batch. */
  batchSize: () => number;
  maxBatchDelayMs: () => number;
  /** Hands a batch to a worker (the worker is no longer idle). */
  dispatch: (worker: W, jobs: J[]) => void;
  /** Called when jobs leave the queue (for queue-time metrics). */
  onTake?: (jobs: readonly J[]) => void;
  /** A busy worker with room that should get full batches before idle workers (see above). */
  preferred?: (worker: W) => boolean;
};

type Assembly<J, W> = { worker: W; jobs: J[]; timer: NodeJS.Timeout };

export class Batcher<J, W> {
  private readonly opts: BatcherOptions<J, W>;
  private idle: W[] = [];
  /** Busy workers that can hold one more full batch. */
  private room: W[] = [];
  private assembling: Assembly<J, W> | undefined;
  private closed = false;

  constructor(opts: BatcherOptions<J, W>) {
    this.opts = opts;
  }

  /** Workers waiting for work (including the one assembling a batch). */
  get idleCount(): number {
    return this.idle.length + (this.assembling !== undefined ? 1 : 0);
  }

  /** True while a batch is being collected (its jobs are out of the queue but not running). */
  get isAssembling(): boolean {
    return this.assembling !== undefined;
  }

  workerIdle(worker: W): void {
    this.room = this.room.filter((w) => w !== worker);
    if (this.closed || this.idle.includes(worker) || this.assembling?.worker === worker) return;
    this.idle.push(worker);
    this.pump();
  }

  /** The worker is busy but can take one more full batch. */
  workerHasRoom(worker: W): void {
    if (this.closed || this.room.includes(worker) || this.idle.includes(worker) || this.assembling?.worker === worker) return;
    this.room.push(worker);
    this.pump();
  }

  /** The busy worker takes nothing more until it is idle or offers room again. */
  workerFull(worker: W): void {
    this.room = this.room.filter((w) => w !== worker);
  }

  /** The worker stops or died: forget it; a batch being assembled for it goes back to the queue. */
  workerGone(worker: W): void {
    this.idle = this.idle.filter((w) => w !== worker);
    this.room = this.room.filter((w) => w !== worker);
    const a = this.assembling;
    if (a !== undefined && a.worker === worker) {
      clearTimeout(a.timer);
      this.assembling = undefined;
      this.opts.queue.unshiftAll(a.jobs);
      this.pump();
    }
  }

  jobAdded(): void {
    this.pump();
  }

  /** Stops dispatching; a batch being assembled goes back to the queue. */
  close(): void {
    this.closed = true;
    const a = this.assembling;
    if (a !== undefined) {
      clearTimeout(a.timer);
      this.assembling = undefined;
      this.opts.queue.unshiftAll(a.jobs);
    }
    this.idle = [];
    this.room = [];
  }

  private take(n: number): J[] {
    const jobs = this.opts.queue.take(n);
    if (jobs.length > 0) this.opts.onTake?.(jobs);
    return jobs;
  }

  private flush(): void {
    const a = this.assembling;
    if (a === undefined) return;
    clearTimeout(a.timer);
    this.assembling = undefined;
    this.opts.dispatch(a.worker, a.jobs);
    this.pump();
  }

  private pump(): void {
    if (this.closed) return;
    const { queue } = this.opts;
    const a = this.assembling;
    if (a !== undefined) {
      const size = Math.max(1, this.opts.batchSize());
      if (a.jobs.length < size && queue.length > 0) a.jobs.push(...this.take(size - a.jobs.length));
      if (a.jobs.length >= size) this.flush();
      return;
    }
    const preferred = this.opts.preferred;
    while (this.idle.length > 0 && queue.length > 0) {
      const size = Math.max(1, this.opts.batchSize());
      const awake = preferred !== undefined && queue.length >= size ? this.room.findIndex((w) => preferred(w)) : -1;
      if (awake >= 0) {
        // Dispatching may offer the worker again (workerHasRoom), so take it out first.
        const [worker] = this.room.splice(awake, 1);
        this.opts.dispatch(worker!, this.take(size));
        continue;
      }
      const worker = this.idle.shift()!;
      const jobs = this.take(size);
      const delay = this.opts.maxBatchDelayMs();
      if (jobs.length < size && delay > 0) {
        const timer = setTimeout(() => this.flush(), delay);
        timer.unref();
        this.assembling = { worker, jobs, timer };
        return;
      }
      this.opts.dispatch(worker, jobs);
    }
    if (this.idle.length > 0) return;
    const size = Math.max(1, this.opts.batchSize());
    while (this.room.length > 0 && queue.length >= size) {
      this.opts.dispatch(this.room.shift()!, this.take(size));
    }
  }
}
