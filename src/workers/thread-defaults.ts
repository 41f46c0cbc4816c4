/**
 * Default worker count and ONNX Runtime thread counts when neither the configuration nor the
 * archive says (docs/engine.md "Defaults"). The rule never uses more ORT threads in total than
 * cores: workers × intraOpNumThreads ≤ cpuCount.
 *
 *   model file      workers                       intra-op threads per worker
 *   < 20 MB         min(cpuCount, 4)              1          (2 cores: 2 × 1)
 *   ≥ 20 MB         clamp(floor(cpu/4), 1, 4)     floor(cpu / workers)   (2 cores: 1 × 2)
 *
 * Why: a small model (mlp, 0.2 MFLOP) finishes in microseconds, so one thread per session and one
 * session per core gives the most requests per second and the HTTP thread does the rest; a large
 * one (resnet18, 3.6 GFLOP) parallelises well inside a convolution, so fewer sessions with more
 * threads each keep latency low and memory (one copy of the weights per worker) bounded.
 */

/** Models at or above this size (bytes of the ONNX file) count as "large". */
export const LARGE_MODEL_BYTES = 20 * 1024 * 1024;

/** More small-model workers than this rarely help: the HTTP thread becomes the bottleneck. */
export const MAX_SMALL_MODEL_WORKERS = 4;

/** ORT inter-op threads only matter for parallel graph execution, which we do not enable. */
export const DEFAULT_INTER_OP_THREADS = 1;

export function defaultWorkerLayout(opts: { cpuCount: number; modelBytes: number }): {
  workers: number;
  intraOpNumThreads: number;
} {
  const cpus = Math.max(1, Math.floor(opts.cpuCount));
  if (opts.modelBytes < LARGE_MODEL_BYTES) {
    return { workers: Math.min(cpus, MAX_SMALL_MODEL_WORKERS), intraOpNumThreads: 1 };
  }
  const workers = Math.min(MAX_SMALL_MODEL_WORKERS, Math.max(1, Math.floor(cpus / 4)));
  return { workers, intraOpNumThreads: Math.max(1, Math.floor(cpus / workers)) };
}
