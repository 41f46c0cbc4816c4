/**
 * One loaded model version: its bounded job queue, the batcher and the worker pool.
 *
 *   submit ─▶ JobQueue (job_queue_size; full → 503 QueueFullError) ─▶ Batcher ─▶ idle worker
 *                       no worker at all → 503 NoWorkerError              │
 *   promise ◀── answer / InferenceError / WorkerDiedError ◀── WorkerPool ◀┘
 *
 * Workers that exist but are still loading (or restarting) do not cause 503: requests wait in
 * the queue (spec §8.4). Every promise settles: answered, failed by the pool (crash, timeout),
 * failed when the last worker goes away, or failed by close().
 */
import { NoWorkerError, QueueFullError, ServiceUnavailableError, WorkerStartError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MetricsSink } from '../metrics/types.js';
import { isBuiltinHandler } from '../handlers/names.js';
import { DEFAULT_MAX_RETRY_TIMEOUT_SEC, RESTART_BACKOFF_MS } from './backoff.js';
import { Batcher } from './batching/batcher.js';
import { JobQueue } from './batching/job-queue.js';
import { isBatchable } from './io.js';
import type { InferenceRequest, InferenceResponse, ModelIO, ModelRuntime, ModelSpec, ScaleResult, WorkerStatus } from './types.js';
import { WorkerPool, type Job, type WorkerSlot } from './worker-pool.js';

export type RuntimeOptions = {
  spec: ModelSpec;
  io: ModelIO;
  log: Logger;
  modelLog: Logger;
  metrics: MetricsSink;
  /** Engine-wide worker id counter ("9000", "9001", ...). */
  nextWorkerId: () => string;
  /** Restart back-off steps (default: backoff.ts). */
  backoffMs?: readonly number[];
  /** Called once close() starts (the engine forgets the runtime). */
  onClose?: () => void;
};

type Waiter = {
  min: number;
  resolve: (r: ScaleResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
};

function unloadingError(spec: ModelSpec): ServiceUnavailableError {
  return new ServiceUnavailableError(`Model "${spec.name}" Version "${spec.version}" is being unloaded`, 'MODEL_UNLOADING');
}

/** maxRetryTimeoutInSec from model_config.yaml (spec §9.4), else TorchServe's 300 s. */
function maxRetryTimeoutSec(spec: ModelSpec): number {
  const v = spec.modelYamlConfig.maxRetryTimeoutInSec;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : DEFAULT_MAX_RETRY_TIMEOUT_SEC;
}

export class ModelRuntimeImpl implements ModelRuntime {
  readonly io: ModelIO;
  private current: ModelSpec;
  private readonly log: Logger;
  private readonly metrics: MetricsSink;
  private readonly queue: JobQueue<Job>;
  private readonly batcher: Batcher<Job, WorkerSlot>;
  private readonly pool: WorkerPool;
  /** Built-in handlers on a model without a batch dimension run one request at a time. */
  private readonly perRequest: boolean;
  private readonly waiters = new Set<Waiter>();
  private drainWaiters: (() => void)[] = [];
  private closing: Promise<void> | undefined;
  private readonly onClose: (() => void) | undefined;

  constructor(opts: RuntimeOptions) {
    this.onClose = opts.onClose;
    this.current = Object.freeze({ ...opts.spec });
    this.io = opts.io;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.perRequest = !isBatchable(opts.io) && isBuiltinHandler(opts.spec.handler);
    this.queue = new JobQueue<Job>(Math.max(1, opts.spec.jobQueueSize));
    const batchSize = () => (this.perRequest ? 1 : this.current.batchSize);
    this.batcher = new Batcher<Job, WorkerSlot>({
      queue: this.queue,
      batchSize,
      maxBatchDelayMs: () => this.current.maxBatchDelayMs,
      dispatch: (slot, jobs) => this.pool.run(slot, jobs),
      onTake: (jobs) => this.taken(jobs),
      // Only slots with room are offered: for a fast one, its message is still being assembled.
      preferred: (slot) => slot.isPreferred,
    });
    this.pool = new WorkerPool({
      spec: () => this.current,
      batchSize,
      queuedRequests: () => this.queue.length,
      io: opts.io,
      log: opts.log,
      modelLog: opts.modelLog,
      metrics: opts.metrics,
      nextWorkerId: opts.nextWorkerId,
      backoffMs: opts.backoffMs ?? RESTART_BACKOFF_MS,
      maxRetryTimeoutMs: maxRetryTimeoutSec(opts.spec) * 1000,
      events: {
        onIdle: (slot) => this.batcher.workerIdle(slot),
        onRoom: (slot) => this.batcher.workerHasRoom(slot),
        onFull: (slot) => this.batcher.workerFull(slot),
        onRequeue: (jobs) => {
          this.queue.unshiftAll(jobs);
          this.batcher.jobAdded();
        },
        onGone: (slot) => this.batcher.workerGone(slot),
        onLoadFailed: (slot, message) => this.loadFailed(slot, message),
        onChange: () => this.changed(),
      },
    });
  }

  get spec(): ModelSpec {
    return this.current;
  }

  /** Starts minWorkers workers (without waiting for them). */
  start(): void {
    this.pool.add(this.current.minWorkers);
  }

  submit(req: InferenceRequest, opts?: { onDequeue?: (queueMicros: number) => void }): Promise<InferenceResponse> {
    const spec = this.current;
    if (this.closing !== undefined) return Promise.reject(unloadingError(spec));
    if (this.pool.healthyCount === 0) return Promise.reject(new NoWorkerError(spec.name, spec.version));
    return new Promise<InferenceResponse>((resolve, reject) => {
      const job: Job = { req, resolve, reject, enqueuedNs: process.hrtime.bigint() };
      if (opts?.onDequeue !== undefined) job.onDequeue = opts.onDequeue;
      // Jobs a worker holds behind its running batch count as queued (WorkerPool.waitingRequests).
      if (this.queue.length + this.pool.waitingRequests >= this.queue.capacity || !this.queue.push(job)) {
        reject(new QueueFullError(spec.name, spec.version, this.queue.capacity));
        return;
      }
      this.metrics.queueDepth(spec.name, spec.version, this.queue.length);
      this.batcher.jobAdded();
    });
  }

  private taken(jobs: readonly Job[]): void {
    const now = process.hrtime.bigint();
    for (const j of jobs) {
      if (j.onDequeue === undefined) continue;
      try {
        j.onDequeue(Number(now - j.enqueuedNs) / 1000);
      } catch (err) {
        this.log.warn({ err }, 'onDequeue callback failed');
      }
    }
    this.metrics.queueDepth(this.current.name, this.current.version, this.queue.length);
  }

  async scale(minWorkers: number, maxWorkers: number, wait: boolean): Promise<ScaleResult> {
    const spec = this.current;
    if (this.closing !== undefined) throw unloadingError(spec);
    if (!Number.isInteger(minWorkers) || !Number.isInteger(maxWorkers) || minWorkers < 0 || maxWorkers < minWorkers) {
      throw new RangeError(`invalid worker range min ${minWorkers} max ${maxWorkers}`);
    }
    this.current = Object.freeze({ ...spec, minWorkers, maxWorkers });
    this.pool.dropFailed();
    // TorchServe's WorkLoadManager#modelChanged: grow to minWorkers, shrink to maxWorkers.
    const active = this.pool.healthyCount;
    if (active < minWorkers) this.pool.add(minWorkers - active);
    else if (active > maxWorkers) this.pool.retire(active - maxWorkers);
    this.log.info({ model: spec.name, version: spec.version, minWorkers, maxWorkers }, 'scaling workers');
    this.changed();
    if (!wait || this.isScaled(minWorkers)) return this.scaleResult();
    return new Promise<ScaleResult>((resolve, reject) => {
      // Each worker has its own startup timer; this one only guards against a missed event.
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(this.startError(`workers not ready within startup_timeout (${this.current.startupTimeoutSec} s)`));
      }, (this.current.startupTimeoutSec + 5) * 1000);
      timer.unref();
      const waiter: Waiter = { min: minWorkers, resolve, reject, timer };
      this.waiters.add(waiter);
    });
  }

  private isScaled(min: number): boolean {
    return this.pool.readyCount >= min && this.pool.stoppingCount === 0;
  }

  private scaleResult(): ScaleResult {
    const ready = this.pool.readyCount;
    return { ready, complete: ready >= this.current.minWorkers };
  }

  private startError(message: string): WorkerStartError {
    const err = new WorkerStartError(this.current.name, this.current.version);
    (err as { cause?: unknown }).cause = new Error(message);
    return err;
  }

  private loadFailed(slot: WorkerSlot, message: string): void {
    this.log.error({ model: this.current.name, version: this.current.version, workerId: slot.id, reason: message }, 'worker failed to start');
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(this.startError(message));
    }
    this.waiters.clear();
  }

  /** After any pool change: settle scale waiters, fail the queue if nobody can serve it, drain. */
  private changed(): void {
    for (const w of this.waiters) {
      if (this.isScaled(w.min)) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve(this.scaleResult());
      }
    }
    if (this.pool.healthyCount === 0 && this.queue.length > 0 && !this.batcher.isAssembling) {
      const spec = this.current;
      const err = () => (this.closing !== undefined ? unloadingError(spec) : new NoWorkerError(spec.name, spec.version));
      for (const j of this.queue.drain()) j.reject(err());
      this.metrics.queueDepth(spec.name, spec.version, 0);
    }
    if (this.drainWaiters.length > 0 && this.isDrained()) {
      const list = this.drainWaiters;
      this.drainWaiters = [];
      for (const done of list) done();
    }
  }

  private isDrained(): boolean {
    return this.queue.length === 0 && this.pool.busyCount === 0 && !this.batcher.isAssembling;
  }

  workers(): WorkerStatus[] {
    const slots = this.pool.slots;
    const live = slots.filter((s) => s.thread !== undefined).length;
    // Threads share the process: attribute an equal share of the resident set to each.
    const share = live > 0 ? Math.round(process.memoryUsage.rss() / live) : 0;
    return slots.map((s) => ({
      id: s.id,
      startTime: s.startTime,
      // TorchServe shows READY or UNLOADING; STARTING while the model loads (beyond TorchServe).
      state: s.state === 'STARTING' ? 'STARTING' : s.isReady ? 'READY' : 'UNLOADING',
      memoryUsage: s.thread !== undefined ? share : 0,
      restarts: s.restarts,
    }));
  }

  queueStatus(): { remainingCapacity: number; pendingRequests: number } {
    const pending = this.queue.length + this.pool.waitingRequests;
    return { remainingCapacity: Math.max(0, this.queue.capacity - pending), pendingRequests: pending };
  }

  isHealthy(): boolean {
    return this.pool.healthyCount >= this.current.minWorkers;
  }

  close(timeoutMs: number): Promise<void> {
    if (this.closing === undefined) this.onClose?.();
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const spec = this.current;
    if (!this.isDrained() && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        this.drainWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
        this.changed();
      });
    }
    this.drainWaiters = [];
    this.batcher.close();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(unloadingError(spec));
    }
    this.waiters.clear();
    const stopped = this.pool.close();
    // After pool.close() put back the batches workers held but had not started.
    for (const j of this.queue.drain()) j.reject(unloadingError(spec));
    this.metrics.queueDepth(spec.name, spec.version, 0);
    await stopped;
    this.log.info({ model: spec.name, version: spec.version }, 'model runtime closed');
  }
}
