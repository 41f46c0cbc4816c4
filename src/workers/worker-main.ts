/**
 * Entry point of every worker thread (messages.ts has the protocol). Either inspects a model
 * file and exits, or serves one model version: loads the ONNX Runtime session and the handler,
 * runs the warm-up, says `ready`, then runs the batches of each `run` message (runMessage).
 *
 * Handler console output is routed to the main thread's model log. An uncaught error here ends
 * the thread; the pool fails the batch it held and starts a replacement.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { format } from 'node:util';
import { isBatchable } from './io.js';
import type { BatchResult, FromWorker, LogLevel, RunBatch, ToWorker, WorkerInit } from './messages.js';
import type { InferenceRequest, ModelIO } from './types.js';
import { decodeRun, encodeResults } from './wire.js';
import { createSession, readIO } from './session.js';
import { NativeGuard, guardOrt } from './native-guard.js';
import { BatchRunner } from '../handlers/pipeline.js';
import { loadHandler } from '../handlers/load-handler.js';
import type { HandlerLog, Ort, WorkerContext } from '../handlers/types.js';

const port = parentPort;
if (port === null) throw new Error('worker-main must run in a worker thread');

function post(msg: FromWorker, transfer?: ArrayBuffer[]): void {
  port!.postMessage(msg, transfer);
}

/**
 * The batch being run (one at a time, see `serve`): lines logged meanwhile carry its request ids,
 * so a handler's output can be matched with the access and server log lines (issue #8).
 */
let running: readonly InferenceRequest[] | undefined;

function log(level: LogLevel, msg: string, stream?: 'stdout' | 'stderr'): void {
  const m: Extract<FromWorker, { kind: 'log' }> = { kind: 'log', level, msg };
  if (stream !== undefined) m.stream = stream;
  if (running !== undefined) m.reqId = running.map((r) => r.id).join(',');
  post(m);
}

/** console.* inside handlers → model log (TorchServe sends handler prints to model_log). */
function routeConsole(): void {
  const c = console as unknown as Record<string, (...args: unknown[]) => void>;
  const map: [string, LogLevel, 'stdout' | 'stderr'][] = [
    ['log', 'info', 'stdout'],
    ['info', 'info', 'stdout'],
    ['debug', 'debug', 'stdout'],
    ['trace', 'debug', 'stdout'],
    ['warn', 'warn', 'stderr'],
    ['error', 'error', 'stderr'],
  ];
  for (const [method, level, stream] of map) c[method] = (...args: unknown[]) => log(level, format(...args), stream);
}

const handlerLog: HandlerLog = {
  debug: (msg, ...args) => log('debug', format(msg, ...args)),
  info: (msg, ...args) => log('info', format(msg, ...args)),
  warn: (msg, ...args) => log('warn', format(msg, ...args)),
  error: (msg, ...args) => log('error', format(msg, ...args)),
};

const init = workerData as WorkerInit;
const guard = new NativeGuard(init.guard);

async function loadOrt(): Promise<Ort> {
  const ort: Ort = await import('onnxruntime-node');
  guardOrt(ort, guard);
  return ort;
}

async function inspect(file: string): Promise<void> {
  try {
    const ort = await loadOrt();
    // Only the metadata is wanted: skip graph optimisation and extra threads.
    const session = await ort.InferenceSession.create(file, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'disabled',
    });
    const io = readIO(session);
    await session.release();
    post({ kind: 'inspected', io });
  } catch (err) {
    post({ kind: 'inspect-failed', message: (err as Error)?.message ?? String(err) });
  }
}

/** Results held back for one message (see `runMessage`) go out at least this often. */
const RESULT_FLUSH_MILLIS = 1;

function postResults(done: BatchResult[]): void {
  if (done.length === 0) return;
  const { payload, transfer } = encodeResults(done);
  post({ kind: 'results', ...payload }, transfer);
}

async function runRequests(runner: BatchRunner, requests: readonly InferenceRequest[]): Promise<Awaited<ReturnType<BatchRunner['run']>>> {
  running = requests;
  try {
    return await runner.run(requests);
  } finally {
    running = undefined;
  }
}

/**
 * Runs the batches of one `run` message and answers them in as few messages as it can: every
 * message wakes the main thread, which costs about as much as running a small model.
 *
 * - Built-in handlers (`fuse`): no user code sees how requests are grouped, so all the batches
 *   run as one handler batch — one ONNX Runtime run for the lot (the tensor handler stacks
 *   samples whose shapes agree and isolates a request whose run fails) — and are answered
 *   together. Each request still gets its own answer; each batch its own result.
 * - Custom handlers get each batch as its own handler batch (batch_size as configured); the
 *   results are held back while batches finish within RESULT_FLUSH_MILLIS of the first
 *   unsent one, so slow batches are answered as soon as they finish.
 */
async function runMessage(runner: BatchRunner, batches: readonly RunBatch[], fuse: boolean): Promise<void> {
  if (fuse && batches.length > 1) {
    const t0 = performance.now();
    const all = batches.flatMap((b) => b.requests);
    const results = await runRequests(runner, all);
    const millis = performance.now() - t0;
    let at = 0;
    postResults(
      batches.map((b) => {
        const n = b.requests.length;
        const done: BatchResult = { batchId: b.batchId, results: results.slice(at, at + n), handlerMillis: (millis * n) / all.length };
        at += n;
        return done;
      }),
    );
    return;
  }
  let held: BatchResult[] = [];
  let heldSince = 0;
  for (const batch of batches) {
    const t0 = performance.now();
    const results = await runRequests(runner, batch.requests);
    const now = performance.now();
    if (held.length === 0) heldSince = now;
    held.push({ batchId: batch.batchId, results, handlerMillis: now - t0 });
    if (now - heldSince >= RESULT_FLUSH_MILLIS) {
      postResults(held);
      held = [];
    }
  }
  postResults(held);
}

async function serve(init: Extract<WorkerInit, { mode: 'serve' }>): Promise<void> {
  const { spec, workerId } = init;
  const started = performance.now();
  let runner: BatchRunner;
  let io: ModelIO;
  let fuse: boolean;
  try {
    const ort = await loadOrt();
    const session = await createSession(ort, spec.serializedFile, spec.session, (m) => log('warn', m));
    io = readIO(session);
    const handler = await loadHandler(spec);
    fuse = handler.builtin;
    const worker: WorkerContext = {
      modelName: spec.name,
      modelVersion: spec.version,
      modelDir: spec.modelDir,
      serializedFile: spec.serializedFile,
      manifest: spec.manifest,
      modelYamlConfig: spec.modelYamlConfig,
      spec,
      workerId,
      session,
      ort,
      io,
      batchable: isBatchable(io),
      log: handlerLog,
      nativeCall: (fn) => guard.wrap(fn),
    };
    await handler.initialize(worker);
    runner = new BatchRunner({
      handler,
      worker,
      maxResponseSizeBytes: spec.maxResponseSizeBytes,
      decodeInputRequest: spec.decodeInputRequest,
    });
    if (spec.warmup !== undefined) {
      const [r] = await runner.run([spec.warmup]);
      if (r === undefined || !r.ok) throw new Error(`warm-up request failed: ${r?.ok === false ? r.error.message : 'no answer'}`);
    }
  } catch (err) {
    const e = err as Error;
    post({ kind: 'load-failed', message: e?.message ?? String(err), ...(e?.stack !== undefined ? { stack: e.stack } : {}) });
    return;
  }
  // One message at a time, in arrival order.
  let chain: Promise<void> = Promise.resolve();
  port!.on('message', (msg: ToWorker) => {
    if (msg.kind !== 'run') return;
    const batches = decodeRun(msg);
    chain = chain.then(() => runMessage(runner, batches, fuse));
  });
  post({ kind: 'ready', io, loadMillis: performance.now() - started });
}

routeConsole();
if (init.mode === 'inspect') void inspect(init.file);
else void serve(init);
