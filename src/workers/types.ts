/**
 * Contract between the registry / HTTP layers and the engine (worker pool, batching, handlers).
 * The HTTP layer never decodes tensors: it hands raw bytes to the engine, and decoding happens in
 * the worker thread, off the event loop (DEVELOPERS.md "Speed").
 */

/** ONNX Runtime element types as onnxruntime-node names them. */
export type TensorDtype =
  | 'float32' | 'float64' | 'float16' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool' | 'string';

/** One input or output of the model, from the ONNX session metadata. Symbolic dims are strings. */
export type TensorInfo = { name: string; dtype: TensorDtype; shape: (number | string)[] };

export type ModelIO = { inputs: TensorInfo[]; outputs: TensorInfo[] };

/** The wire protocol a request arrived on: decides how the handler decodes it and encodes the answer. */
export type Protocol =
  | 'ts' // /predictions, /explanations (TorchServe)
  | 'kserve-v1' // /v1/models/{m}:predict — {"instances": [...]} in, {"predictions": [...]} out
  | 'oip-v2'; // /v2/models/{m}/infer — Open Inference Protocol JSON (or binary extension)

/** One part of a request as TorchServe hands it to a handler (spec §8.3). */
export type RequestParam = {
  /** `body` for a raw body; the form field name for multipart / urlencoded. */
  name: string;
  /** MIME type without parameters (`application/json`), absent for plain form fields. */
  contentType?: string;
  /** Raw bytes; decoded in the worker (JSON / text) when decode_input_request is on. */
  value: Uint8Array;
  /** File name of a multipart file part. */
  filename?: string;
};

/** One inference request record (spec §8.3). Structured-cloneable: it crosses into a worker thread. */
export type InferenceRequest = {
  /** x-request-id of the HTTP request. */
  id: string;
  protocol: Protocol;
  /** True on /explanations and :explain. */
  explain: boolean;
  /** Lower-cased HTTP headers as sent, plus TorchServe's synthetic `explain` and `url_path`. */
  headers: Record<string, string>;
  /** Ordered parameters. */
  params: RequestParam[];
};

/** The answer for one request. */
export type InferenceResponse = {
  status: number;
  /** Content type to send, if any (TorchServe sends none unless the handler sets one, spec §8.3). */
  contentType?: string;
  headers?: Record<string, string>;
  body: Uint8Array;
};

/** Per-model execution settings, resolved by the registry from archive yaml, `models` JSON, register params. */
export type ModelSpec = {
  name: string;
  version: string;
  /** Extracted archive directory (read-only for the engine). */
  modelDir: string;
  /** Absolute path of the ONNX file inside modelDir. */
  serializedFile: string;
  /** Handler: built-in name (`tensor`, `image_classifier`, ...) or path of a JS module inside modelDir. */
  handler: string;
  /** The archive's manifest JSON, as read (handlers see it in the context). */
  manifest: Record<string, unknown>;
  /** Everything from model_config.yaml (backend keys reach the handler as context.modelYamlConfig). */
  modelYamlConfig: Record<string, unknown>;
  batchSize: number;
  maxBatchDelayMs: number;
  responseTimeoutSec: number;
  startupTimeoutSec: number;
  jobQueueSize: number;
  minWorkers: number;
  maxWorkers: number;
  maxResponseSizeBytes: number;
  decodeInputRequest: boolean;
  /** ONNX Runtime session options (model_config.yaml `onnxruntime:` section), already defaulted. */
  session: {
    intraOpNumThreads: number;
    interOpNumThreads: number;
    graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
    executionProviders: string[];
  };
  /** Optional warm-up input, run once per worker before it is READY (model_config.yaml `warmup`). */
  warmup?: InferenceRequest;
};

export type WorkerState = 'STARTING' | 'READY' | 'BUSY' | 'UNLOADING' | 'DEAD';

export type WorkerStatus = {
  /** Stable id, e.g. "9000" (TorchServe uses worker port numbers; a global counter here). */
  id: string;
  startTime: Date;
  state: WorkerState;
  /** Resident memory attributed to the worker in bytes (process RSS share; 0 when unknown). */
  memoryUsage: number;
  restarts: number;
};

export type ScaleResult = {
  /** Workers that are READY after the operation (synchronous) or at return time. */
  ready: number;
  /** True when all of minWorkers are READY. */
  complete: boolean;
};

/** One loaded model version: its queue, batcher and workers. */
export interface ModelRuntime {
  readonly spec: ModelSpec;
  /** Inputs / outputs read from the ONNX model (available once the first load check ran). */
  readonly io: ModelIO;
  /**
   * Queue a request. Rejects with QueueFullError / NoWorkerError at once when it cannot be queued;
   * resolves with the handler's answer; rejects with TsServeError on failure (never hangs: the
   * response timeout bounds it).
   * `onDequeue` (optional) gets the time spent queued, in microseconds, for metrics.
   */
  submit(req: InferenceRequest, opts?: { onDequeue?: (queueMicros: number) => void }): Promise<InferenceResponse>;
  /** Set min/max workers; with `wait` resolves when min workers are READY or one failed to start. */
  scale(minWorkers: number, maxWorkers: number, wait: boolean): Promise<ScaleResult>;
  workers(): WorkerStatus[];
  queueStatus(): { remainingCapacity: number; pendingRequests: number };
  /** TorchServe's /ping rule: healthy workers >= minWorkers. */
  isHealthy(): boolean;
  /** Stop taking work, let queued and in-flight requests finish (bounded by timeoutMs), stop workers. */
  close(timeoutMs: number): Promise<void>;
}

/** Creates runtimes. Validates that the ONNX file loads (throws InvalidArchiveError with ORT's message). */
export interface Engine {
  /** Load and check the model (in a worker, never on the HTTP thread) and return its IO metadata. */
  inspect(serializedFile: string): Promise<ModelIO>;
  create(spec: ModelSpec): Promise<ModelRuntime>;
  close(): Promise<void>;
}
