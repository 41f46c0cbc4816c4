/**
 * Runs one batch through a handler inside the worker thread and turns what it returns into one
 * answer per request (spec §8.3, §8.6):
 *
 *   requests ─▶ records (decoded) ─▶ preprocess ─▶ inference ─▶ postprocess ─▶ [answer per request]
 *                                      └─(explain requests)─▶ explain ─┘
 *
 * Answers: bytes and strings as they are, anything else as pretty JSON (indent 2); an `Error`
 * element fails that request alone. A thrown handler error fails the whole (sub-)batch with
 * PredictionFailedError carrying the handler's message (the stack goes to the model log only).
 */
import { PredictionFailedError, TsServeError, type ErrorWire } from '../errors.js';
import type { WireResult } from '../workers/messages.js';
import type { InferenceRequest, Protocol, RequestParam } from '../workers/types.js';
import { formatJson } from './json-format.js';
import { HEADER_LENGTH } from './oip.js';
import type { HandlerContext, RequestRecord, ResolvedHandler, WorkerContext } from './types.js';

type AnswerState = { status: number; contentType?: string; headers?: Record<string, string> };

const encoder = new TextEncoder();

/** A view of the same bytes as a Buffer (handlers get Buffers, as TorchServe gives `bytes`). */
function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** Spec §8.3 value decoding: application/json → parsed, text/* → string, else bytes. */
export function decodeParam(p: RequestParam, decode: boolean, skipJson: boolean, onBadJson: (err: Error) => void): unknown {
  const bytes = asBuffer(p.value);
  if (!decode) return bytes;
  const ct = p.contentType;
  if (ct === 'application/json' && !skipJson) {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      onBadJson(err as Error);
      return bytes;
    }
  }
  if (ct !== undefined && ct.startsWith('text')) return bytes.toString('utf8');
  return bytes;
}

/** One TorchServe request record: {name: value}, the last of a repeated name winning. */
export function toRecord(req: InferenceRequest, decode: boolean, onBadJson: (err: Error) => void): RequestRecord {
  // An OIP binary body starts with JSON but is not JSON: leave it as bytes.
  const skipJson = req.protocol === 'oip-v2' && req.headers[HEADER_LENGTH] !== undefined;
  const rec: RequestRecord = {};
  for (const p of req.params) rec[p.name] = decodeParam(p, decode, skipJson, onBadJson);
  return rec;
}

export class OutputTypeError extends TsServeError {
  constructor() {
    super(503, 'InternalServerException', 'UNSUPPORTED_OUTPUT', 'Unsupported model output data type.');
  }
}

/** An error a handler threw or returned, as it goes on the wire. */
export function handlerErrorWire(err: unknown): ErrorWire {
  if (err instanceof TsServeError) return err.toWire();
  const e = err as { message?: unknown; status?: unknown; statusCode?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  // A handler may throw an error carrying its own HTTP status (TorchServe's PredictionException
  // with a code, spec §8.6).
  if (status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599) {
    return {
      code: 'HANDLER_ERROR',
      status,
      type: status < 500 ? 'BadRequestException' : 'InternalServerException',
      message,
    };
  }
  return new PredictionFailedError(message).toWire();
}

export type RunnerOptions = {
  handler: ResolvedHandler;
  worker: WorkerContext;
  maxResponseSizeBytes: number;
  decodeInputRequest: boolean;
};

export class BatchRunner {
  private readonly opts: RunnerOptions;

  constructor(opts: RunnerOptions) {
    this.opts = opts;
  }

  async run(requests: readonly InferenceRequest[]): Promise<WireResult[]> {
    const results: WireResult[] = new Array(requests.length);
    const explain: number[] = [];
    const predict: number[] = [];
    requests.forEach((r, i) => (r.explain ? explain : predict).push(i));
    if (predict.length > 0) await this.runGroup(requests, predict, false, results);
    if (explain.length > 0) await this.runGroup(requests, explain, true, results);
    return results;
  }

  private fail(results: WireResult[], at: number, protocol: Protocol, wire: ErrorWire): void {
    results[at] = { ok: false, error: { ...wire, protocol } };
  }

  private async runGroup(all: readonly InferenceRequest[], idx: number[], explain: boolean, results: WireResult[]): Promise<void> {
    const { handler, worker } = this.opts;
    const reqs = idx.map((i) => all[i]!);
    const answers: AnswerState[] = reqs.map(() => ({ status: 200 }));
    const ctx = this.context(reqs, answers);
    const failAll = (wire: ErrorWire): void => {
      idx.forEach((at, k) => this.fail(results, at, reqs[k]!.protocol, wire));
    };
    if (explain && handler.explain === undefined) {
      failAll({
        code: 'EXPLAIN_NOT_SUPPORTED',
        status: 501,
        type: 'InternalServerException',
        message: `Model "${worker.modelName}" handler "${handler.name}" does not support explanations`,
      });
      return;
    }
    let out: unknown;
    try {
      const decode = this.opts.decodeInputRequest && !handler.rawBodies;
      const records = reqs.map((r) => toRecord(r, decode, (err) => worker.log.debug(`request ${r.id}: body is not JSON: ${err.message}`)));
      if (explain) {
        const data = await handler.preprocess(records, ctx);
        out = await handler.explain!(data, ctx);
      } else if (handler.handle !== undefined) {
        out = await handler.handle(records, ctx);
      } else {
        const data = await handler.preprocess(records, ctx);
        const y = await handler.inference(data, ctx);
        out = await handler.postprocess(y, ctx);
      }
    } catch (err) {
      worker.log.error(`handler failed: ${(err as Error)?.stack ?? String(err)}`);
      failAll(handlerErrorWire(err));
      return;
    }
    if (!Array.isArray(out)) {
      failAll({ code: 'INVALID_PREDICT_OUTPUT', status: 503, type: 'InternalServerException', message: 'Invalid model predict output' });
      return;
    }
    if (out.length !== reqs.length) {
      worker.log.error(`handler returned ${out.length} answers for a batch of ${reqs.length}`);
      failAll({ code: 'BATCH_SIZE_MISMATCH', status: 503, type: 'InternalServerException', message: 'number of batch response mismatched' });
      return;
    }
    out.forEach((value, k) => {
      const at = idx[k]!;
      const protocol = reqs[k]!.protocol;
      if (value instanceof Error) {
        if (!(value instanceof TsServeError)) worker.log.warn(`request ${reqs[k]!.id} failed: ${value.stack ?? value.message}`);
        this.fail(results, at, protocol, handlerErrorWire(value));
        return;
      }
      let body: Uint8Array;
      try {
        body = this.encode(value);
      } catch (err) {
        worker.log.error(`cannot encode the answer of request ${reqs[k]!.id}: ${(err as Error).message}`);
        this.fail(results, at, protocol, new OutputTypeError().toWire());
        return;
      }
      if (body.byteLength > this.opts.maxResponseSizeBytes) {
        this.fail(results, at, protocol, {
          code: 'RESPONSE_TOO_LARGE',
          status: 500,
          type: 'InternalServerException',
          message: `Response of ${body.byteLength} bytes exceeds max_response_size of ${this.opts.maxResponseSizeBytes} bytes`,
        });
        return;
      }
      const a = answers[k]!;
      results[at] = {
        ok: true,
        response: {
          status: a.status,
          body,
          ...(a.contentType !== undefined ? { contentType: a.contentType } : {}),
          ...(a.headers !== undefined ? { headers: a.headers } : {}),
        },
      };
    });
  }

  /**
   * bytes → as is, string → UTF-8, anything else → JSON with indent 2 (spec §8.3). The result is
   * transferred to the main thread, so bytes a handler returns are copied (it may keep them).
   */
  private encode(value: unknown): Uint8Array {
    if (value instanceof Uint8Array) return new Uint8Array(value);
    if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
    if (typeof value === 'string') return encoder.encode(value);
    return encoder.encode(formatJson(value, 2));
  }

  private context(reqs: InferenceRequest[], answers: AnswerState[]): HandlerContext {
    return new BatchContext(this.opts.worker, this.opts.handler.base, reqs, answers);
  }

}

/**
 * The per-batch context. A class with the worker fields copied in (rather than an object spread)
 * keeps its shape stable, which matters at tens of thousands of batches per second.
 */
class BatchContext implements HandlerContext {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelDir: string;
  readonly serializedFile: string;
  readonly manifest: HandlerContext['manifest'];
  readonly modelYamlConfig: HandlerContext['modelYamlConfig'];
  readonly spec: HandlerContext['spec'];
  readonly workerId: string;
  readonly session: HandlerContext['session'];
  readonly ort: HandlerContext['ort'];
  readonly io: HandlerContext['io'];
  readonly batchable: boolean;
  readonly log: HandlerContext['log'];
  readonly nativeCall: HandlerContext['nativeCall'];
  readonly base: HandlerContext['base'];
  readonly batchSize: number;
  readonly requests: readonly InferenceRequest[];
  private ids: string[] | undefined;
  private readonly answers: AnswerState[];

  constructor(worker: WorkerContext, base: HandlerContext['base'], reqs: readonly InferenceRequest[], answers: AnswerState[]) {
    this.modelName = worker.modelName;
    this.modelVersion = worker.modelVersion;
    this.modelDir = worker.modelDir;
    this.serializedFile = worker.serializedFile;
    this.manifest = worker.manifest;
    this.modelYamlConfig = worker.modelYamlConfig;
    this.spec = worker.spec;
    this.workerId = worker.workerId;
    this.session = worker.session;
    this.ort = worker.ort;
    this.io = worker.io;
    this.batchable = worker.batchable;
    this.log = worker.log;
    this.nativeCall = worker.nativeCall;
    this.base = base;
    this.batchSize = reqs.length;
    this.requests = reqs;
    this.answers = answers;
  }

  get requestIds(): readonly string[] {
    this.ids ??= this.requests.map((r) => r.id);
    return this.ids;
  }

  getRequestHeader(idx: number, name: string): string | undefined {
    return this.requests[idx]?.headers[name.toLowerCase()];
  }

  getRequestProtocol(idx: number): Protocol {
    return this.requests[idx]?.protocol ?? 'ts';
  }

  private answer(idx: number): AnswerState {
    const a = this.answers[idx];
    if (a === undefined) throw new RangeError(`request index ${idx} is outside the batch of ${this.answers.length}`);
    return a;
  }

  setResponseStatus(idx: number, status: number): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new RangeError(`invalid HTTP status ${status}`);
    this.answer(idx).status = status;
  }

  setResponseContentType(idx: number, contentType: string): void {
    this.answer(idx).contentType = contentType;
  }

  setResponseHeader(idx: number, name: string, value: string): void {
    const a = this.answer(idx);
    (a.headers ??= {})[name] = String(value);
  }
}
