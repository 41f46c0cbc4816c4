/**
 * Effective per-model settings (spec §2.7 "Effective per-model value precedence"), a pure function
 * of the archive's model_config.yaml, the `models` JSON property, the register parameters and the
 * server defaults. First source that applies wins:
 *
 *   batchSize, maxBatchDelay    register param → yaml (> 0) → models JSON (> 0) → 1 / 100 ms
 *   responseTimeout,
 *   startupTimeout              yaml (key present, > 0) → models JSON → register param → default_*_timeout
 *   min/maxWorkers              yaml (min > 0, max >= min) → register initial_workers (API only)
 *                               → models JSON → default_workers_per_model (> 0) → engine's layout
 *   jobQueueSize                yaml (> 0) → job_queue_size
 *   ORT session                 yaml `onnxruntime:` keys → layout threads / 1 / "all" / ["cpu"]
 *
 * Snapshot restore passes the recorded values as `fixed`: they win over everything.
 * Wrong types and values are ignored with a warning, as TorchServe does.
 */
import type { InferenceRequest, ModelSpec, Protocol } from '../workers/types.js';

export type SettingsParams = {
  batchSize?: number;
  maxBatchDelayMs?: number;
  responseTimeoutSec?: number;
  startupTimeoutSec?: number;
  initialWorkers?: number;
};

export type FixedSettings = {
  batchSize?: number;
  maxBatchDelayMs?: number;
  responseTimeoutSec?: number;
  startupTimeoutSec?: number;
  minWorkers?: number;
  maxWorkers?: number;
};

export type SettingsDefaults = {
  defaultWorkersPerModel: number;
  jobQueueSize: number;
  defaultResponseTimeoutSec: number;
  defaultStartupTimeoutSec: number;
};

export type SettingsInput = {
  name: string;
  version: string;
  yaml: Record<string, unknown>;
  /** The `models` config property (whole object; this function picks `[name][version]`). */
  modelsJson: Readonly<Record<string, unknown>>;
  params: SettingsParams;
  fixed?: FixedSettings;
  /** Startup loading ignores `initial_workers` (there is none). */
  startup: boolean;
  defaults: SettingsDefaults;
  layout: { workers: number; intraOpNumThreads: number };
};

export type ResolvedSettings = Pick<
  ModelSpec,
  'batchSize' | 'maxBatchDelayMs' | 'responseTimeoutSec' | 'startupTimeoutSec' | 'jobQueueSize' | 'minWorkers' | 'maxWorkers' | 'session' | 'warmup'
> & {
  /** Ignored values, one line each, for the log. */
  warnings: string[];
};

const DEFAULT_BATCH_SIZE = 1;
const DEFAULT_MAX_BATCH_DELAY_MS = 100;
const GRAPH_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
const PROTOCOLS: readonly Protocol[] = ['ts', 'kserve-v1', 'oip-v2'];

export function resolveSettings(input: SettingsInput): ResolvedSettings {
  const warnings: string[] = [];
  const { yaml, params, defaults, fixed = {} } = input;
  const json = modelsJsonFor(input.modelsJson, input.name, input.version, warnings);
  const yamlInt = (key: string, min = 1): number | undefined => {
    if (!(key in yaml)) return undefined;
    const v = yaml[key];
    if (typeof v === 'number' && Number.isInteger(v) && v >= min) return v;
    warnings.push(`model_config.yaml: invalid value for ${key}: ${JSON.stringify(v)} (ignored)`);
    return undefined;
  };

  const batchSize = fixed.batchSize ?? params.batchSize ?? yamlInt('batchSize') ?? json.batchSize ?? DEFAULT_BATCH_SIZE;
  const maxBatchDelayMs =
    fixed.maxBatchDelayMs ?? params.maxBatchDelayMs ?? yamlInt('maxBatchDelay') ?? json.maxBatchDelay ?? DEFAULT_MAX_BATCH_DELAY_MS;
  const responseTimeoutSec =
    fixed.responseTimeoutSec ?? yamlInt('responseTimeout') ?? json.responseTimeout ?? params.responseTimeoutSec ?? defaults.defaultResponseTimeoutSec;
  const startupTimeoutSec =
    fixed.startupTimeoutSec ?? yamlInt('startupTimeout') ?? json.startupTimeout ?? params.startupTimeoutSec ?? defaults.defaultStartupTimeoutSec;
  const jobQueueSize = yamlInt('jobQueueSize') ?? defaults.jobQueueSize;

  let workers: { min: number; max: number };
  if (fixed.minWorkers !== undefined) {
    workers = { min: fixed.minWorkers, max: Math.max(fixed.maxWorkers ?? fixed.minWorkers, fixed.minWorkers) };
  } else {
    workers =
      yamlWorkers(yaml, warnings) ??
      (!input.startup && params.initialWorkers !== undefined ? { min: params.initialWorkers, max: params.initialWorkers } : undefined) ??
      jsonWorkers(json) ??
      (defaults.defaultWorkersPerModel > 0 ? { min: defaults.defaultWorkersPerModel, max: defaults.defaultWorkersPerModel } : undefined) ?? {
        min: input.layout.workers,
        max: input.layout.workers,
      };
  }

  return {
    batchSize,
    maxBatchDelayMs,
    responseTimeoutSec,
    startupTimeoutSec,
    jobQueueSize,
    minWorkers: workers.min,
    maxWorkers: workers.max,
    session: sessionOptions(yaml.onnxruntime, input.layout.intraOpNumThreads, warnings),
    ...warmupOf(yaml, input.name, warnings),
    warnings,
  };
}

type JsonSettings = Partial<Record<'batchSize' | 'maxBatchDelay' | 'responseTimeout' | 'startupTimeout' | 'minWorkers' | 'maxWorkers', number>>;

/** `models` JSON for one version; integers <= 0 are ignored, wrong types too (with TorchServe's log line). */
function modelsJsonFor(all: Readonly<Record<string, unknown>>, name: string, version: string, warnings: string[]): JsonSettings {
  const forModel = all[name];
  if (!isRecord(forModel)) return {};
  const forVersion = forModel[version];
  if (!isRecord(forVersion)) return {};
  const out: JsonSettings = {};
  for (const key of ['batchSize', 'maxBatchDelay', 'responseTimeout', 'startupTimeout', 'minWorkers', 'maxWorkers'] as const) {
    if (!(key in forVersion)) continue;
    const v = forVersion[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      warnings.push(`Invalid value for model: ${name}:${version}, parameter: ${key}`);
      continue;
    }
    if (v > 0) out[key] = v;
  }
  return out;
}

function yamlWorkers(yaml: Record<string, unknown>, warnings: string[]): { min: number; max: number } | undefined {
  if (!('minWorkers' in yaml) && !('maxWorkers' in yaml)) return undefined;
  const min = yaml.minWorkers;
  const max = yaml.maxWorkers ?? min;
  if (typeof min === 'number' && Number.isInteger(min) && min > 0 && typeof max === 'number' && Number.isInteger(max) && max >= min) {
    return { min, max };
  }
  warnings.push(`model_config.yaml: minWorkers/maxWorkers ignored (need minWorkers > 0 and maxWorkers >= minWorkers)`);
  return undefined;
}

function jsonWorkers(json: JsonSettings): { min: number; max: number } | undefined {
  if (json.minWorkers === undefined) return undefined;
  const max = json.maxWorkers !== undefined && json.maxWorkers >= json.minWorkers ? json.maxWorkers : json.minWorkers;
  return { min: json.minWorkers, max };
}

function sessionOptions(raw: unknown, intraDefault: number, warnings: string[]): ModelSpec['session'] {
  const session: ModelSpec['session'] = {
    intraOpNumThreads: intraDefault,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  };
  if (raw === undefined || raw === null) return session;
  if (!isRecord(raw)) {
    warnings.push('model_config.yaml: onnxruntime must be a mapping (ignored)');
    return session;
  }
  for (const key of ['intraOpNumThreads', 'interOpNumThreads'] as const) {
    if (!(key in raw)) continue;
    const v = raw[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) session[key] = v;
    else warnings.push(`model_config.yaml: invalid value for onnxruntime.${key}: ${JSON.stringify(v)} (ignored)`);
  }
  if ('graphOptimizationLevel' in raw) {
    const v = raw.graphOptimizationLevel;
    if (typeof v === 'string' && (GRAPH_LEVELS as readonly string[]).includes(v)) session.graphOptimizationLevel = v as ModelSpec['session']['graphOptimizationLevel'];
    else warnings.push(`model_config.yaml: invalid value for onnxruntime.graphOptimizationLevel: ${JSON.stringify(v)} (ignored)`);
  }
  if ('executionProviders' in raw) {
    const v = raw.executionProviders;
    if (Array.isArray(v) && v.length > 0 && v.every((p) => typeof p === 'string' && p !== '')) session.executionProviders = [...(v as string[])];
    else warnings.push(`model_config.yaml: invalid value for onnxruntime.executionProviders: ${JSON.stringify(v)} (ignored)`);
  }
  return session;
}

/**
 * model_config.yaml `warmup` (beyond TorchServe): one request run by each worker before it is READY.
 *   warmup:
 *     body: {"input": [[1, 2, 3, 4]]}   # a string is sent as is; anything else JSON-encoded
 *     contentType: application/json     # default application/json
 *     protocol: ts                      # ts | kserve-v1 | oip-v2, default ts
 */
function warmupOf(yaml: Record<string, unknown>, name: string, warnings: string[]): { warmup?: InferenceRequest } {
  if (!('warmup' in yaml) || yaml.warmup === null || yaml.warmup === undefined) return {};
  const w = yaml.warmup;
  if (!isRecord(w) || !('body' in w)) {
    warnings.push('model_config.yaml: warmup must be a mapping with a body (ignored)');
    return {};
  }
  const contentType = w.contentType ?? 'application/json';
  const protocol = w.protocol ?? 'ts';
  if (typeof contentType !== 'string' || typeof protocol !== 'string' || !(PROTOCOLS as readonly string[]).includes(protocol)) {
    warnings.push('model_config.yaml: warmup contentType must be a string and protocol one of ts, kserve-v1, oip-v2 (ignored)');
    return {};
  }
  const text = typeof w.body === 'string' ? w.body : JSON.stringify(w.body);
  return {
    warmup: {
      id: `warmup-${name}`,
      protocol: protocol as Protocol,
      explain: false,
      headers: { 'content-type': contentType },
      params: [{ name: 'body', contentType, value: new TextEncoder().encode(text) }],
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
