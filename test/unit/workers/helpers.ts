/**
 * Shared helpers for the engine and handler tests: model paths, specs, requests, a recording
 * metrics sink and logger; tiny ONNX models come from test/fixtures/onnx-models.ts.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../../src/logger.js';
import type { MetricsSink } from '../../../src/metrics/types.js';
import { createEngine } from '../../../src/workers/engine.js';
import type { Engine, InferenceRequest, ModelSpec, Protocol } from '../../../src/workers/types.js';

function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found');
    dir = up;
  }
  return dir;
}

export const repoRoot = findRepoRoot();
export const modelsDir = path.resolve(repoRoot, '../shared/models');
export const MLP = path.join(modelsDir, 'mlp.onnx');
export const ADD = path.join(modelsDir, 'add.onnx');

/** models.json's canonical input: x[i] = (i % 255) / 255 - 0.5 (computed in float32). */
export function canonicalInput(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (i % 255) / 255 - 0.5;
  return x;
}

/** A temp directory removed after the test. */
export function tempDir(t: { after(fn: () => void): void }, prefix = 'tsserve-h3-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function makeSpec(overrides: Partial<ModelSpec> & { serializedFile: string }): ModelSpec {
  return {
    name: 'm',
    version: '1.0',
    modelDir: path.dirname(overrides.serializedFile),
    handler: 'tensor',
    manifest: {},
    modelYamlConfig: {},
    batchSize: 1,
    maxBatchDelayMs: 100,
    responseTimeoutSec: 60,
    startupTimeoutSec: 30,
    jobQueueSize: 100,
    minWorkers: 1,
    maxWorkers: 1,
    maxResponseSizeBytes: 6553500,
    decodeInputRequest: true,
    session: { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionProviders: ['cpu'] },
    ...overrides,
  };
}

let seq = 0;

export function request(
  body: string | Uint8Array | unknown,
  opts: { protocol?: Protocol; contentType?: string | null; explain?: boolean; headers?: Record<string, string>; name?: string } = {},
): InferenceRequest {
  const bytes =
    body instanceof Uint8Array ? body : typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(JSON.stringify(body), 'utf8');
  const contentType = opts.contentType === null ? undefined : (opts.contentType ?? 'application/json');
  return {
    id: `req-${++seq}`,
    protocol: opts.protocol ?? 'ts',
    explain: opts.explain ?? false,
    headers: { explain: opts.explain ? 'True' : 'False', url_path: '', ...(opts.headers ?? {}) },
    params: [{ name: opts.name ?? 'body', value: bytes, ...(contentType !== undefined ? { contentType } : {}) }],
  };
}

export function text(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
}

export function json(body: Uint8Array): unknown {
  return JSON.parse(text(body));
}

export type Recorded = { batches: number[]; restarts: number; loaded: string[]; depths: number[] };

export function recordingMetrics(): MetricsSink & { recorded: Recorded } {
  const recorded: Recorded = { batches: [], restarts: 0, loaded: [], depths: [] };
  return {
    recorded,
    httpResponse() {},
    inferenceRequest() {},
    inferenceDone() {},
    batchRun(_m, _v, size) {
      recorded.batches.push(size);
    },
    queueDepth(_m, _v, depth) {
      recorded.depths.push(depth);
    },
    workerRestart() {
      recorded.restarts++;
    },
    workerLoaded(name) {
      recorded.loaded.push(name);
    },
    authFailure() {},
  };
}

/** A pino logger whose lines are kept as objects. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

export function testEngine(t: { after(fn: () => Promise<void> | void): void }, extra: { modelLog?: Logger; log?: Logger } = {}) {
  const metrics = recordingMetrics();
  const silent = pino({ level: 'silent' });
  const engine: Engine = createEngine({
    log: extra.log ?? silent,
    modelLog: extra.modelLog ?? silent,
    metrics,
    cpuCount: 2,
    restartBackoffMs: [0, 100, 200],
  });
  t.after(() => engine.close());
  return { engine, metrics: metrics.recorded };
}

/** Resolves when `cond()` holds (polling), rejects after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- tiny ONNX models (test/fixtures/onnx-models.ts, shared with the e2e tests) ------------------

export { writeModel, writeMultiModel, writeSumModel, writeFixedModel, writeImageModel, type NodeDef } from '../../fixtures/onnx-models.js';

/** Writes a custom handler module (ES module source) into `dir`. */
export function writeHandler(dir: string, file: string, source: string): string {
  writeFileSync(path.join(dir, file), source);
  return file;
}
