/**
 * The worker threads of one model version. Each slot keeps its id across restarts (TorchServe
 * keeps a worker's port) and moves through:
 *
 *   STARTING ──ready──▶ IDLE ◀──result──▶ BUSY
 *      │                 │                  │ crash / response timeout
 *      │ load failed,    │ crash            ▼
 *      │ startup timeout └───────────▶ BACKOFF ──delay──▶ STARTING   (Fibonacci, backoff.ts)
 *      └─────────────────────────────────▲   │ failing > maxRetryTimeoutInSec
 *                                            ▼
 *                                          FAILED (stays; /ping turns Unhealthy)
 *   any ──retire──▶ STOPPING (a BUSY slot first finishes its batches) ──exit──▶ removed
 *
 * Pipelining and coalescing: a postMessage wakes the other thread, which costs as much as
 * running a small model, so a fast worker (batches under FAST_BATCH_MILLIS) gets its work in as
 * few messages as possible: the batches dispatched to it in one event-loop turn travel in one
 * message (up to MAX_REQUESTS_PER_MESSAGE requests, at least one batch; worker-thread.ts), and it
 * is given nothing more until it has answered that message — meanwhile jobs wait in the queue and
 * the next message carries all of them. It gets work before an idle worker is woken only until
 * its message holds WAKE_AFTER_REQUESTS requests; then the workers share the work. A slow worker
 * holds one batch more than it runs (SLOW_BATCHES_PER_WORKER), so it never waits for a message
 * round trip between batches. Each batch still runs as its own handler batch (built-in handlers
 * run a message's batches as one, worker-main.ts). The response timeout of a batch starts when
 * it becomes the head.
 *
 * The pool settles every job it was handed: with the worker's answer, or WorkerDiedError when
 * the thread dies or the response timeout passes while the batch runs. Batches queued behind it
 * had not started: they go back to the front of the job queue.
 */
import { WorkerDiedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MetricsSink } from '../metrics/types.js';
import { restartDelayMs } from './backoff.js';
import { inferenceErrorFromWire } from './inference-error.js';
import type { LogLevel, WireResult } from './messages.js';
import type { InferenceRequest, InferenceResponse, ModelIO, ModelSpec } from './types.js';
import { WorkerThread } from './worker-thread.js';

export type Job = {
  req: InferenceRequest;
  resolve: (res: InferenceResponse) => void;
  reject: (err: Error) => void;
  /** process.hrtime.bigint() when queued. */
  enqueuedNs: bigint;
  onDequeue?: (queueMicros: number) => void;
};

export type SlotState = 'STARTING' | 'IDLE' | 'BUSY' | 'STOPPING' | 'BACKOFF' | 'FAILED';

/** What sizes a fast slot's message: requests per batch, and requests per message now. */
export type SlotSizing = { batchSize: () => number; messageRequests: () => number };

type InFlight = { id: number; jobs: Job[]; timer: NodeJS.Timeout | undefined; sentNs: bigint };

/**
 * Requests a fast worker may get in one message (at least one batch): an even share of the
 * requests in the engine (queued or held by workers) per ready worker, so one worker never runs
 * the lot while another idles, between WAKE_AFTER_REQUESTS and this bound (which limits how long
 * answers that are ready wait for the rest of their message).
 */
export const MAX_REQUESTS_PER_MESSAGE = 32;
/**
 * A fast worker whose message is being assembled gets new work before an idle worker is woken
 * (a wake-up costs more than a small model's run) only until its message holds this many
 * requests; then the idle workers are woken and share the rest (batcher.ts), so one worker never
 * runs the lot while the others idle.
 */
export const WAKE_AFTER_REQUESTS = 8;
/** Batches a worker may hold otherwise (and before its first answer): the one it runs plus one. */
export const SLOW_BATCHES_PER_WORKER = 2;
/** Below this average handler time per batch, a worker counts as fast. */
export const FAST_BATCH_MILLIS = 2;

export class WorkerSlot {
  readonly id: string;
  readonly log: Logger;
  startTime = new Date();
  restarts = 0;
  state: SlotState = 'STARTING';
  thread: WorkerThread | undefined;
  /** Batches sent and not yet answered, in the order the worker runs them. */
  inflight: InFlight[] = [];
  /** Consecutive failures since the last successful load (picks the back-off step). */
  failures = 0;
  failingSinceMs: number | undefined;
  /** Scale-down: stop after the current batch. */
  retiring = false;
  /** Startup-timeout or restart timer. */
  timer: NodeJS.Timeout | undefined;
  /** Moving average of the handler time of this thread's batches (undefined before the first). */
  batchMillis: number | undefined;

  /** Sizes a fast slot's message; read on every check. */
  private readonly sizing: SlotSizing;

  constructor(id: string, log: Logger, sizing: SlotSizing = { batchSize: () => 1, messageRequests: () => MAX_REQUESTS_PER_MESSAGE }) {
    this.id = id;
    this.log = log;
    this.sizing = sizing;
  }

  /** Batches this slot may hold now (see MAX_REQUESTS_PER_MESSAGE, SLOW_BATCHES_PER_WORKER). */
  get capacity(): number {
    if (!this.isFast) return SLOW_BATCHES_PER_WORKER;
    return Math.max(1, Math.floor(this.sizing.messageRequests() / Math.max(1, this.sizing.batchSize())));
  }

  /**
   * Its batches run in under FAST_BATCH_MILLIS. A fast slot with room holds batches not yet
   * posted, so more work for it joins the same message and costs no wake-up (the batcher
   * prefers it to an idle worker, batcher.ts).
   */
  get isFast(): boolean {
    return this.batchMillis !== undefined && this.batchMillis < FAST_BATCH_MILLIS;
  }

  /** Requests in the batches it holds. */
  get heldRequests(): number {
    let n = 0;
    for (const b of this.inflight) n += b.jobs.length;
    return n;
  }

  /** Awake and filling a message: gets work before an idle worker is woken (WAKE_AFTER_REQUESTS). */
  get isPreferred(): boolean {
    return this.isFast && this.heldRequests < WAKE_AFTER_REQUESTS;
  }

  /** Can take a batch besides the ones it holds (see the module comment). */
  get hasRoom(): boolean {
    if (this.inflight.length >= this.capacity) return false;
    return !this.isFast || (this.thread?.pendingBatches ?? 0) > 0;
  }

  /** Loaded and serving (not stopping). */
  get isReady(): boolean {
    return (this.state === 'IDLE' || this.state === 'BUSY') && !this.retiring;
  }

  /** Counts toward minWorkers for /ping (TorchServe: healthy unless failing past the retry window). */
  get isHealthy(): boolean {
    return this.state !== 'FAILED' && this.state !== 'STOPPING' && !this.retiring;
  }
}

export type PoolEvents = {
  /** The slot can take a batch. */
  onIdle(slot: WorkerSlot): void;
  /** The slot is busy but can hold one more full batch. */
  onRoom(slot: WorkerSlot): void;
  /** The slot is busy and takes nothing more until it answers. */
  onFull(slot: WorkerSlot): void;
  /** Jobs sent to a worker that died before starting them: back to the queue front. */
  onRequeue(jobs: Job[]): void;
  /** The slot can no longer take work (crashed, stopping). */
  onGone(slot: WorkerSlot): void;
  /** A slot failed to load (load error, crash while loading, startup timeout). */
  onLoadFailed(slot: WorkerSlot, message: string): void;
  /** Anything changed: a slot became ready, failed, was removed, or finished a batch. */
  onChange(): void;
};

export type PoolOptions = {
  spec: () => ModelSpec;
  /** Requests per batch as the batcher forms them. */
  batchSize: () => number;
  /** Requests waiting in the job queue. */
  queuedRequests: () => number;
  io: ModelIO;
  log: Logger;
  modelLog: Logger;
  metrics: MetricsSink;
  nextWorkerId: () => string;
  backoffMs: readonly number[];
  maxRetryTimeoutMs: number;
  events: PoolEvents;
};

const LOG_LEVELS: Record<LogLevel, 'debug' | 'info' | 'warn' | 'error'> = { debug: 'debug', info: 'info', warn: 'warn', error: 'error' };

export class WorkerPool {
  private readonly opts: PoolOptions;
  private readonly list: WorkerSlot[] = [];
  private batchSeq = 0;
  private closed = false;

  constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  get slots(): readonly WorkerSlot[] {
    return this.list;
  }

  /** Slots that serve or will serve (not failed for good, not stopping). */
  get healthyCount(): number {
    let n = 0;
    for (const s of this.list) if (s.isHealthy) n++;
    return n;
  }

  /**
   * Requests workers hold behind the batch each runs (pipelined, or in a fast worker's message):
   * TorchServe's workers take one batch at a time, so it would still have these in its queue.
   * The runtime counts them against job_queue_size.
   */
  get waitingRequests(): number {
    let n = 0;
    for (const s of this.list) for (let i = 1; i < s.inflight.length; i++) n += s.inflight[i]!.jobs.length;
    return n;
  }

  get readyCount(): number {
    return this.list.filter((s) => s.isReady).length;
  }

  get busyCount(): number {
    return this.list.filter((s) => s.inflight.length > 0).length;
  }

  get stoppingCount(): number {
    return this.list.filter((s) => s.state === 'STOPPING' || s.retiring).length;
  }

  private readonly sizing: SlotSizing = {
    batchSize: () => this.opts.batchSize(),
    messageRequests: () => this.messageRequests(),
  };

  /** A fast worker's message limit now (MAX_REQUESTS_PER_MESSAGE). */
  private messageRequests(): number {
    let held = 0;
    let ready = 0;
    for (const s of this.list) {
      held += s.heldRequests;
      if (s.isReady) ready++;
    }
    const share = Math.ceil((held + this.opts.queuedRequests()) / Math.max(1, ready));
    return Math.min(MAX_REQUESTS_PER_MESSAGE, Math.max(WAKE_AFTER_REQUESTS, share));
  }

  private workerName(slot: WorkerSlot): string {
    const spec = this.opts.spec();
    return `W-${slot.id}-${spec.name}_${spec.version}`;
  }

  /** Starts `n` new workers. */
  add(n: number): void {
    for (let i = 0; i < n && !this.closed; i++) {
      const id = this.opts.nextWorkerId();
      const spec = this.opts.spec();
      const slot = new WorkerSlot(id, this.opts.modelLog.child({ model: spec.name, version: spec.version, workerId: id }), this.sizing);
      this.list.push(slot);
      this.start(slot);
    }
  }

  /** Removes slots that gave up, so a scale call can replace them. */
  dropFailed(): void {
    for (const s of this.list.filter((x) => x.state === 'FAILED')) this.remove(s);
  }

  /** Stops `n` workers: failed and restarting ones first, then loading, idle, busy; newest first. */
  retire(n: number): WorkerSlot[] {
    const rank: Record<SlotState, number> = { FAILED: 0, BACKOFF: 1, STARTING: 2, IDLE: 3, BUSY: 4, STOPPING: 9 };
    const candidates = this.list
      .filter((s) => s.state !== 'STOPPING' && !s.retiring)
      .map((s, i) => ({ s, i }))
      .sort((a, b) => rank[a.s.state] - rank[b.s.state] || b.i - a.i)
      .slice(0, n)
      .map((x) => x.s);
    for (const s of candidates) this.stop(s);
    return candidates;
  }

  private start(slot: WorkerSlot): void {
    const spec = this.opts.spec();
    slot.state = 'STARTING';
    // Describe's startTime is when the current thread started, so a restart is visible there
    // (TorchServe's restarted worker shows a new pid; threads share the server's).
    slot.startTime = new Date();
    slot.timer = undefined;
    const thread: WorkerThread = new WorkerThread(
      { mode: 'serve', workerId: slot.id, spec, io: this.opts.io },
      {
        onReady: (_io, loadMillis) => {
          if (slot.thread === thread) this.ready(slot, loadMillis);
        },
        onLoadFailed: (message, stack) => {
          if (slot.thread !== thread) return;
          slot.log.error({ err: { message, stack } }, 'worker failed to load the model');
          this.loadFailed(slot, message);
        },
        onResult: (batchId, results, handlerMillis) => {
          if (slot.thread === thread) this.result(slot, batchId, results, handlerMillis);
        },
        onPosted: () => {
          if (slot.thread === thread && slot.inflight.length > 0 && !slot.hasRoom) this.opts.events.onFull(slot);
        },
        onLog: (level, msg, stream, reqId) => {
          slot.log[LOG_LEVELS[level]]({ worker: this.workerName(slot), ...(stream !== undefined ? { stream } : {}), ...(reqId !== undefined ? { reqId } : {}) }, msg);
        },
        onExit: (code, error) => {
          if (slot.thread === thread) this.exited(slot, code, error);
        },
      },
    );
    slot.thread = thread;
    const timeoutMs = spec.startupTimeoutSec * 1000;
    slot.timer = setTimeout(() => {
      if (slot.thread !== thread || slot.state !== 'STARTING') return;
      const message = `worker did not load the model within startup_timeout (${spec.startupTimeoutSec} s)`;
      slot.log.error(message);
      this.loadFailed(slot, message);
    }, timeoutMs);
    slot.timer.unref();
  }

  private ready(slot: WorkerSlot, loadMillis: number): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    if (slot.failingSinceMs !== undefined) this.opts.log.info({ workerId: slot.id }, 'Auto recovery succeeded, reset recoveryStartTS');
    slot.failures = 0;
    slot.failingSinceMs = undefined;
    slot.state = 'IDLE';
    slot.inflight = [];
    slot.batchMillis = undefined;
    this.opts.metrics.workerLoaded(this.workerName(slot), loadMillis);
    const spec = this.opts.spec();
    this.opts.log.info({ model: spec.name, version: spec.version, workerId: slot.id, loadMillis: Math.round(loadMillis) }, 'worker ready');
    if (slot.retiring) {
      this.stop(slot);
    } else {
      this.opts.events.onIdle(slot);
    }
    this.opts.events.onChange();
  }

  /** Sends a batch to a slot that is idle or has room (see WorkerSlot.capacity). */
  run(slot: WorkerSlot, jobs: Job[]): void {
    const thread = slot.thread;
    if ((slot.state !== 'IDLE' && slot.state !== 'BUSY') || thread === undefined || (slot.inflight.length > 0 && !slot.hasRoom)) {
      // Cannot happen while the batcher only dispatches to slots that asked; never drop jobs.
      this.opts.events.onRequeue(jobs);
      return;
    }
    const id = ++this.batchSeq;
    slot.state = 'BUSY';
    const batch: InFlight = { id, jobs, timer: undefined, sentNs: process.hrtime.bigint() };
    slot.inflight.push(batch);
    if (slot.inflight.length === 1) this.startTimer(slot, batch);
    thread.run(
      id,
      jobs.map((j) => j.req),
      (err) => this.sendFailed(slot, thread, batch, err),
    );
    this.offerWork(slot);
  }

  /** A batch could not be sent (wire.ts or postMessage refused its data): fail its jobs, keep the worker. */
  private sendFailed(slot: WorkerSlot, thread: WorkerThread, batch: InFlight, err: unknown): void {
    if (slot.thread !== thread || !slot.inflight.includes(batch)) return;
    clearTimeout(batch.timer);
    const wasHead = slot.inflight[0] === batch;
    slot.inflight = slot.inflight.filter((b) => b !== batch);
    if (slot.inflight.length === 0) slot.state = 'IDLE';
    else if (wasHead) this.startTimer(slot, slot.inflight[0]!);
    slot.log.error({ err }, 'could not send a batch to the worker');
    for (const j of batch.jobs) j.reject(new WorkerDiedError());
    if (slot.inflight.length === 0 && slot.retiring) this.stop(slot);
    this.offerWork(slot);
    this.opts.events.onChange();
  }

  private startTimer(slot: WorkerSlot, batch: InFlight): void {
    const spec = this.opts.spec();
    batch.timer = setTimeout(() => this.timedOut(slot, batch.id), spec.responseTimeoutSec * 1000);
    batch.timer.unref();
  }

  /** Tells the batcher what the slot can take now. */
  private offerWork(slot: WorkerSlot): void {
    if (slot.retiring || slot.thread === undefined) return;
    if (slot.inflight.length === 0) this.opts.events.onIdle(slot);
    else if (slot.hasRoom) this.opts.events.onRoom(slot);
  }

  private result(slot: WorkerSlot, batchId: number, results: WireResult[], handlerMillis: number): void {
    const batch = slot.inflight[0];
    if (batch === undefined || batch.id !== batchId) return;
    clearTimeout(batch.timer);
    slot.inflight.shift();
    const next = slot.inflight[0];
    if (next !== undefined) this.startTimer(slot, next);
    slot.batchMillis = slot.batchMillis === undefined ? handlerMillis : 0.8 * slot.batchMillis + 0.2 * handlerMillis;
    batch.jobs.forEach((job, i) => {
      const r = results[i];
      if (r === undefined) job.reject(new WorkerDiedError());
      else if (r.ok) job.resolve(r.response);
      else job.reject(inferenceErrorFromWire(r.error));
    });
    const spec = this.opts.spec();
    const totalMillis = Number(process.hrtime.bigint() - batch.sentNs) / 1e6;
    this.opts.metrics.batchRun(spec.name, spec.version, batch.jobs.length, handlerMillis, Math.max(0, totalMillis - handlerMillis));
    if (slot.inflight.length === 0) {
      slot.state = 'IDLE';
      if (slot.retiring) this.stop(slot);
    }
    this.offerWork(slot);
    this.opts.events.onChange();
  }

  private timedOut(slot: WorkerSlot, batchId: number): void {
    if (slot.inflight[0]?.id !== batchId) return;
    const spec = this.opts.spec();
    slot.log.error({ responseTimeoutSec: spec.responseTimeoutSec }, 'worker did not answer within response_timeout; restarting it');
    this.fail(slot);
  }

  private exited(slot: WorkerSlot, code: number, error?: Error): void {
    const wasLoading = slot.state === 'STARTING';
    slot.log.error({ code, ...(error !== undefined ? { err: error } : {}) }, 'Worker disconnected');
    if (wasLoading) {
      this.loadFailed(slot, error?.message ?? `worker exited with code ${code} while loading`);
      return;
    }
    this.fail(slot);
  }

  private loadFailed(slot: WorkerSlot, message: string): void {
    this.opts.events.onLoadFailed(slot, message);
    this.fail(slot);
  }

  /** Ends the slot's thread, fails its batch, and schedules a restart (or gives up). */
  private fail(slot: WorkerSlot): void {
    const thread = slot.thread;
    slot.thread = undefined;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    void thread?.terminate();
    // Leave the batcher first, so jobs put back by failBatch are not offered to this slot again.
    this.opts.events.onGone(slot);
    this.failBatch(slot);
    if (slot.retiring || this.closed) {
      this.remove(slot);
      return;
    }
    const now = Date.now();
    slot.failures++;
    slot.failingSinceMs ??= now;
    if (slot.failures === 1) this.opts.log.info({ workerId: slot.id, timestamp: now }, `Auto recovery start timestamp: ${now}`);
    if (now - slot.failingSinceMs > this.opts.maxRetryTimeoutMs) {
      slot.state = 'FAILED';
      this.opts.log.error({ workerId: slot.id }, 'Auto recovery failed again');
      this.opts.events.onChange();
      return;
    }
    const delay = restartDelayMs(slot.failures, this.opts.backoffMs);
    slot.state = 'BACKOFF';
    this.opts.log.info({ workerId: slot.id, delayMs: delay }, `Retry worker: ${slot.id} in ${delay / 1000} seconds.`);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.closed || slot.state !== 'BACKOFF') return;
      slot.restarts++;
      const spec = this.opts.spec();
      this.opts.metrics.workerRestart(spec.name, spec.version);
      this.start(slot);
    }, delay);
    // Not unref'd: with the thread gone, this timer is what keeps queued requests' promise of an
    // answer alive (it is cleared on close()).
    this.opts.events.onChange();
  }

  /** The running batch fails with WorkerDiedError; batches queued behind it go back to the queue. */
  private failBatch(slot: WorkerSlot): void {
    const [running, ...waiting] = slot.inflight;
    slot.inflight = [];
    if (running === undefined) return;
    clearTimeout(running.timer);
    for (const j of running.jobs) j.reject(new WorkerDiedError());
    const jobs = waiting.flatMap((b) => b.jobs);
    if (jobs.length > 0) this.opts.events.onRequeue(jobs);
  }

  /** Graceful stop: a busy slot finishes its batch first. */
  private stop(slot: WorkerSlot): void {
    if (slot.state === 'BUSY') {
      // Finish what it holds, take nothing new.
      slot.retiring = true;
      this.opts.events.onGone(slot);
      return;
    }
    slot.retiring = true;
    slot.state = 'STOPPING';
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const thread = slot.thread;
    slot.thread = undefined;
    this.opts.events.onGone(slot);
    if (thread === undefined) {
      this.remove(slot);
      return;
    }
    void thread.terminate().then(() => this.remove(slot));
    this.opts.events.onChange();
  }

  private remove(slot: WorkerSlot): void {
    const i = this.list.indexOf(slot);
    if (i >= 0) this.list.splice(i, 1);
    this.opts.events.onChange();
  }

  /** Terminates every thread now; running batches fail with WorkerDiedError, unstarted ones are requeued. */
  async close(): Promise<void> {
    this.closed = true;
    const threads: Promise<void>[] = [];
    for (const slot of [...this.list]) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.state = 'STOPPING';
      const thread = slot.thread;
      slot.thread = undefined;
      // The running batch fails; batches that never started go back to the queue (the runtime
      // answers them as unloaded).
      this.failBatch(slot);
      if (thread !== undefined) threads.push(thread.terminate());
    }
    await Promise.all(threads);
    this.list.length = 0;
  }
}
