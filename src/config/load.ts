/**
 * Builds the one immutable Config from config file, command line and environment (spec §2.1-2.4).
 *
 *   file (TS_CONFIG_FILE > --ts-config > newest snapshot > ./config.properties)   lowest
 *     -> $$NAME$$ placeholders resolved (not gated)
 *     -> CLI (--model-store, --models, --enable-model-api (only on), --disable-token-auth (only off))
 *     -> env TS_<KEY>, only when the FILE says enable_envvars_config=true                 highest
 *   TS_ALLOWED_URLS applies only with use_env_allowed_urls=true (from the file), and
 *   TS_OPEN_INFERENCE_PROTOCOL is read ungated, as TorchServe does.
 *
 * `resolveConfig` is pure; `loadConfig` adds the file system: locating and reading the file and the
 * launcher checks of spec §1.2. Every invalid value is reported at once (ConfigError.problems), each
 * naming key, value and source.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  IGNORED_KEYS,
  INTERNAL_KEYS,
  KEYS,
  ADDRESS_PATTERN,
  defaultCpuCount,
  envNamesFor,
  type Config,
  type ConfigSource,
  type KeyDef,
} from './schema.js';
import {
  PropertiesSyntaxError,
  decodePropertiesFile,
  parseProperties,
  resolvePlaceholders,
  toPropertyMap,
  type PropertyEntry,
} from './properties.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** What the `tsserve` command line contributes to the configuration (spec §1.1). */
export type CliOptions = {
  /** --model-store */
  modelStore?: string;
  /** --models (variadic; joined with "," into load_models) */
  models?: string[];
  /** --ts-config */
  tsConfig?: string;
  /** --log-config */
  logConfig?: string;
  /** --ncs / --no-config-snapshots */
  noConfigSnapshots?: boolean;
  /** --enable-model-api (can only enable) */
  enableModelApi?: boolean;
  /** --disable-token-auth / --dt (can only disable) */
  disableTokenAuth?: boolean;
};

/** The configuration cannot be used; `problems` lists every reason, one line each. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export type LoadedConfig = { config: Config; warnings: string[] };

/** Snapshot files: `<yyyyMMddHHmmssSSS>-<type>.cfg` in {LOG_LOCATION}/config (spec §11). */
export const SNAPSHOT_FILE_PATTERN = /^(\d{17})-(startup|snapshot|shutdown)\.cfg$/;

/** "where a value came from", as error messages show it. */
export function formatSource(source: ConfigSource): string {
  switch (source.kind) {
    case 'default':
      return 'default';
    case 'file':
    case 'snapshot':
      return `${source.path}:${source.line}`;
    case 'cli':
      return source.flag;
    case 'env':
      return `env ${source.name}`;
  }
}

/** The properties read from a config file or snapshot. */
export type FileProperties = {
  path: string;
  kind: 'file' | 'snapshot';
  entries: readonly PropertyEntry[];
};

export type ResolveInput = {
  file: FileProperties | undefined;
  cli: CliOptions;
  env: Env;
  cwd: string;
};

const KEY_BY_NAME: ReadonlyMap<string, KeyDef> = new Map((KEYS as readonly KeyDef[]).map((d) => [d.key, d]));

/** Keys whose env mapping is handled outside the generic `enable_envvars_config` rule. */
const SPECIAL_ENV_KEYS = new Set(['allowed_urls', 'ts_open_inference_protocol']);

type Raw = { value: string; source: ConfigSource };

/**
 * Pure merge + validation. Throws ConfigError listing every problem. Does not check that the model
 * store exists or is set (loadConfig does, as the launcher in spec §1.2).
 */
export function resolveConfig(input: ResolveInput): LoadedConfig {
  const { file, cli, env, cwd } = input;
  const problems: string[] = [];
  const warnings: string[] = [];
  const raw = new Map<string, Raw>();

  // 1. File / snapshot, with $$NAME$$ placeholders resolved.
  if (file) {
    for (const e of toPropertyMap(file.entries).values()) {
      const source: ConfigSource = { kind: file.kind, path: file.path, line: e.line };
      const { value, missing } = resolvePlaceholders(e.value, env);
      for (const name of missing) problems.push(`${e.key}: Invalid Environment Variable ${name} (${formatSource(source)})`);
      raw.set(e.key, { value, source });
    }
    // One warning per key (a repeated key warns once, at its effective line).
    for (const e of toPropertyMap(file.entries).values()) {
      if (KEY_BY_NAME.has(e.key) || INTERNAL_KEYS.includes(e.key)) continue;
      const where = `${file.path}:${e.line}`;
      if (IGNORED_KEYS.includes(e.key)) warnings.push(`configuration key ${e.key} is not used by tsserve and is ignored (${where})`);
      else warnings.push(`unknown configuration key ${e.key} is ignored (${where})`);
    }
  }

  // 2. Command line. The two seeds' flags can only move their setting one way (spec §2.3).
  if (cli.modelStore !== undefined) raw.set('model_store', { value: cli.modelStore, source: { kind: 'cli', flag: '--model-store' } });
  if (cli.models !== undefined && cli.models.length > 0) {
    raw.set('load_models', { value: cli.models.join(','), source: { kind: 'cli', flag: '--models' } });
  }
  if (cli.enableModelApi) raw.set('enable_model_api', { value: 'true', source: { kind: 'cli', flag: '--enable-model-api' } });
  if (cli.disableTokenAuth) {
    raw.set('disable_token_authorization', { value: 'true', source: { kind: 'cli', flag: '--disable-token-auth' } });
  }

  // 3. Environment. The gate is read from the file only: it has no env mapping and no flag.
  const envvarsEnabled = isJavaTrue(fromFileOnly(file, 'enable_envvars_config'));
  if (envvarsEnabled) {
    for (const def of KEYS as readonly KeyDef[]) {
      if (SPECIAL_ENV_KEYS.has(def.key)) continue;
      for (const name of envNamesFor(def)) {
        const v = env[name];
        if (v !== undefined) {
          raw.set(def.key, { value: v, source: { kind: 'env', name } });
          break;
        }
      }
    }
  }
  if (isJavaTrue(fromFileOnly(file, 'use_env_allowed_urls')) && env.TS_ALLOWED_URLS !== undefined) {
    raw.set('allowed_urls', { value: env.TS_ALLOWED_URLS, source: { kind: 'env', name: 'TS_ALLOWED_URLS' } });
  }
  // TorchServe: set (even empty) -> OIP on iff the value is exactly "oip". We also accept "true"
  // (the property's own spelling) instead of treating it as "off" (docs/compatibility.md).
  const oip = env.TS_OPEN_INFERENCE_PROTOCOL;
  if (oip !== undefined) {
    const on = ['oip', 'true'].includes(oip.trim().toLowerCase());
    raw.set('ts_open_inference_protocol', { value: String(on), source: { kind: 'env', name: 'TS_OPEN_INFERENCE_PROTOCOL' } });
  }

  // 4. Parse every key.
  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  for (const def of KEYS as readonly KeyDef[]) {
    const r = raw.get(def.key);
    const source: ConfigSource = r?.source ?? { kind: 'default' };
    sources[def.field] = source;
    const text = r?.value ?? def.default;
    if (text === undefined) {
      values[def.field] = undefined;
      continue;
    }
    const parsed = def.parse.safeParse(text.trim());
    if (parsed.success) {
      values[def.field] = parsed.data;
    } else {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      problems.push(`${def.key}: invalid value ${JSON.stringify(text)} from ${formatSource(source)}: ${why}`);
    }
  }

  // model_store is kept absolute, resolved against the working directory.
  if (typeof values.modelStore === 'string') values.modelStore = path.resolve(cwd, values.modelStore);

  // 5. HTTPS needs a key and a certificate (TorchServe would make a self-signed one; we refuse).
  const listenerKeys = ['inference_address', 'management_address', ...(values.enableMetricsApi === false ? [] : ['metrics_address'])];
  for (const key of listenerKeys) {
    const def = KEY_BY_NAME.get(key)!;
    const addr = values[def.field];
    if (typeof addr !== 'string' || ADDRESS_PATTERN.exec(addr)?.[1]?.toLowerCase() !== 'https') continue;
    if (values.privateKeyFile === undefined || values.certificateFile === undefined) {
      problems.push(
        `${key}: ${addr} (${formatSource(sources[def.field])}) is https but private_key_file and certificate_file are not both set`,
      );
    }
  }

  // 6. model_snapshot (internal key carried by snapshots, spec §11).
  let modelSnapshot: Record<string, unknown> | undefined;
  const snap = raw.get('model_snapshot');
  if (snap) {
    try {
      const v: unknown = JSON.parse(snap.value);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      modelSnapshot = v as Record<string, unknown>;
    } catch (err) {
      problems.push(`model_snapshot: invalid JSON from ${formatSource(snap.source)}: ${(err as Error).message}`);
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);

  // 7. Every effective property as a string, for snapshots (defaults are not written, as TorchServe).
  const properties: Record<string, string> = {};
  for (const [key, r] of raw) {
    if (key === 'model_snapshot' || INTERNAL_KEYS.includes(key)) continue;
    properties[key] = key === 'model_store' ? String(values.modelStore) : r.value;
  }

  const logDir = path.resolve(cwd, nonEmpty(env.LOG_LOCATION) ?? 'logs');
  const config = {
    ...values,
    sources,
    configFile: file?.path,
    modelSnapshot,
    snapshotsEnabled: !cli.noConfigSnapshots,
    logConfigFile: cli.logConfig === undefined ? undefined : path.resolve(cwd, cli.logConfig),
    logDir,
    metricsLogDir: nonEmpty(env.METRICS_LOCATION) ? path.resolve(cwd, env.METRICS_LOCATION!) : logDir,
    workDir: path.resolve(cwd),
    properties,
    cpuCount: defaultCpuCount(),
  };
  return { config: deepFreeze(config) as unknown as Config, warnings };
}

/**
 * Reads the configuration as `tsserve --start` does. Throws ConfigError for the launcher's checks
 * (spec §1.2, in its order: --log-config, --ts-config, --model-store) and for invalid values.
 */
export function loadConfig(input: { cli: CliOptions; env: Env; cwd: string }): LoadedConfig {
  const { cli, env, cwd } = input;
  if (cli.logConfig !== undefined) {
    const p = path.resolve(cwd, cli.logConfig);
    if (!isFile(p)) throw new ConfigError([`--log-config file not found: ${p}`]);
  }
  const warnings: string[] = [];
  const file = locateConfigFile({ cli, env, cwd }, warnings);
  const loaded = resolveConfigWithModelStore({ file, cli, env, cwd });
  loaded.warnings.unshift(...warnings);
  return loaded;
}

function resolveConfigWithModelStore(input: ResolveInput): LoadedConfig {
  const problems: string[] = [];
  let loaded: LoadedConfig | undefined;
  try {
    loaded = resolveConfig(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  // Spec §1.2: --model-store must be a directory; a model store is mandatory. Unlike TorchServe's
  // launcher we accept it from any configuration source, not only an explicit config file.
  const store = input.cli.modelStore ?? loaded?.config.modelStore;
  if (input.cli.modelStore !== undefined) {
    const p = path.resolve(input.cwd, input.cli.modelStore);
    if (!isDirectory(p)) problems.push(`--model-store directory not found: ${p}`);
  } else if (store === undefined) {
    if (!problems.some((p) => p.startsWith('model_store:'))) problems.push('Missing mandatory parameter --model-store');
  } else if (loaded && !isDirectory(store)) {
    problems.push(`model_store directory not found: ${store} (${formatSource(loaded.config.sources.modelStore!)})`);
  }
  if (problems.length > 0 || !loaded) throw new ConfigError(problems);
  return loaded;
}

/**
 * Finds the configuration file (spec §2.1): TS_CONFIG_FILE > --ts-config > newest snapshot in
 * {LOG_LOCATION}/config (unless --ncs) > ./config.properties > none. An explicit file that is
 * missing or malformed is an error; an unreadable snapshot falls back to the one before it.
 */
export function locateConfigFile(input: { cli: CliOptions; env: Env; cwd: string }, warnings: string[]): FileProperties | undefined {
  const { cli, env, cwd } = input;
  const explicit = nonEmpty(env.TS_CONFIG_FILE) ?? cli.tsConfig;
  if (explicit !== undefined) {
    const p = path.resolve(cwd, explicit);
    if (!isFile(p)) throw new ConfigError([`--ts-config file not found: ${p}`]);
    return readPropertiesFile(p, 'file');
  }
  if (!cli.noConfigSnapshots) {
    const dir = path.join(path.resolve(cwd, nonEmpty(env.LOG_LOCATION) ?? 'logs'), 'config');
    for (const name of listSnapshots(dir)) {
      const p = path.join(dir, name);
      try {
        const file = readPropertiesFile(p, 'snapshot');
        // Every snapshot TorchServe or tsserve writes carries model_snapshot (even with no models),
        // so a file without it is cut off (empty, truncated): taking it as the configuration would
        // silently start on default addresses with no models.
        const snap = toPropertyMap(file.entries).get('model_snapshot');
        if (!snap) throw new Error('no model_snapshot property');
        const v: unknown = JSON.parse(snap.value);
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('model_snapshot is not a JSON object');
        return file;
      } catch (err) {
        const why = err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message;
        warnings.push(`snapshot ${p} is unreadable (${why}); trying the previous one`);
      }
    }
  }
  const local = path.join(cwd, 'config.properties');
  if (isFile(local)) return readPropertiesFile(local, 'file');
  return undefined;
}

/** Snapshot file names in `dir`, newest first. */
export function listSnapshots(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => SNAPSHOT_FILE_PATTERN.test(n)).sort().reverse();
}

function readPropertiesFile(p: string, kind: 'file' | 'snapshot'): FileProperties {
  try {
    return { path: p, kind, entries: parseProperties(decodePropertiesFile(fs.readFileSync(p))) };
  } catch (err) {
    if (err instanceof PropertiesSyntaxError) throw new ConfigError([`${p}:${err.line}: ${err.message.replace(/^line \d+: /, '')}`]);
    throw new ConfigError([`cannot read ${p}: ${(err as Error).message}`]);
  }
}

/**
 * A Config for tests and tools: `properties` as if read from a config file, no CLI, no env, no
 * model-store requirement. Throws ConfigError on invalid values.
 */
export function makeConfig(properties: Readonly<Record<string, string>> = {}, opts: { cwd?: string; env?: Env; cli?: CliOptions } = {}): Config {
  const entries = Object.entries(properties).map(([key, value], i) => ({ key, value, line: i + 1 }));
  return resolveConfig({
    file: { path: '<test>', kind: 'file', entries },
    cli: opts.cli ?? {},
    env: opts.env ?? {},
    cwd: opts.cwd ?? process.cwd(),
  }).config;
}

// ---- load_models / --models ----------------------------------------------------------------------

/** One startup model: `[name=]location` (spec §6.3). */
export type StartupModel = { name: string | undefined; location: string };

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Parses load_models: `all` (case-insensitive), or comma-separated `[name=]location` entries.
 * Entries are trimmed (TorchServe keeps the blanks, so `a.mar, b.mar` fails there —
 * docs/compatibility.md). A `=` only separates a name when what precedes it is a valid model name,
 * so `https://host/m.mar?x=1` stays one location.
 */
export function parseLoadModels(value: string | undefined): 'all' | StartupModel[] {
  if (value === undefined || value.trim() === '') return [];
  if (value.trim().toLowerCase() === 'all') return 'all';
  const out: StartupModel[] = [];
  for (const part of value.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq).trim() : '';
    if (eq > 0 && MODEL_NAME.test(name)) out.push({ name, location: item.slice(eq + 1).trim() });
    else out.push({ name: undefined, location: item });
  }
  return out;
}

// ---- helpers -------------------------------------------------------------------------------------

function fromFileOnly(file: FileProperties | undefined, key: string): string | undefined {
  if (!file) return undefined;
  return toPropertyMap(file.entries).get(key)?.value;
}

function isJavaTrue(v: string | undefined): boolean {
  return v !== undefined && v.trim().toLowerCase() === 'true';
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
