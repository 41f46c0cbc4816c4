/**
 * The one table of configuration keys (STYLE.md "Config"): wire key (as TorchServe spells it in
 * config.properties), internal field (camelCase, units in the name), how a string value is parsed,
 * its default, and what it does. config.properties.example is checked against this table by a test.
 *
 * Values arrive as strings from three sources (file, CLI, env); `parse` turns the string into the
 * typed value or throws a message that load.ts decorates with key, value and source.
 */
import os from 'node:os';
import { z } from 'zod';

/** Java Boolean.parseBoolean: only a case-insensitive "true" is true (spec §2.2). */
export const javaBoolean = z.string().transform((s) => s.trim().toLowerCase() === 'true');

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform((s) => Number(s))
    .pipe(z.number().int().min(min).max(max));

const decimal = (minExclusive: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number')
    .transform((s) => Number(s))
    .pipe(z.number().gt(minExclusive));

/** `http(s)://HOST[:PORT]` (spec §2.6). IPv6 literals in brackets are accepted too (beyond TorchServe). */
export const ADDRESS_PATTERN = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[^:/\[\]]+)(?::(\d+))?\/?$/i;
const address = z
  .string()
  .trim()
  .regex(ADDRESS_PATTERN, 'must look like http://HOST:PORT or https://HOST:PORT')
  .refine((s) => {
    const port = ADDRESS_PATTERN.exec(s)?.[3];
    return port === undefined || Number(port) < 65536;
  }, 'port must be below 65536');

const text = z.string();
const optionalText = z.string().transform((s) => (s.trim() === '' ? undefined : s));
const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== ''),
);
const regexList = csv.superRefine((list, ctx) => {
  for (const r of list) {
    try {
      new RegExp(`^(?:${r})$`, 'i');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid regular expression ${JSON.stringify(r)}: ${(err as Error).message}` });
    }
  }
});
const jsonObject = z.string().transform((s, ctx) => {
  if (s.trim() === '') return {} as Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(s);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('must be a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be a JSON object (${(err as Error).message})` });
    return z.NEVER;
  }
});
const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .string()
    .transform((s) => s.replace(/\s+/g, '').toLowerCase())
    .pipe(z.enum(values));

export type KeyDef = {
  /** config.properties key, exactly as TorchServe spells it. */
  key: string;
  /** Field of the Config object. */
  field: string;
  /** Parses the string form. */
  parse: z.ZodType<unknown, string>;
  /** Default, in string form (parsed like any other value); undefined = unset. */
  default?: string;
  /** One line for config.properties.example and the docs. */
  doc: string;
  /** Environment variable names (gated by enable_envvars_config); [] = no env mapping. */
  env?: string[];
};

const GiB = 1024 ** 3;

/**
 * Supported keys. Order = order in config.properties.example.
 * Env names default to `TS_<KEY IN UPPER CASE>` (spec §2.4), with TorchServe's exceptions.
 */
export const KEYS = [
  // -- listeners
  { key: 'inference_address', field: 'inferenceAddress', parse: address, default: 'http://127.0.0.1:8080', doc: 'Inference API listener, http://HOST:PORT or https://HOST:PORT (port 0 = any free port).' },
  { key: 'management_address', field: 'managementAddress', parse: address, default: 'http://127.0.0.1:8081', doc: 'Management API listener.' },
  { key: 'metrics_address', field: 'metricsAddress', parse: address, default: 'http://127.0.0.1:8082', doc: 'Metrics API listener.' },
  { key: 'private_key_file', field: 'privateKeyFile', parse: optionalText, doc: 'PEM private key for https:// addresses.' },
  { key: 'certificate_file', field: 'certificateFile', parse: optionalText, doc: 'PEM certificate (chain) for https:// addresses.' },
  { key: 'enable_metrics_api', field: 'enableMetricsApi', parse: javaBoolean, default: 'true', doc: 'Start the metrics listener and serve /metrics.' },
  // -- models
  { key: 'model_store', field: 'modelStore', parse: optionalText, doc: 'Model store directory (required: here or --model-store).' },
  { key: 'load_models', field: 'loadModels', parse: optionalText, doc: 'Models to load at start: "all" or comma-separated [name=]location entries.' },
  { key: 'models', field: 'models', parse: jsonObject, default: '', doc: 'Per-model JSON: {"name": {"version": {"minWorkers": 1, "batchSize": 4, ...}}}.', env: [] },
  { key: 'default_workers_per_model', field: 'defaultWorkersPerModel', parse: int(0, 1024), default: '0', doc: 'Workers per startup model; 0 = chosen from the CPU count and the model.' },
  { key: 'job_queue_size', field: 'jobQueueSize', parse: int(1, 1_000_000), default: '100', doc: 'Capacity of each model version\'s job queue; a full queue answers 503.' },
  { key: 'default_response_timeout', field: 'defaultResponseTimeoutSec', parse: int(1), default: '120', doc: 'Seconds a worker may take for one batch before it is recycled.' },
  { key: 'default_startup_timeout', field: 'defaultStartupTimeoutSec', parse: int(1), default: '120', doc: 'Seconds a worker may take to load its model.' },
  { key: 'unregister_model_timeout', field: 'unregisterModelTimeoutSec', parse: int(1), default: '120', doc: 'Seconds to wait for in-flight requests and workers when unregistering or scaling down.' },
  { key: 'default_service_handler', field: 'defaultServiceHandler', parse: optionalText, doc: 'Handler used when an archive names none (default: the generic tensor handler).' },
  { key: 'service_envelope', field: 'serviceEnvelope', parse: optionalText, doc: 'Request envelope for all models: body, json, kserve or kservev2.' },
  { key: 'decode_input_request', field: 'decodeInputRequest', parse: javaBoolean, default: 'true', doc: 'Decode application/json and text/* request parts before the handler sees them.' },
  { key: 'allowed_urls', field: 'allowedUrls', parse: regexList, default: '', doc: 'Comma-separated regexes a registration URL must fully match; empty = only files in the model store.', env: ['TS_ALLOWED_URLS'] },
  { key: 'use_env_allowed_urls', field: 'useEnvAllowedUrls', parse: javaBoolean, default: 'false', doc: 'Let TS_ALLOWED_URLS override allowed_urls.', env: [] },
  { key: 'max_download_size', field: 'maxDownloadSizeBytes', parse: int(1), default: String(2 * GiB), doc: 'Largest archive downloaded from a URL, in bytes.' },
  { key: 'max_archive_entries', field: 'maxArchiveEntries', parse: int(1), default: '10000', doc: 'Most entries an archive may have.' },
  { key: 'max_archive_uncompressed_size', field: 'maxArchiveUncompressedSizeBytes', parse: int(1), default: String(8 * GiB), doc: 'Most bytes an archive may expand to (checked while extracting).' },
  { key: 'ts_open_inference_protocol', field: 'openInferenceProtocol', parse: javaBoolean, default: 'true', doc: 'Serve the Open Inference Protocol routes /v2, /v2/health/*, /v2/models/*.' },
  // -- limits
  { key: 'max_request_size', field: 'maxRequestSizeBytes', parse: int(1), default: '6553500', doc: 'Largest request body in bytes; larger answers 413.' },
  { key: 'max_response_size', field: 'maxResponseSizeBytes', parse: int(1), default: '6553500', doc: 'Largest inference response in bytes; larger fails the request.' },
  // -- security
  { key: 'enable_envvars_config', field: 'enableEnvvarsConfig', parse: javaBoolean, default: 'false', doc: 'Let TS_<KEY> environment variables override any key (only from the config file).', env: [] },
  { key: 'enable_model_api', field: 'enableModelApi', parse: javaBoolean, default: 'false', doc: 'Allow POST /models and DELETE /models/... (register / unregister).' },
  { key: 'disable_token_authorization', field: 'disableTokenAuthorization', parse: javaBoolean, default: 'false', doc: 'Turn bearer-token authorization off (the server is then open).' },
  { key: 'token_expiration_min', field: 'tokenExpirationMin', parse: decimal(0), default: '60', doc: 'Lifetime of the management and inference keys in minutes (decimals allowed).', env: ['TS_TOKEN_EXPIRATION_TIME_MIN', 'TS_TOKEN_EXPIRATION_MIN'] },
  { key: 'auth_failure_limit', field: 'authFailureLimit', parse: int(0), default: '100', doc: 'Failed authentications allowed per client address per window before 429 (0 = no limit).' },
  { key: 'auth_failure_window_sec', field: 'authFailureWindowSec', parse: int(1), default: '60', doc: 'Window of auth_failure_limit, in seconds.' },
  { key: 'cors_allowed_origin', field: 'corsAllowedOrigin', parse: optionalText, doc: 'Access-Control-Allow-Origin added to every response.' },
  { key: 'cors_allowed_methods', field: 'corsAllowedMethods', parse: optionalText, doc: 'Access-Control-Allow-Methods added to every response.' },
  { key: 'cors_allowed_headers', field: 'corsAllowedHeaders', parse: optionalText, doc: 'Access-Control-Allow-Headers added to every response.' },
  // -- model groups and access control
  { key: 'model_access_control_enabled', field: 'modelAccessControlEnabled', parse: javaBoolean, default: 'false', doc: 'OpenSearch-style model access control (plugins.ml_commons.model_access_control_enabled).' },
  { key: 'metadata_store', field: 'metadataStore', parse: text, default: 'tsserve-meta.db', doc: 'SQLite file for model groups, users, role mappings and settings (relative to the working directory).' },
  // -- metrics and logs
  { key: 'metrics_mode', field: 'metricsMode', parse: oneOf(['prometheus', 'log', 'legacy'] as const), default: 'prometheus', doc: 'prometheus (serve /metrics), log (write metrics to ts_metrics.log) or legacy.' },
  { key: 'disable_system_metrics', field: 'disableSystemMetrics', parse: javaBoolean, default: 'false', doc: 'Stop collecting CPU, memory and disk metrics.' },
  { key: 'metric_time_interval', field: 'metricTimeIntervalSec', parse: int(1), default: '60', doc: 'Seconds between system metric collections.', env: [] },
] as const satisfies readonly KeyDef[];

/**
 * TorchServe keys that only make sense for its JVM/Python (or that we do not implement): accepted,
 * ignored, one warning each (issue #2).
 */
export const IGNORED_KEYS: readonly string[] = [
  'vmargs', 'number_of_netty_threads', 'netty_client_threads', 'install_py_dep_per_model', 'plugins_path',
  'use_native_io', 'io_ratio', 'prefer_direct_buffer', 'async_logging', 'number_of_gpu', 'debug',
  'keystore', 'keystore_pass', 'keystore_type', 'blacklist_env_vars', 'model_server_home', 'workflow_store',
  'limit_max_image_pixels', 'initial_worker_port', 'initial_distribution_port', 'metrics_config',
  'model_metrics_auto_detect', 'system_metrics_cmd', 'cpu_launcher_enable', 'cpu_launcher_args',
  'ipex_enable', 'ipex_gpu_enable', 'grpc_inference_address', 'grpc_management_address', 'grpc_inference_port',
  'grpc_management_port', 'enable_grpc_ssl', 'grpc_inference_max_connection_age_ms',
  'grpc_management_max_connection_age_ms', 'grpc_inference_max_connection_age_grace_ms',
  'grpc_management_max_connection_age_grace_ms', 'ts_header_key_sequence_id', 'ts_header_key_sequence_start',
  'ts_header_key_sequence_end',
];

/** Keys written into snapshots by the server itself (spec §11); never warned about as unknown. */
export const INTERNAL_KEYS: readonly string[] = ['model_snapshot', 'tsConfigFile', 'version', 'python', 'number_of_gpu'];

type Keys = (typeof KEYS)[number];
type FieldOf<K> = K extends { field: infer F extends string } ? F : never;
type ValueOf<K> = K extends { parse: z.ZodType<infer O, string> } ? O : never;

/** Config values, by field. */
export type ConfigValues = { readonly [K in Keys as FieldOf<K>]: ValueOf<K> };

export type ConfigSource =
  | { kind: 'default' }
  | { kind: 'file'; path: string; line: number }
  | { kind: 'cli'; flag: string }
  | { kind: 'env'; name: string }
  | { kind: 'snapshot'; path: string; line: number };

/** The one immutable Config passed down from main.ts. */
export type Config = ConfigValues & {
  /** Where each field's value came from (for error messages and the startup dump). */
  readonly sources: Readonly<Record<string, ConfigSource>>;
  /** The config file actually read, if any. */
  readonly configFile: string | undefined;
  /** Snapshot content to restore (model_snapshot), when a snapshot or config file carried one. */
  readonly modelSnapshot: Readonly<Record<string, unknown>> | undefined;
  /** Whether config snapshots are written (false with --ncs). */
  readonly snapshotsEnabled: boolean;
  /** --log-config file, if given. */
  readonly logConfigFile: string | undefined;
  /** Log directory (LOG_LOCATION or ./logs), absolute. */
  readonly logDir: string;
  /** Metrics log directory (METRICS_LOCATION or logDir), absolute. */
  readonly metricsLogDir: string;
  /** Server working directory (key_file.json, metadata store default), absolute. */
  readonly workDir: string;
  /** Every effective property as a string, for snapshots (spec §11: all properties are kept). */
  readonly properties: Readonly<Record<string, string>>;
  /** Number of CPU cores seen by the process (for worker/thread defaults). */
  readonly cpuCount: number;
};

export function defaultCpuCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export function envNamesFor(def: KeyDef): string[] {
  return def.env ?? [`TS_${def.key.toUpperCase()}`];
}
