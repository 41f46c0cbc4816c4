/**
 * Messages between the main thread and a worker thread (STYLE.md "Workers and batching").
 *
 *   main                                   worker
 *    | new Worker(workerData: WorkerInit)   |
 *    |                                      | load session, handler, warm-up
 *    | <------------- ready | load-failed --|
 *    | run (encoded RunBatch[]) ----------> |   (wire.ts: one JSON string + bodies packed
 *    | <------ results (encoded BatchResult[]) |    in transferred buffers, not cloned objects)
 *    | <--------------------------- log ... |   (any time: handler console output, errors)
 *
 * A `run` message carries one or more batches (worker-thread.ts coalesces the batches dispatched
 * in one event-loop turn, so a wake-up is paid per turn, not per request). The worker answers
 * them in order, several per `results` message (worker-main.ts runMessage: built-in handlers run
 * the batches of a message as one; custom handlers get each batch on its own).
 *
 * Errors cross as ErrorWire plus the request's protocol (class and stack do not survive
 * postMessage); the main thread rebuilds them with `inferenceErrorFromWire`.
 */
import type { ErrorWire } from '../errors.js';
import type { InferenceRequest, InferenceResponse, ModelIO, ModelSpec, Protocol } from './types.js';
import type { EncodedBodies } from './wire.js';

export type WorkerInit = (
  | {
      mode: 'serve';
      workerId: string;
      spec: ModelSpec;
      /** IO read by `inspect`, so the worker can check its session against it. */
      io: ModelIO;
    }
  | { mode: 'inspect'; file: string }
) & {
  /** native-guard.ts: native calls in progress / stopping, shared with the main thread. */
  guard: SharedArrayBuffer;
};

/** One handler batch: `requests` are handed to the handler together (at most batchSize). */
export type RunBatch = { batchId: number; requests: InferenceRequest[] };

/** `RunBatch[]` encoded by wire.ts encodeRun. */
export type ToWorker = { kind: 'run' } & EncodedBodies;

/** An error answer for one request: what the HTTP layer renders (OIP routes as `{"error": msg}`). */
export type RequestErrorWire = ErrorWire & { protocol: Protocol };

export type WireResult = { ok: true; response: InferenceResponse } | { ok: false; error: RequestErrorWire };

/** The answers to one batch, in its request order; `handlerMillis`: its share of the handler time. */
export type BatchResult = { batchId: number; results: WireResult[]; handlerMillis: number };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type FromWorker =
  | { kind: 'ready'; io: ModelIO; loadMillis: number }
  | { kind: 'load-failed'; message: string; stack?: string }
  | { kind: 'inspected'; io: ModelIO }
  | { kind: 'inspect-failed'; message: string }
  /** `BatchResult[]` encoded by wire.ts encodeResults. */
  | ({ kind: 'results' } & EncodedBodies)
  | {
      kind: 'log';
      level: LogLevel;
      msg: string;
      stack?: string;
      stream?: 'stdout' | 'stderr';
      /** Ids of the requests of the batch being run when the line was logged, comma-separated. */
      reqId?: string;
    };
