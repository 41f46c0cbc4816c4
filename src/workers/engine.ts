/**
 * The engine: inspects ONNX files and creates model runtimes (docs/engine.md). Everything that
 * touches ONNX Runtime happens in worker threads; this object only owns the shared worker id
 * counter, an inspection cache and the list of runtimes to close.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArchiveError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MetricsSink } from '../metrics/types.js';
import { isBuiltinHandler } from '../handlers/names.js';
import { ModelRuntimeImpl } from './model-runtime.js';
import type { Engine, ModelIO, ModelRuntime, ModelSpec } from './types.js';
import { WorkerThread } from './worker-thread.js';

export type EngineOptions = {
  log: Logger;
  /** Handler output and worker lifecycle details (TorchServe's model_log). */
  modelLog: Logger;
  metrics: MetricsSink;
  cpuCount: number;
  /** Restart back-off steps in ms (default: backoff.ts, TorchServe's Fibonacci seconds). */
  restartBackoffMs?: readonly number[];
  /** Longest an inspection may take (default 120 s). */
  inspectTimeoutMs?: number;
  /** First worker id (default 9000, TorchServe's first worker port). */
  firstWorkerId?: number;
};

/** Closing the engine gives running requests this long before workers are terminated. */
const ENGINE_CLOSE_DRAIN_MS = 1000;

export function createEngine(opts: EngineOptions): Engine {
  return new OrtEngine(opts);
}

type CacheEntry = { size: number; mtimeMs: number; io: Promise<ModelIO> };

class OrtEngine implements Engine {
  private readonly opts: EngineOptions;
  private nextId: number;
  private readonly runtimes = new Set<ModelRuntimeImpl>();
  private readonly inspected = new Map<string, CacheEntry>();
  private preloads: Promise<void> | undefined;
  private sharpLoaded: Promise<void> | undefined;
  private closed = false;

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.nextId = opts.firstWorkerId ?? 9000;
  }

  /**
   * Native addons stay loaded for the life of the process when the main thread holds them:
   * otherwise each worker exit may unload the library while another thread still uses it
   * (sharp documents this; onnxruntime-node's global environment likewise).
   */
  private preloadOrt(): Promise<void> {
    this.preloads ??= import('onnxruntime-node').then(
      () => undefined,
      (err: unknown) => this.opts.log.warn({ err }, 'onnxruntime-node failed to load on the main thread'),
    );
    return this.preloads;
  }

  private preloadSharp(): Promise<void> {
    this.sharpLoaded ??= import('sharp').then(
      () => undefined,
      (err: unknown) => this.opts.log.debug({ err }, 'sharp is not available on the main thread'),
    );
    return this.sharpLoaded;
  }

  async inspect(serializedFile: string): Promise<ModelIO> {
    let st;
    try {
      st = await stat(serializedFile);
    } catch (err) {
      throw new InvalidArchiveError(`Model file ${path.basename(serializedFile)} cannot be read: ${(err as Error).message}`);
    }
    if (!st.isFile()) throw new InvalidArchiveError(`Model file ${path.basename(serializedFile)} is not a file`);
    const cached = this.inspected.get(serializedFile);
    if (cached !== undefined && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached.io;
    const io = this.inspectInWorker(serializedFile);
    this.inspected.set(serializedFile, { size: st.size, mtimeMs: st.mtimeMs, io });
    io.catch(() => this.inspected.delete(serializedFile));
    return io;
  }

  private async inspectInWorker(file: string): Promise<ModelIO> {
    await this.preloadOrt();
    const timeoutMs = this.opts.inspectTimeoutMs ?? 120_000;
    return new Promise<ModelIO>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
        void thread.terminate();
      };
      const name = path.basename(file);
      const thread = new WorkerThread(
        { mode: 'inspect', file },
        {
          onInspected: (io) => settle(() => resolve(io)),
          // ORT names the file by its full path: keep server paths out of client messages.
          onInspectFailed: (message) =>
            settle(() => reject(new InvalidArchiveError(`Invalid ONNX model ${name}: ${message.split(file).join(name)}`))),
          onLog: (level, msg) => this.opts.modelLog[level]({ file: name }, msg),
          onExit: (code, error) =>
            settle(() => reject(new InvalidArchiveError(`Invalid ONNX model ${name}: ${error?.message ?? `inspection ended with code ${code}`}`))),
        },
      );
      const timer = setTimeout(
        () => settle(() => reject(new InvalidArchiveError(`Invalid ONNX model ${name}: not loaded within ${timeoutMs / 1000} s`))),
        timeoutMs,
      );
      timer.unref();
    });
  }

  async create(spec: ModelSpec): Promise<ModelRuntime> {
    if (this.closed) throw new Error('engine is closed');
    const io = await this.inspect(spec.serializedFile);
    await this.preloadOrt();
    const handler = spec.handler.trim();
    // image_classifier and custom handlers may use sharp inside the worker.
    if (handler === 'image_classifier' || !isBuiltinHandler(handler)) await this.preloadSharp();
    const runtime = new ModelRuntimeImpl({
      spec,
      io,
      log: this.opts.log,
      modelLog: this.opts.modelLog,
      metrics: this.opts.metrics,
      nextWorkerId: () => String(this.nextId++),
      ...(this.opts.restartBackoffMs !== undefined ? { backoffMs: this.opts.restartBackoffMs } : {}),
      onClose: () => this.runtimes.delete(runtime),
    });
    this.runtimes.add(runtime);
    runtime.start();
    return runtime;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.runtimes].map((r) => r.close(ENGINE_CLOSE_DRAIN_MS)));
    this.runtimes.clear();
  }
}
