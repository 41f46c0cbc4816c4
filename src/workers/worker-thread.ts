/**
 * Main-thread handle of one worker thread (worker-main.ts on the other side). Turns the
 * Worker's events into callbacks and guarantees `onExit` is called exactly once.
 */
import { Worker } from 'node:worker_threads';
import type { FromWorker, LogLevel, RunBatch, ToWorker, WireResult, WorkerInit } from './messages.js';
import { createGuardBuffer, waitForNativeCalls } from './native-guard.js';
import type { InferenceRequest, ModelIO } from './types.js';
import { decodeResults, encodeRun } from './wire.js';

export const WORKER_ENTRY = new URL('./worker-main.js', import.meta.url);

export type WorkerThreadEvents = {
  onReady?(io: ModelIO, loadMillis: number): void;
  onLoadFailed?(message: string, stack?: string): void;
  onInspected?(io: ModelIO): void;
  onInspectFailed?(message: string): void;
  onResult?(batchId: number, results: WireResult[], handlerMillis: number): void;
  /** The batches queued by run() went out (or failed to). */
  onPosted?(): void;
  /** `reqId`: the batch's request ids (comma-separated) when logged while running one. */
  onLog?(level: LogLevel, msg: string, stream?: 'stdout' | 'stderr', reqId?: string): void;
  /** The thread ended (any reason). `error` is an uncaught error that ended it, if any. */
  onExit?(code: number, error?: Error): void;
};

/** What the caller describes; the guard buffer is added here. */
export type WorkerThreadInit = WorkerInit extends infer T ? (T extends unknown ? Omit<T, 'guard'> : never) : never;

export class WorkerThread {
  private readonly worker: Worker;
  private readonly guard = createGuardBuffer();
  private terminating: Promise<void> | undefined;
  private exited = false;
  private error: Error | undefined;
  private readonly exitPromise: Promise<void>;
  private pending: { batch: RunBatch; onSendFailed: ((err: unknown) => void) | undefined }[] = [];
  private flushing: NodeJS.Immediate | undefined;

  private readonly events: WorkerThreadEvents;

  constructor(init: WorkerThreadInit, events: WorkerThreadEvents) {
    this.events = events;
    const data: WorkerInit = { ...init, guard: this.guard } as WorkerInit;
    this.worker = new Worker(WORKER_ENTRY, { workerData: data, stdout: true, stderr: true });
    const w = this.worker;
    w.on('message', (m: FromWorker) => {
      switch (m.kind) {
        case 'ready':
          events.onReady?.(m.io, m.loadMillis);
          break;
        case 'load-failed':
          events.onLoadFailed?.(m.message, m.stack);
          break;
        case 'inspected':
          events.onInspected?.(m.io);
          break;
        case 'inspect-failed':
          events.onInspectFailed?.(m.message);
          break;
        case 'results':
          for (const b of decodeResults(m)) events.onResult?.(b.batchId, b.results, b.handlerMillis);
          break;
        case 'log':
          events.onLog?.(m.level, m.stack !== undefined ? `${m.msg}\n${m.stack}` : m.msg, m.stream, m.reqId);
          break;
      }
    });
    // Output written to process.stdout/stderr directly (not through console) arrives here.
    const lines = (stream: 'stdout' | 'stderr', level: LogLevel) => {
      let rest = '';
      const src = stream === 'stdout' ? w.stdout : w.stderr;
      src.setEncoding('utf8');
      src.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? '';
        for (const line of parts) if (line !== '') events.onLog?.(level, line, stream);
      });
      src.on('end', () => {
        if (rest !== '') events.onLog?.(level, rest, stream);
      });
    };
    lines('stdout', 'info');
    lines('stderr', 'warn');
    w.on('error', (err) => {
      this.error = err;
    });
    this.exitPromise = new Promise((resolve) => {
      w.on('exit', (code) => {
        this.exited = true;
        if (this.flushing !== undefined) clearImmediate(this.flushing);
        this.flushing = undefined;
        this.pending = [];
        events.onExit?.(code, this.error);
        resolve();
      });
    });
  }

  get threadId(): number {
    return this.worker.threadId;
  }

  get isAlive(): boolean {
    return !this.exited;
  }

  /**
   * Queues a batch for the worker; large request bodies are transferred (the caller must not use
   * them afterwards), small ones copied into the message (wire.ts). Batches queued in the same
   * event-loop turn go out together in one message, at the end of the turn: a postMessage wakes
   * the worker thread, which costs as much as running a small model, so under load one wake-up
   * serves every batch dispatched meanwhile. The worker still runs and answers each batch on its
   * own. `onSendFailed` is called (later) if the batch
   * could not be sent (wire.ts or postMessage refused its data).
   */
  run(batchId: number, requests: InferenceRequest[], onSendFailed?: (err: unknown) => void): void {
    this.pending.push({ batch: { batchId, requests }, onSendFailed });
    this.flushing ??= setImmediate(() => this.flush());
  }

  /** Batches queued by run() and not yet posted. */
  get pendingBatches(): number {
    return this.pending.length;
  }

  private flush(): void {
    this.flushing = undefined;
    const pending = this.pending;
    this.pending = [];
    if (pending.length === 0 || this.exited) return;
    try {
      this.post(pending.map((p) => p.batch));
    } catch {
      // Some batch holds data that cannot be sent: send them one by one, fail only those.
      for (const p of pending) {
        try {
          this.post([p.batch]);
        } catch (err) {
          p.onSendFailed?.(err);
        }
      }
    }
    this.events.onPosted?.();
  }

  private post(batches: RunBatch[]): void {
    const { payload, transfer } = encodeRun(batches);
    const msg: ToWorker = { kind: 'run', ...payload };
    this.worker.postMessage(msg, transfer);
  }

  /**
   * Ends the thread: at once when it runs JavaScript (a busy handler is interrupted), after the
   * current native call when it is inside ONNX Runtime or sharp (native-guard.ts). Resolves once
   * it has exited.
   */
  terminate(): Promise<void> {
    this.terminating ??= (async () => {
      await waitForNativeCalls(this.guard);
      if (!this.exited) await this.worker.terminate().catch(() => undefined);
    })();
    return this.terminating.then(() => this.exitPromise);
  }
}

