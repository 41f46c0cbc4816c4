/**
 * The handler interface (docs/handlers.md). Handlers run inside a worker thread, one batch at a
 * time, like TorchServe's Python handlers (spec §8.3): `initialize(context)` once, then for each
 * batch `preprocess(requests, context)` → `inference(data, context)` → `postprocess(output,
 * context)`, which returns one answer per request.
 */
import type * as ortModule from 'onnxruntime-node';
import type { InferenceRequest, ModelIO, ModelSpec, Protocol } from '../workers/types.js';

export type Ort = typeof ortModule;
export type OrtSession = ortModule.InferenceSession;

/**
 * One request as a handler sees it: `{paramName: value}` (spec §8.3). A raw body is `body`;
 * multipart fields keep their names. Values: parsed JSON when the part's content type is exactly
 * application/json (and decode_input_request is on), a string for text/*, else a Buffer.
 */
export type RequestRecord = Record<string, unknown>;

export type HandlerLog = {
  debug(msg: string, ...args: unknown[]): void;
  info(msg: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
  error(msg: string, ...args: unknown[]): void;
};

/** What stays the same for the life of a worker. */
export type WorkerContext = {
  readonly modelName: string;
  readonly modelVersion: string;
  /** Extracted archive directory (read-only). */
  readonly modelDir: string;
  /** Absolute path of the ONNX file. */
  readonly serializedFile: string;
  readonly manifest: Readonly<Record<string, unknown>>;
  /** model_config.yaml content (TorchServe's context.model_yaml_config). */
  readonly modelYamlConfig: Readonly<Record<string, unknown>>;
  readonly spec: Readonly<ModelSpec>;
  readonly workerId: string;
  /** The ONNX Runtime session of this worker, and the onnxruntime-node module. */
  readonly session: OrtSession;
  readonly ort: Ort;
  /** Inputs / outputs of the model. */
  readonly io: ModelIO;
  /** True when every input has a dynamic first (batch) dimension. */
  readonly batchable: boolean;
  /** Goes to the model log with model, version and worker id. */
  readonly log: HandlerLog;
  /**
   * Runs async work of a native addon other than onnxruntime (sharp, ...), so the worker is never
   * terminated in the middle of it (that can abort the process). ORT calls are covered already.
   */
  nativeCall<T>(fn: () => Promise<T>): Promise<T>;
};

/** The context passed with each batch (TorchServe's `context`). */
export type HandlerContext = WorkerContext & {
  /** Number of requests in this batch. */
  readonly batchSize: number;
  /** The raw requests of the batch (params with bytes, headers, protocol, explain flag). */
  readonly requests: readonly InferenceRequest[];
  /** x-request-id of each request. */
  readonly requestIds: readonly string[];
  getRequestHeader(idx: number, name: string): string | undefined;
  getRequestProtocol(idx: number): Protocol;
  /** Per-request answer settings (spec §8.3: handlers may set status, headers, content type). */
  setResponseStatus(idx: number, status: number, reason?: string): void;
  setResponseContentType(idx: number, contentType: string): void;
  setResponseHeader(idx: number, name: string, value: string): void;
  /** The built-in tensor handler, for custom handlers that want to delegate a step. */
  readonly base: Handler;
};

/**
 * Any subset of these; the rest come from the base (tensor) handler. `postprocess` (or `explain`,
 * or `handle`) must return an array with one element per request: bytes and strings are sent as
 * they are, other values as pretty JSON, and an `Error` element fails only that request.
 */
export interface Handler {
  initialize?(context: WorkerContext): unknown;
  preprocess?(requests: RequestRecord[], context: HandlerContext): unknown;
  inference?(data: unknown, context: HandlerContext): unknown;
  postprocess?(output: unknown, context: HandlerContext): unknown;
  /** Answers /explanations and :explain requests (after preprocess). */
  explain?(data: unknown, context: HandlerContext): unknown;
  /** Whole-pipeline entry point (TorchServe's `module:function` handlers). */
  handle?(requests: RequestRecord[], context: HandlerContext): unknown;
}

/** A loaded handler: the merged steps, all present (bound), plus optional explain/handle. */
export type ResolvedHandler = {
  name: string;
  initialize(context: WorkerContext): Promise<void>;
  preprocess(requests: RequestRecord[], context: HandlerContext): Promise<unknown>;
  inference(data: unknown, context: HandlerContext): Promise<unknown>;
  postprocess(output: unknown, context: HandlerContext): Promise<unknown>;
  explain?: (data: unknown, context: HandlerContext) => Promise<unknown>;
  handle?: (requests: RequestRecord[], context: HandlerContext) => Promise<unknown>;
  /** The base handler the custom steps were merged with. */
  base: Handler;
  /** False for custom handlers: they get spec.batchSize batches even for fixed-shape models. */
  builtin: boolean;
  /**
   * True when the built-in preprocess reads the requests: bodies then reach it undecoded (it
   * decodes JSON itself, with a fast path for number arrays). Custom steps always get §8.3 records.
   */
  rawBodies: boolean;
};
