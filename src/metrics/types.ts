/**
 * What the rest of the server reports to metrics. The Prometheus implementation lives in
 * metrics/metrics.ts; tests and tools can pass NOOP_METRICS. Label names are mapped to
 * TorchServe's (model_name, model_version, hostname) inside the implementation.
 */
export type ApiName = 'inference' | 'management' | 'metrics' | 'token';

export interface MetricsSink {
  /** Every HTTP response, any listener (Requests2XX/4XX/5XX). */
  httpResponse(status: number): void;
  /** ts_inference_requests_total; `version` is the URL version or "default" (spec §10.2). */
  inferenceRequest(model: string, version: string): void;
  /** Successful inference: latency from arrival to response, and time spent queued. */
  inferenceDone(model: string, version: string, latencyMicros: number, queueMicros: number): void;
  /**
   * A batch ran with `size` requests. `handlerMillis` is the time inside the worker (HandlerTime,
   * PredictionTime); `workerThreadMillis`, if known, the main-thread overhead of the batch
   * excluding the worker (WorkerThreadTime).
   */
  batchRun(model: string, version: string, size: number, handlerMillis: number, workerThreadMillis?: number): void;
  /** Queue depth changed. */
  queueDepth(model: string, version: string, depth: number): void;
  workerRestart(model: string, version: string): void;
  workerLoaded(workerName: string, loadMillis: number): void;
  authFailure(api: ApiName): void;
}

export const NOOP_METRICS: MetricsSink = Object.freeze({
  httpResponse() {},
  inferenceRequest() {},
  inferenceDone() {},
  batchRun() {},
  queueDepth() {},
  workerRestart() {},
  workerLoaded() {},
  authFailure() {},
});
