/**
 * The describe-model element (spec §7.3), fields in TorchServe's order, followed by ours
 * (`sha256`, `inputs`, `outputs`, `modelGroupId`). Settings we do not implement (GPUs, sequence
 * batching, venvs, job tickets) report TorchServe's defaults.
 */
import type { TensorInfo, WorkerStatus } from '../workers/types.js';
import type { ModelEntry } from './types.js';

export type DescribedWorker = {
  id: string;
  startTime: string;
  status: 'READY' | 'UNLOADING';
  memoryUsage: number;
  pid: number;
  gpu: boolean;
  gpuUsage: string;
};

export type DescribedModel = {
  modelName: string;
  modelVersion: string;
  modelUrl: string;
  runtime: string;
  minWorkers: number;
  maxWorkers: number;
  batchSize: number;
  maxBatchDelay: number;
  responseTimeout: number;
  startupTimeout: number;
  maxRetryTimeoutInSec: number;
  clientTimeoutInMills: number;
  parallelType: string;
  parallelLevel: number;
  deviceType: string;
  continuousBatching: boolean;
  useJobTicket: boolean;
  useVenv: boolean;
  stateful: boolean;
  sequenceMaxIdleMSec: number;
  sequenceTimeoutMSec: number;
  maxNumSequence: number;
  maxSequenceJobQueueSize: number;
  loadedAtStartup: boolean;
  workers: DescribedWorker[];
  jobQueueStatus: { remainingCapacity: number; pendingRequests: number };
  sha256: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  modelGroupId?: string;
};

export function describeEntry(entry: ModelEntry, runtimeType: string): DescribedModel {
  const { spec, runtime } = entry;
  const io = safeIo(entry);
  const out: DescribedModel = {
    modelName: entry.name,
    modelVersion: entry.version,
    modelUrl: entry.url,
    runtime: runtimeType,
    minWorkers: spec.minWorkers,
    maxWorkers: spec.maxWorkers,
    batchSize: spec.batchSize,
    maxBatchDelay: spec.maxBatchDelayMs,
    responseTimeout: spec.responseTimeoutSec,
    startupTimeout: spec.startupTimeoutSec,
    maxRetryTimeoutInSec: 300,
    clientTimeoutInMills: 0,
    parallelType: '',
    parallelLevel: 0,
    deviceType: 'cpu',
    continuousBatching: false,
    useJobTicket: false,
    useVenv: false,
    stateful: false,
    sequenceMaxIdleMSec: 0,
    sequenceTimeoutMSec: 0,
    maxNumSequence: 0,
    maxSequenceJobQueueSize: 0,
    loadedAtStartup: entry.loadedAtStartup,
    workers: runtime.workers().map(describeWorker),
    jobQueueStatus: runtime.queueStatus(),
    sha256: entry.sha256,
    inputs: io.inputs,
    outputs: io.outputs,
  };
  if (entry.groupId !== undefined) out.modelGroupId = entry.groupId;
  return out;
}

/** Only a READY (or busy, i.e. loaded and working) worker is READY; everything else UNLOADING (spec §7.3). */
export function describeWorker(w: WorkerStatus): DescribedWorker {
  return {
    id: w.id,
    startTime: formatJavaLocalDate(w.startTime),
    status: w.state === 'READY' || w.state === 'BUSY' ? 'READY' : 'UNLOADING',
    memoryUsage: w.memoryUsage,
    pid: process.pid,
    gpu: false,
    gpuUsage: 'N/A',
  };
}

/** `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` in local time with a literal Z, as TorchServe writes it (spec §3.3 QUIRK). */
export function formatJavaLocalDate(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())}` +
    `T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}Z`
  );
}

function safeIo(entry: ModelEntry): { inputs: TensorInfo[]; outputs: TensorInfo[] } {
  try {
    const io = entry.runtime.io;
    return { inputs: io?.inputs ?? [], outputs: io?.outputs ?? [] };
  } catch {
    return { inputs: [], outputs: [] };
  }
}
