import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ConfigError,
  loadConfig,
  makeConfig,
  parseLoadModels,
  resolveConfig,
  type CliOptions,
  type Env,
} from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';

const CWD = '/srv/ts';

/** resolveConfig with an in-memory config file. */
function resolve(fileProps: Record<string, string> | undefined, cli: CliOptions = {}, env: Env = {}) {
  const file = fileProps && {
    path: '/srv/ts/config.properties',
    kind: 'file' as const,
    entries: Object.entries(fileProps).map(([key, value], i) => ({ key, value, line: i + 1 })),
  };
  return resolveConfig({ file, cli, env, cwd: CWD });
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsserve-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('defaults when nothing is configured', () => {
  const { config, warnings } = resolve(undefined);
  assert.equal(config.inferenceAddress, 'http://127.0.0.1:8080');
  assert.equal(config.managementAddress, 'http://127.0.0.1:8081');
  assert.equal(config.metricsAddress, 'http://127.0.0.1:8082');
  assert.equal(config.jobQueueSize, 100);
  assert.equal(config.maxRequestSizeBytes, 6553500);
  assert.equal(config.enableModelApi, false);
  assert.equal(config.disableTokenAuthorization, false);
  assert.equal(config.tokenExpirationMin, 60);
  assert.equal(config.modelStore, undefined);
  assert.equal(config.configFile, undefined);
  assert.deepEqual(config.sources.jobQueueSize, { kind: 'default' });
  assert.equal(config.logDir, '/srv/ts/logs');
  assert.equal(config.metricsLogDir, '/srv/ts/logs');
  assert.equal(config.snapshotsEnabled, true);
  assert.deepEqual(warnings, []);
});

// ---- precedence matrix: env (gated) > CLI > file > default, on model_store (all three sources) ----

const GATE = { enable_envvars_config: 'true' };
const matrix: Array<{ name: string; file?: Record<string, string>; cli?: CliOptions; env?: Env; want: string | undefined; from: string }> = [
  { name: 'default alone', want: undefined, from: 'default' },
  { name: 'file alone', file: { model_store: 'f' }, want: '/srv/ts/f', from: 'file' },
  { name: 'cli alone', cli: { modelStore: 'c' }, want: '/srv/ts/c', from: 'cli' },
  { name: 'env alone, gate on', file: GATE, env: { TS_MODEL_STORE: 'e' }, want: '/srv/ts/e', from: 'env' },
  { name: 'env alone, gate off', env: { TS_MODEL_STORE: 'e' }, want: undefined, from: 'default' },
  { name: 'env alone, gate explicitly false', file: { enable_envvars_config: 'false' }, env: { TS_MODEL_STORE: 'e' }, want: undefined, from: 'default' },
  { name: 'file + cli', file: { model_store: 'f' }, cli: { modelStore: 'c' }, want: '/srv/ts/c', from: 'cli' },
  { name: 'file + env, gate on', file: { ...GATE, model_store: 'f' }, env: { TS_MODEL_STORE: 'e' }, want: '/srv/ts/e', from: 'env' },
  { name: 'file + env, gate off', file: { model_store: 'f' }, env: { TS_MODEL_STORE: 'e' }, want: '/srv/ts/f', from: 'file' },
  { name: 'cli + env, gate on', file: GATE, cli: { modelStore: 'c' }, env: { TS_MODEL_STORE: 'e' }, want: '/srv/ts/e', from: 'env' },
  { name: 'cli + env, gate off', cli: { modelStore: 'c' }, env: { TS_MODEL_STORE: 'e' }, want: '/srv/ts/c', from: 'cli' },
  { name: 'all three, gate on', file: { ...GATE, model_store: 'f' }, cli: { modelStore: 'c' }, env: { TS_MODEL_STORE: 'e' }, want: '/srv/ts/e', from: 'env' },
  { name: 'all three, gate off', file: { model_store: 'f' }, cli: { modelStore: 'c' }, env: { TS_MODEL_STORE: 'e' }, want: '/srv/ts/c', from: 'cli' },
  { name: 'absolute paths stay', cli: { modelStore: '/abs/store' }, want: '/abs/store', from: 'cli' },
];
for (const row of matrix) {
  test(`precedence: ${row.name}`, () => {
    const { config } = resolve(row.file, row.cli, row.env);
    assert.equal(config.modelStore, row.want);
    assert.equal(config.sources.modelStore.kind, row.from);
  });
}

test('precedence on load_models: --models joined with commas; env wins only with the gate', () => {
  assert.equal(resolve({ load_models: 'a.mar' }, { models: ['x=b.mar', 'c.mar'] }).config.loadModels, 'x=b.mar,c.mar');
  assert.equal(resolve({ ...GATE, load_models: 'a.mar' }, { models: ['b.mar'] }, { TS_LOAD_MODELS: 'all' }).config.loadModels, 'all');
  assert.equal(resolve({ load_models: 'a.mar' }, {}, { TS_LOAD_MODELS: 'all' }).config.loadModels, 'a.mar');
});

test('precedence on a file-only key: env (gated) > file > default', () => {
  assert.equal(resolve({ job_queue_size: '7' }).config.jobQueueSize, 7);
  assert.equal(resolve({ ...GATE, job_queue_size: '7' }, {}, { TS_JOB_QUEUE_SIZE: '9' }).config.jobQueueSize, 9);
  assert.equal(resolve({ job_queue_size: '7' }, {}, { TS_JOB_QUEUE_SIZE: '9' }).config.jobQueueSize, 7);
  assert.deepEqual(resolve({ ...GATE }, {}, { TS_JOB_QUEUE_SIZE: '9' }).config.sources.jobQueueSize, { kind: 'env', name: 'TS_JOB_QUEUE_SIZE' });
});

test('the gate itself comes only from the file: TS_ENABLE_ENVVARS_CONFIG does not open it', () => {
  const { config } = resolve({}, {}, { TS_ENABLE_ENVVARS_CONFIG: 'true', TS_JOB_QUEUE_SIZE: '9' });
  assert.equal(config.enableEnvvarsConfig, false);
  assert.equal(config.jobQueueSize, 100);
});

// ---- the two special flags (spec §2.3) ----

test('--enable-model-api can only enable', () => {
  assert.equal(resolve(undefined, { enableModelApi: true }).config.enableModelApi, true);
  assert.equal(resolve({ enable_model_api: 'false' }, { enableModelApi: true }).config.enableModelApi, true);
  assert.equal(resolve({ enable_model_api: 'true' }, {}).config.enableModelApi, true);
  assert.equal(resolve({ enable_model_api: 'true' }, { enableModelApi: false }).config.enableModelApi, true);
  assert.deepEqual(resolve({ enable_model_api: 'false' }, { enableModelApi: true }).config.sources.enableModelApi, { kind: 'cli', flag: '--enable-model-api' });
});

test('TS_ENABLE_MODEL_API wins over the flag and the file when the gate is on', () => {
  assert.equal(resolve({ ...GATE }, { enableModelApi: true }, { TS_ENABLE_MODEL_API: 'false' }).config.enableModelApi, false);
  assert.equal(resolve({ ...GATE, enable_model_api: 'false' }, {}, { TS_ENABLE_MODEL_API: 'true' }).config.enableModelApi, true);
  assert.equal(resolve({ enable_model_api: 'false' }, {}, { TS_ENABLE_MODEL_API: 'true' }).config.enableModelApi, false);
});

test('--disable-token-auth can only disable', () => {
  assert.equal(resolve(undefined, { disableTokenAuth: true }).config.disableTokenAuthorization, true);
  assert.equal(resolve({ disable_token_authorization: 'false' }, { disableTokenAuth: true }).config.disableTokenAuthorization, true);
  assert.equal(resolve({ disable_token_authorization: 'true' }, { disableTokenAuth: false }).config.disableTokenAuthorization, true);
  assert.equal(resolve({}, {}).config.disableTokenAuthorization, false);
});

test('TS_DISABLE_TOKEN_AUTHORIZATION wins over the flag when the gate is on (spec §2.3 example)', () => {
  const env = { TS_DISABLE_TOKEN_AUTHORIZATION: 'false' };
  assert.equal(resolve({ ...GATE }, { disableTokenAuth: true }, env).config.disableTokenAuthorization, false);
  assert.equal(resolve({}, { disableTokenAuth: true }, env).config.disableTokenAuthorization, true);
  assert.equal(resolve({ ...GATE }, {}, { TS_DISABLE_TOKEN_AUTHORIZATION: 'true' }).config.disableTokenAuthorization, true);
});

test('booleans follow Java Boolean.parseBoolean: only "true" (any case) is true', () => {
  assert.equal(resolve({ enable_model_api: 'TRUE' }).config.enableModelApi, true);
  assert.equal(resolve({ enable_model_api: 'yes' }).config.enableModelApi, false);
  assert.equal(resolve({ enable_model_api: '1' }).config.enableModelApi, false);
});

test('token lifetime env is TS_TOKEN_EXPIRATION_TIME_MIN (and decimal)', () => {
  assert.equal(resolve({ ...GATE }, {}, { TS_TOKEN_EXPIRATION_TIME_MIN: '0.25' }).config.tokenExpirationMin, 0.25);
  assert.equal(resolve({ ...GATE }, {}, { TS_TOKEN_EXPIRATION_MIN: '5' }).config.tokenExpirationMin, 5);
  assert.equal(resolve({ ...GATE }, {}, { TS_TOKEN_EXPIRATION_TIME_MIN: '2', TS_TOKEN_EXPIRATION_MIN: '5' }).config.tokenExpirationMin, 2);
  assert.equal(resolve({}, {}, { TS_TOKEN_EXPIRATION_TIME_MIN: '2' }).config.tokenExpirationMin, 60);
  assert.equal(resolve({ token_expiration_min: '1.5' }).config.tokenExpirationMin, 1.5);
});

test('TS_ALLOWED_URLS applies only with use_env_allowed_urls=true', () => {
  const env = { TS_ALLOWED_URLS: 'https://a/.*,file://.*' };
  assert.deepEqual(resolve({ use_env_allowed_urls: 'true', allowed_urls: 'x' }, {}, env).config.allowedUrls, ['https://a/.*', 'file://.*']);
  assert.deepEqual(resolve({ ...GATE, allowed_urls: 'x' }, {}, env).config.allowedUrls, ['x']);
  assert.deepEqual(resolve({ allowed_urls: 'x' }, {}, env).config.allowedUrls, ['x']);
});

test('TS_OPEN_INFERENCE_PROTOCOL is read without the gate: oip or true enable, anything else disables', () => {
  assert.equal(resolve({}, {}, { TS_OPEN_INFERENCE_PROTOCOL: 'oip' }).config.openInferenceProtocol, true);
  assert.equal(resolve({}, {}, { TS_OPEN_INFERENCE_PROTOCOL: 'true' }).config.openInferenceProtocol, true);
  assert.equal(resolve({}, {}, { TS_OPEN_INFERENCE_PROTOCOL: '' }).config.openInferenceProtocol, false);
  assert.equal(resolve({ ts_open_inference_protocol: 'false' }).config.openInferenceProtocol, false);
});

test('keys without env mapping ignore TS_<KEY> even with the gate', () => {
  const { config } = resolve({ ...GATE, models: '{"a":{}}' }, {}, { TS_MODELS: '{"b":{}}', TS_USE_ENV_ALLOWED_URLS: 'true', TS_METRIC_TIME_INTERVAL: '5' });
  assert.deepEqual(Object.keys(config.models), ['a']);
  assert.equal(config.useEnvAllowedUrls, false);
  assert.equal(config.metricTimeIntervalSec, 60);
});

// ---- values, errors, warnings ----

test('values are trimmed before parsing', () => {
  const { config } = resolve({ job_queue_size: ' 12  ', enable_model_api: 'true  ', inference_address: 'http://0.0.0.0:1 ' });
  assert.equal(config.jobQueueSize, 12);
  assert.equal(config.enableModelApi, true);
  assert.equal(config.inferenceAddress, 'http://0.0.0.0:1');
});

test('every invalid value is reported at once, naming key, value and source', () => {
  const problems = problemsOf(() =>
    resolve({ ...GATE, job_queue_size: 'abc', max_request_size: '-3', inference_address: 'ftp://x' }, {}, { TS_DEFAULT_WORKERS_PER_MODEL: 'many' }),
  );
  assert.equal(problems.length, 4);
  assert.match(problems.find((p) => p.startsWith('job_queue_size'))!, /"abc" from \/srv\/ts\/config\.properties:2/);
  assert.match(problems.find((p) => p.startsWith('max_request_size'))!, /"-3" from \/srv\/ts\/config\.properties:3/);
  assert.match(problems.find((p) => p.startsWith('inference_address'))!, /"ftp:\/\/x" from \/srv\/ts\/config\.properties:4/);
  assert.match(problems.find((p) => p.startsWith('default_workers_per_model'))!, /"many" from env TS_DEFAULT_WORKERS_PER_MODEL/);
});

test('an invalid value from the environment names the env variable', () => {
  const problems = problemsOf(() => resolve({ ...GATE }, {}, { TS_JOB_QUEUE_SIZE: 'x' }));
  assert.deepEqual(problems.length, 1);
  assert.match(problems[0], /^job_queue_size: invalid value "x" from env TS_JOB_QUEUE_SIZE: /);
});

test('invalid per-model JSON and model_snapshot are reported', () => {
  const problems = problemsOf(() => resolve({ models: '{nope', model_snapshot: '[1]' }));
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^models: /);
  assert.match(problems[1], /^model_snapshot: invalid JSON/);
});

test('model_snapshot becomes config.modelSnapshot and is not a property', () => {
  const { config } = resolve({ model_snapshot: '{"name":"x.cfg","modelCount":0,"models":{}}' });
  assert.deepEqual(config.modelSnapshot, { name: 'x.cfg', modelCount: 0, models: {} });
  assert.equal(config.properties.model_snapshot, undefined);
});

test('unknown keys warn, ignored TorchServe keys warn once each, internal keys are silent', () => {
  const { warnings } = resolve({ foo: '1', vmargs: '-Xmx1g', number_of_netty_threads: '4', version: '0.12.0', tsConfigFile: 'x' });
  assert.equal(warnings.length, 3);
  const repeated = resolveConfig({
    file: { path: '/c', kind: 'file', entries: [{ key: 'vmargs', value: 'a', line: 1 }, { key: 'vmargs', value: 'b', line: 2 }] },
    cli: {},
    env: {},
    cwd: CWD,
  });
  assert.deepEqual(repeated.warnings, ['configuration key vmargs is not used by tsserve and is ignored (/c:2)']);
  assert.match(warnings[0], /unknown configuration key foo .*config\.properties:1/);
  assert.match(warnings[1], /vmargs is not used by tsserve/);
  assert.match(warnings[2], /number_of_netty_threads is not used by tsserve/);
});

test('$$NAME$$ placeholders resolve from env (not gated); an unset one is an error', () => {
  assert.equal(resolve({ inference_address: 'http://127.0.0.1:$$PORT_X$$' }, {}, { PORT_X: '9' }).config.inferenceAddress, 'http://127.0.0.1:9');
  const problems = problemsOf(() => resolve({ model_store: '$$NOT_SET$$' }));
  assert.match(problems[0], /Invalid Environment Variable NOT_SET/);
});

test('https without key and certificate is refused', () => {
  const problems = problemsOf(() => resolve({ management_address: 'https://127.0.0.1:0' }));
  assert.match(problems[0], /management_address: https:\/\/127\.0\.0\.1:0 .* private_key_file and certificate_file/);
  assert.equal(resolve({ management_address: 'https://127.0.0.1:0', private_key_file: 'k', certificate_file: 'c' }).config.managementAddress, 'https://127.0.0.1:0');
  // A disabled metrics listener does not count.
  assert.equal(resolve({ metrics_address: 'https://x:1', enable_metrics_api: 'false' }).config.enableMetricsApi, false);
});

test('the config is deeply frozen and lists effective properties', () => {
  const { config } = resolve({ models: '{"m":{"1.0":{"batchSize":2}}}', job_queue_size: '5' }, { modelStore: 's', enableModelApi: true });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.models));
  assert.ok(Object.isFrozen((config.models as Record<string, Record<string, object>>).m['1.0']));
  assert.throws(() => {
    (config as { jobQueueSize: number }).jobQueueSize = 1;
  });
  assert.deepEqual(config.properties, {
    models: '{"m":{"1.0":{"batchSize":2}}}',
    job_queue_size: '5',
    model_store: '/srv/ts/s',
    enable_model_api: 'true',
  });
});

test('LOG_LOCATION and METRICS_LOCATION set the log directories', () => {
  const { config } = resolve(undefined, {}, { LOG_LOCATION: 'l', METRICS_LOCATION: '/m' });
  assert.equal(config.logDir, '/srv/ts/l');
  assert.equal(config.metricsLogDir, '/m');
});

test('makeConfig builds a Config from properties', () => {
  const c: Config = makeConfig({ job_queue_size: '3' });
  assert.equal(c.jobQueueSize, 3);
  assert.throws(() => makeConfig({ job_queue_size: 'x' }), ConfigError);
});

// ---- loadConfig: file location and launcher checks (spec §1.2, §2.1) ----

/** The model_snapshot line every real snapshot carries (spec §11), here with no models. */
const EMPTY_SNAPSHOT = 'model_snapshot={"name":"x.cfg","modelCount":0,"created":0,"models":{}}\n';

function write(file: string, text: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

test('file location: TS_CONFIG_FILE > --ts-config > newest snapshot > ./config.properties', (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'store'));
  const envFile = write(path.join(dir, 'env.properties'), 'job_queue_size=1\nmodel_store=store\n');
  const cliFile = write(path.join(dir, 'cli.properties'), 'job_queue_size=2\nmodel_store=store\n');
  write(path.join(dir, 'logs/config/20240101000000000-startup.cfg'), `job_queue_size=3\nmodel_store=store\n${EMPTY_SNAPSHOT}`);
  write(path.join(dir, 'logs/config/20240102000000000-snapshot.cfg'), `job_queue_size=4\nmodel_store=store\n${EMPTY_SNAPSHOT}`);
  write(path.join(dir, 'logs/config/not-a-snapshot.cfg'), 'job_queue_size=99\n');
  write(path.join(dir, 'config.properties'), 'job_queue_size=5\nmodel_store=store\n');
  const q = (cli: CliOptions, env: Env) => loadConfig({ cli, env, cwd: dir }).config;

  assert.equal(q({ tsConfig: cliFile }, { TS_CONFIG_FILE: envFile }).jobQueueSize, 1);
  assert.equal(q({ tsConfig: cliFile }, {}).jobQueueSize, 2);
  const snap = q({}, {});
  assert.equal(snap.jobQueueSize, 4);
  assert.equal(snap.configFile, path.join(dir, 'logs/config/20240102000000000-snapshot.cfg'));
  assert.equal(snap.sources.jobQueueSize.kind, 'snapshot');
  const local = q({ noConfigSnapshots: true }, {});
  assert.equal(local.jobQueueSize, 5);
  assert.equal(local.snapshotsEnabled, false);
  fs.rmSync(path.join(dir, 'config.properties'));
  assert.equal(q({ noConfigSnapshots: true, modelStore: 'store' }, {}).jobQueueSize, 100);
});

test('snapshots are looked up under LOG_LOCATION', (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'store'));
  write(path.join(dir, 'elsewhere/config/20240101000000000-shutdown.cfg'), `job_queue_size=8\nmodel_store=${path.join(dir, 'store')}\n${EMPTY_SNAPSHOT}`);
  assert.equal(loadConfig({ cli: {}, env: { LOG_LOCATION: path.join(dir, 'elsewhere') }, cwd: dir }).config.jobQueueSize, 8);
});

test('an unparsable newest snapshot falls back to the previous one with a warning', (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'store'));
  write(path.join(dir, 'logs/config/20240101000000000-startup.cfg'), `job_queue_size=3\nmodel_store=store\n${EMPTY_SNAPSHOT}`);
  write(path.join(dir, 'logs/config/20240102000000000-snapshot.cfg'), 'job_queue_size=4\nmodel_snapshot={broken\n');
  write(path.join(dir, 'logs/config/20240103000000000-snapshot.cfg'), 'bad=\\uZZZZ\n');
  const { config, warnings } = loadConfig({ cli: {}, env: {}, cwd: dir });
  assert.equal(config.jobQueueSize, 3);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /20240103000000000-snapshot\.cfg is unreadable/);
  assert.match(warnings[1], /20240102000000000-snapshot\.cfg is unreadable/);
});

test('a newest snapshot without model_snapshot (empty, cut off) or with a non-object one falls back too', (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'store'));
  write(path.join(dir, 'logs/config/20240101000000000-startup.cfg'), `job_queue_size=3\nmodel_store=store\n${EMPTY_SNAPSHOT}`);
  write(path.join(dir, 'logs/config/20240102000000000-snapshot.cfg'), 'job_queue_size=4\nmodel_snapshot=[1]\n');
  write(path.join(dir, 'logs/config/20240103000000000-snapshot.cfg'), 'job_queue_size=5\nmodel_store=store\n');
  write(path.join(dir, 'logs/config/20240104000000000-shutdown.cfg'), '');
  const { config, warnings } = loadConfig({ cli: {}, env: {}, cwd: dir });
  assert.equal(config.jobQueueSize, 3);
  assert.equal(config.configFile, path.join(dir, 'logs/config/20240101000000000-startup.cfg'));
  assert.deepEqual(
    warnings.map((w) => w.replace(/^snapshot .*\/(\d{17}-\w+\.cfg) /, '$1 ')),
    [
      '20240104000000000-shutdown.cfg is unreadable (no model_snapshot property); trying the previous one',
      '20240103000000000-snapshot.cfg is unreadable (no model_snapshot property); trying the previous one',
      '20240102000000000-snapshot.cfg is unreadable (model_snapshot is not a JSON object); trying the previous one',
    ],
  );
});

test('launcher checks and their messages (spec §1.2)', (t) => {
  const dir = tmpdir(t);
  const p = (cli: CliOptions, env: Env = {}) => problemsOf(() => loadConfig({ cli, env, cwd: dir }));
  assert.deepEqual(p({ logConfig: 'nope.json', modelStore: 'x' }), [`--log-config file not found: ${path.join(dir, 'nope.json')}`]);
  assert.deepEqual(p({ tsConfig: 'nope.properties' }), [`--ts-config file not found: ${path.join(dir, 'nope.properties')}`]);
  assert.deepEqual(p({}, { TS_CONFIG_FILE: '/no/such/file' }), ['--ts-config file not found: /no/such/file']);
  assert.deepEqual(p({ modelStore: 'missing' }), [`--model-store directory not found: ${path.join(dir, 'missing')}`]);
  assert.deepEqual(p({}), ['Missing mandatory parameter --model-store']);
  write(path.join(dir, 'c.properties'), 'model_store=/no/store\n');
  assert.deepEqual(p({ tsConfig: 'c.properties' }), [`model_store directory not found: /no/store (${path.join(dir, 'c.properties')}:1)`]);
});

test('a syntax error in the config file names file and line', (t) => {
  const dir = tmpdir(t);
  write(path.join(dir, 'c.properties'), 'a=1\nb=\\u00zz\n');
  const problems = problemsOf(() => loadConfig({ cli: { tsConfig: 'c.properties', modelStore: '.' }, env: {}, cwd: dir }));
  assert.deepEqual(problems, [`${path.join(dir, 'c.properties')}:2: malformed \\uXXXX escape`]);
});

test('a bad value in a real file names its absolute path and line, together with a missing store', (t) => {
  const dir = tmpdir(t);
  write(path.join(dir, 'config.properties'), '# comment\n\njob_queue_size = lots\n');
  const problems = problemsOf(() => loadConfig({ cli: { noConfigSnapshots: true }, env: {}, cwd: dir }));
  assert.deepEqual(problems, [
    `job_queue_size: invalid value "lots" from ${path.join(dir, 'config.properties')}:3: must be an integer`,
    'Missing mandatory parameter --model-store',
  ]);
});

// ---- load_models ----

test('parseLoadModels: all, [name=]location, trimmed, URLs with = kept whole', () => {
  assert.equal(parseLoadModels('ALL'), 'all');
  assert.deepEqual(parseLoadModels(undefined), []);
  assert.deepEqual(parseLoadModels('a.mar, n=b.mar ,,dir=/x/dir,https://h/m.mar?x=1,n2=https://h/y.mar'), [
    { name: undefined, location: 'a.mar' },
    { name: 'n', location: 'b.mar' },
    { name: 'dir', location: '/x/dir' },
    { name: undefined, location: 'https://h/m.mar?x=1' },
    { name: 'n2', location: 'https://h/y.mar' },
  ]);
});
