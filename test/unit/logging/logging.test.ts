import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_LOG_CONFIG, LogConfigError, parseLogConfig } from '../../../src/logging/log-config.js';
import { createLogTimeFormatter, formatLine, formatLogTime, formatRecord } from '../../../src/logging/format.js';
import { createLoggers } from '../../../src/logging/create-loggers.js';

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsserve-log-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('log config: JSON form sets a global level and per-log overrides', () => {
  const c = parseLogConfig('{"level":"debug","loggers":{"access_log":{"file":null},"ts_log":{"format":"text","console":false,"level":"warn"}}}', 'x.json');
  assert.equal(c.model_log.level, 'debug');
  assert.equal(c.ts_log.level, 'warn');
  assert.equal(c.ts_log.format, 'text');
  assert.equal(c.ts_log.console, false);
  assert.equal(c.access_log.file, null);
  assert.equal(c.access_log.format, 'plain');
  assert.equal(c.ts_metrics.file, 'ts_metrics.log');
});

test('log config: properties form', () => {
  const c = parseLogConfig('# comment\nlevel=WARNING\nts_log.level=debug\naccess_log.file=off\nmodel_log.file=/var/log/m.log\nts_log.console=auto', 'x.properties');
  assert.equal(c.ts_log.level, 'debug');
  assert.equal(c.access_log.level, 'warn');
  assert.equal(c.access_log.file, null);
  assert.equal(c.model_log.file, '/var/log/m.log');
  assert.equal(c.ts_log.console, 'auto');
  assert.equal(parseLogConfig('ts_log.level=off', 'x').ts_log.level, 'silent');
});

test('log config: typos are errors naming the source', () => {
  assert.throws(() => parseLogConfig('{"loggers":{"tslog":{}}}', 'a.json'), (e: unknown) => e instanceof LogConfigError && /a\.json/.test(e.message));
  assert.throws(() => parseLogConfig('ts_log.levle=debug', 'b'), LogConfigError);
  assert.throws(() => parseLogConfig('ts_log.level=loud', 'b'), /ts_log\.level/);
  assert.throws(() => parseLogConfig('ts_log.format=xml', 'b'), LogConfigError);
  assert.throws(() => parseLogConfig('nodot=1', 'b'), /unknown key nodot/);
  assert.throws(() => parseLogConfig('{nope', 'c.json'), LogConfigError);
});

test('defaults are TorchServe file names', () => {
  assert.deepEqual(
    Object.values(DEFAULT_LOG_CONFIG).map((t) => t.file),
    ['ts_log.log', 'access_log.log', 'model_log.log', 'ts_metrics.log'],
  );
});

test('formatLogTime is log4j ISO8601 with a comma before milliseconds', () => {
  assert.match(formatLogTime(Date.now()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3}$/);
});

test('formatRecord: plain and text layouts, extras and errors', () => {
  const t = new Date(2024, 4, 30, 21, 41, 47, 98).getTime();
  assert.equal(formatRecord(JSON.stringify({ level: 30, time: t, msg: 'hello' }), 'plain', 'access_log'), '2024-05-30T21:41:47,098 - hello\n');
  assert.equal(
    formatRecord(JSON.stringify({ level: 40, time: t, name: 'ts_log', msg: 'x', model: 'm' }), 'text', 'ts_log'),
    '2024-05-30T21:41:47,098 [WARN ] ts_log - x {"model":"m"}\n',
  );
  assert.match(formatRecord(JSON.stringify({ level: 50, time: t, msg: 'boom', err: { message: 'm', stack: 'Error: m\n    at x' } }), 'text', 'ts_log'), /boom\nError: m\n {4}at x\n$/);
  assert.equal(formatRecord('not json', 'plain', 'x'), 'not json\n');
});

test('formatLine and the cached time formatter give the bytes formatRecord gives', () => {
  const fmt = createLogTimeFormatter();
  const base = new Date(2024, 4, 30, 21, 41, 47, 0).getTime();
  for (const ms of [base, base + 5, base + 999, base + 1000, base + 61_001, base + 86_400_000 + 7]) {
    assert.equal(fmt(ms), formatLogTime(ms));
    for (const layout of ['plain', 'text'] as const) {
      for (const msg of ['/127.0.0.1:1 "GET /a?b=\\"c\\" HTTP/1.1" 200 1 reqId=x', 'multi\nline \u00e9']) {
        assert.equal(formatLine(fmt(ms), 30, msg, layout, 'access_log'), formatRecord(JSON.stringify({ level: 30, time: ms, name: 'access_log', msg }), layout, 'access_log'));
      }
    }
  }
});

test('createLoggers: bare messages and structured records end up in the same layout', async (t) => {
  const dir = tmpdir(t);
  const out: string[] = [];
  const logs = createLoggers({
    logDir: dir,
    metricsLogDir: dir,
    interactive: true,
    console: { write: (s: string) => out.push(s) },
    logConfig: parseLogConfig('{"loggers":{"ts_metrics":{"format":"text"}}}', 'x.json'),
  });
  logs.access.info('/127.0.0.1:1 "GET / HTTP/1.1" 200 1 reqId=a');
  logs.access.info({ extra: 1 }, 'structured');
  logs.access.debug('below the level');
  logs.metrics.warn('Requests2XX.Count:1.0|#Level:Host');
  await logs.close();
  const access = fs.readFileSync(path.join(dir, 'access_log.log'), 'utf8').split('\n');
  assert.match(access[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{3} - \/127\.0\.0\.1:1 "GET \/ HTTP\/1\.1" 200 1 reqId=a$/);
  assert.match(access[1]!, /^\S+ - structured$/);
  assert.equal(access.length, 3);
  assert.match(fs.readFileSync(path.join(dir, 'ts_metrics.log'), 'utf8'), /^\S+ \[WARN \] ts_metrics - Requests2XX\.Count:1\.0\|#Level:Host\n$/);
  // The console (interactive) shows access lines in the text layout.
  assert.ok(out.some((l) => /^\S+ \[INFO \] access_log - \/127\.0\.0\.1:1 "GET \/ HTTP\/1\.1" 200 1 reqId=a\n$/.test(l)), out.join(''));
});

test('createLoggers: lines reach the file by the end of the event-loop turn, or at flushSync', async (t) => {
  const dir = tmpdir(t);
  const logs = createLoggers({ logDir: dir, metricsLogDir: dir, interactive: false });
  t.after(() => logs.close());
  const file = path.join(dir, 'access_log.log');
  const read = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  logs.access.info('one');
  logs.access.info('two');
  await new Promise((r) => setImmediate(r));
  assert.match(read(), /- one\n.* - two\n$/);
  logs.access.info('three');
  logs.flushSync();
  assert.match(read(), / - three\n$/);
  logs.server.info({ a: 1 }, 'json line');
  await new Promise((r) => setImmediate(r));
  assert.match(fs.readFileSync(path.join(dir, 'ts_log.log'), 'utf8'), /"msg":"json line"/);
});

test('formatRecord: worker output names the worker where log4j prints the thread', () => {
  const t = new Date(2024, 4, 30, 21, 41, 47, 98).getTime();
  const rec = { level: 30, time: t, name: 'model_log', model: 'iris', version: '1.0', workerId: '9000', worker: 'W-9000-iris_1.0', stream: 'stdout', reqId: 'r1', msg: 'hi' };
  assert.equal(
    formatRecord(JSON.stringify(rec), 'text', 'model_log'),
    '2024-05-30T21:41:47,098 [INFO ] W-9000-iris_1.0-stdout model_log - hi {"model":"iris","version":"1.0","workerId":"9000","reqId":"r1"}\n',
  );
  const { stream: _s, ...noStream } = rec;
  assert.match(formatRecord(JSON.stringify({ ...noStream, level: 50 }), 'text', 'model_log'), /\[ERROR\] W-9000-iris_1\.0 model_log - hi /);
});

test('createLoggers writes the four files, access lines in plain layout, secrets redacted', async (t) => {
  const dir = tmpdir(t);
  const logs = createLoggers({ logDir: path.join(dir, 'logs'), metricsLogDir: path.join(dir, 'metrics'), interactive: false });
  logs.server.info({ authorization: 'Bearer secret', model: 'm' }, 'model loaded');
  logs.server.info({ headers: { authorization: 'Bearer s2' }, token: 't', password: 'p' }, 'x');
  logs.server.info({ req: { headers: { authorization: 'Bearer s3', cookie: 'sid=s4' } }, user: { secret: 'v5' }, upstream: { authorization: 'v6' } }, 'y');
  logs.access.info('/127.0.0.1:1 "GET / HTTP/1.1" 200 1');
  logs.model.info('worker says hi');
  logs.metrics.info('Requests2XX.Count:1|#Level:Host');
  logs.server.debug('not at info');
  await logs.close();
  const ts = fs.readFileSync(path.join(dir, 'logs/ts_log.log'), 'utf8');
  assert.doesNotMatch(ts, /Bearer secret|s2|"t"|"p"|s3|s4|v5|v6/);
  assert.match(ts, /"msg":"model loaded"/);
  assert.doesNotMatch(ts, /not at info/);
  assert.match(fs.readFileSync(path.join(dir, 'logs/access_log.log'), 'utf8'), /^\d{4}-\d\d-\d\dT[\d:]+,\d{3} - \/127\.0\.0\.1:1 "GET \/ HTTP\/1\.1" 200 1\n$/);
  assert.match(fs.readFileSync(path.join(dir, 'logs/model_log.log'), 'utf8'), /worker says hi/);
  assert.match(fs.readFileSync(path.join(dir, 'metrics/ts_metrics.log'), 'utf8'), / - Requests2XX\.Count:1\|#Level:Host\n$/);
});

test('createLoggers: console only when interactive (auto) or forced, per the log config', async (t) => {
  const dir = tmpdir(t);
  let out = '';
  const sink = { write: (s: string) => (out += s) };
  const quiet = createLoggers({ logDir: dir, metricsLogDir: dir, interactive: false, console: sink });
  quiet.server.info('hidden');
  await quiet.close();
  assert.equal(out, '');

  const loud = createLoggers({ logDir: dir, metricsLogDir: dir, interactive: true, console: sink, colorize: false });
  loud.server.info({ model: 'm' }, 'shown');
  loud.access.info('/127.0.0.1:1 "GET / HTTP/1.1" 200 1');
  loud.model.info('model line stays in its file');
  await loud.close();
  assert.match(out, /shown/);
  assert.match(out, /\[INFO \] access_log - \/127\.0\.0\.1:1/);
  assert.doesNotMatch(out, /model line/);

  out = '';
  const cfg = parseLogConfig('model_log.console=true\nts_log.file=off\naccess_log.level=off', 'x');
  const custom = createLoggers({ logDir: path.join(dir, 'c'), metricsLogDir: path.join(dir, 'c'), interactive: false, console: sink, logConfig: cfg, colorize: false });
  custom.model.info('model to console');
  custom.server.info('server nowhere');
  custom.access.info('access nowhere');
  await custom.close();
  assert.match(out, /model to console/);
  assert.equal(fs.existsSync(path.join(dir, 'c/ts_log.log')), false);
  assert.equal(fs.existsSync(path.join(dir, 'c/access_log.log')), false);
});

test('createLoggers fails clearly when the log directory cannot be created', (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'file'), '');
  assert.throws(() => createLoggers({ logDir: path.join(dir, 'file/logs'), metricsLogDir: dir, interactive: false }), /cannot write log directory .*file\/logs/);
});
